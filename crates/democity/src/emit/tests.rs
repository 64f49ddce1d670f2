//! The emitted files read back with copies of the services' own file structs, pass the checks
//! the services make on load, and contain every entry of the files the services ship today.

use std::collections::{HashMap, HashSet};

use serde::Deserialize;

use crate::testutil::{full, small};

// Copies of the services' file structs (dispatch: src/reference/{regions,departments}.rs;
// mediation: src/reference.rs), stricter where dispatch allows unknown fields.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegionsFile {
    version: String,
    #[serde(default)]
    regions: Vec<RawRegion>,
    #[serde(default)]
    grids: Vec<RawGrid>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegion {
    code: String,
    name: String,
    #[serde(default)]
    parent: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGrid {
    code: String,
    name: String,
    village: String,
    grid_worker: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DepartmentsFile {
    version: String,
    #[serde(default)]
    kinds: Vec<RawKind>,
    #[serde(default)]
    departments: Vec<RawDepartment>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKind {
    code: String,
    name: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDepartment {
    id: String,
    name: String,
    kind: String,
    region: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OrganisationsFile {
    version: String,
    #[serde(default)]
    organisations: Vec<OrganisationEntry>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct OrganisationEntry {
    id: String,
    name: String,
    kind: String,
    region: String,
    #[serde(default)]
    specialties: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MediatorsFile {
    version: String,
    #[serde(default)]
    mediators: Vec<MediatorEntry>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct MediatorEntry {
    id: String,
    name: String,
    organisation: String,
    #[serde(default)]
    specialties: Vec<String>,
    #[serde(default = "yes")]
    available: bool,
}

fn yes() -> bool {
    true
}

const SHIPPED_REGIONS: &str = include_str!("../../../../services/dispatch/data/regions.toml");
const SHIPPED_DEPARTMENTS: &str = include_str!("../../../../services/dispatch/data/departments.toml");
const SHIPPED_ORGANISATIONS: &str = include_str!("../../../../services/mediation/data/organisations.toml");
const SHIPPED_MEDIATORS: &str = include_str!("../../../../services/mediation/data/mediators.toml");

const DISPUTE_TYPES: [&str; 12] = [
    "neighbour",
    "family",
    "land",
    "debt",
    "damages",
    "labour",
    "consumer",
    "property_management",
    "traffic",
    "medical",
    "tenancy",
    "other",
];

fn parse<T: for<'de> Deserialize<'de>>(what: &str, text: &str) -> T {
    toml::from_str(text).unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// dispatch's version rule: 1 to 64 characters of A-Z a-z 0-9 . _ - +.
fn version_ok(v: &str) -> bool {
    (1..=64).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-+".contains(&b))
}

/// The checks dispatch's `Regions::from_toml` makes.
fn check_regions(f: &RegionsFile) {
    assert!(version_ok(&f.version), "{}", f.version);
    let mut levels = HashMap::new();
    for r in &f.regions {
        let level = match r.code.len() {
            6 if r.code.ends_with("00") => 0,
            6 => 1,
            9 => 2,
            12 => 3,
            _ => panic!("region {}: length", r.code),
        };
        assert!(!r.name.trim().is_empty());
        assert!(levels.insert(r.code.as_str(), level).is_none(), "region {} twice", r.code);
        let expected = match level {
            0 => None,
            1 => Some(format!("{}00", &r.code[..4])),
            _ => Some(r.code[..r.code.len() - 3].to_string()),
        };
        assert_eq!(r.parent, expected, "region {}", r.code);
    }
    for r in &f.regions {
        if let Some(p) = &r.parent {
            assert!(levels.contains_key(p.as_str()), "{}'s parent {p} is not listed", r.code);
        }
    }
    let mut grids = HashSet::new();
    for g in &f.grids {
        assert!(g.code.len() == 15 && g.code.bytes().all(|b| b.is_ascii_digit()), "grid {}", g.code);
        assert!(g.code.starts_with(&g.village), "grid {}", g.code);
        assert_eq!(levels.get(g.village.as_str()), Some(&3), "grid {}: its village", g.code);
        assert!(!g.name.trim().is_empty() && !g.grid_worker.trim().is_empty());
        assert!(grids.insert(g.code.as_str()), "grid {} twice", g.code);
    }
}

/// The checks dispatch's `Departments::from_toml` makes, against the regions.
fn check_departments(f: &DepartmentsFile, regions: &RegionsFile) {
    assert!(version_ok(&f.version));
    let kinds: HashSet<&str> = f.kinds.iter().map(|k| k.code.as_str()).collect();
    assert_eq!(kinds.len(), f.kinds.len());
    for k in &f.kinds {
        assert!((1..=32).contains(&k.code.len()));
        assert!(k.code.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'));
    }
    let levels: HashMap<&str, usize> = regions.regions.iter().map(|r| (r.code.as_str(), r.code.len())).collect();
    let (mut ids, mut serving) = (HashSet::new(), HashSet::new());
    for d in &f.departments {
        assert!((1..=64).contains(&d.id.len()));
        assert!(d.id.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(&b)), "{}", d.id);
        assert!(ids.insert(d.id.as_str()), "department {} twice", d.id);
        assert!(kinds.contains(d.kind.as_str()), "{}: kind", d.id);
        assert!(matches!(levels.get(d.region.as_str()), Some(6 | 9)), "{}: region {}", d.id, d.region);
        assert!(serving.insert((d.kind.as_str(), d.region.as_str())), "two {} serve {}", d.kind, d.region);
    }
}

/// The checks mediation's `ReferenceFiles::parse` makes, and that every region is listed.
fn check_mediation(orgs: &OrganisationsFile, meds: &MediatorsFile, regions: &RegionsFile) {
    let plain =
        |id: &str| (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    let listed: HashSet<&str> = regions.regions.iter().map(|r| r.code.as_str()).collect();
    let mut ids = HashSet::new();
    for o in &orgs.organisations {
        assert!(plain(&o.id) && ids.insert(o.id.as_str()), "organisation {}", o.id);
        let fits = match o.kind.as_str() {
            "village" => o.region.len() == 12,
            "township" => o.region.len() == 9,
            "professional" => !o.specialties.is_empty(),
            other => panic!("{}: kind {other}", o.id),
        };
        assert!(fits, "{}", o.id);
        assert!(listed.contains(o.region.as_str()), "{}: region {}", o.id, o.region);
        assert!(o.specialties.iter().all(|s| DISPUTE_TYPES.contains(&s.as_str())), "{}", o.id);
    }
    let mut mediator_ids = HashSet::new();
    for m in &meds.mediators {
        assert!(plain(&m.id) && mediator_ids.insert(m.id.as_str()), "mediator {}", m.id);
        assert!(ids.contains(m.organisation.as_str()), "{}: organisation {}", m.id, m.organisation);
        assert!(!m.specialties.is_empty() && m.specialties.iter().all(|s| DISPUTE_TYPES.contains(&s.as_str())));
    }
}

#[test]
fn the_emitted_files_load_as_the_services_load_them() {
    for city in [small(), full()] {
        let regions: RegionsFile = parse("regions", &city.dispatch_regions_toml());
        let departments: DepartmentsFile = parse("departments", &city.dispatch_departments_toml());
        let orgs: OrganisationsFile = parse("organisations", &city.mediation_organisations_toml());
        let meds: MediatorsFile = parse("mediators", &city.mediation_mediators_toml());
        for v in [&regions.version, &departments.version, &orgs.version, &meds.version] {
            assert_eq!(v, &city.version);
        }
        check_regions(&regions);
        check_departments(&departments, &regions);
        check_mediation(&orgs, &meds, &regions);
        assert_eq!(regions.regions.len(), city.regions.len());
        assert_eq!(regions.grids.len(), city.grids.len());
        assert_eq!(departments.departments.len(), city.departments.len());
        assert_eq!(orgs.organisations.len(), city.organisations.len());
        assert_eq!(meds.mediators.len(), city.mediators.len());
        // Every township and village has a committee with mediators.
        let with_mediators: HashSet<&str> = meds.mediators.iter().map(|m| m.organisation.as_str()).collect();
        for r in regions.regions.iter().filter(|r| r.code.len() >= 9) {
            let id = format!("{}-{}", r.code, if r.code.len() == 9 { "tw" } else { "cw" });
            assert!(with_mediators.contains(id.as_str()), "{id}");
        }
    }
}

#[test]
fn every_county_and_township_has_its_departments() {
    let city = full();
    let f: DepartmentsFile = parse("departments", &city.dispatch_departments_toml());
    assert_eq!(f.kinds.len(), 28);
    let mut per_region: HashMap<&str, usize> = HashMap::new();
    for d in &f.departments {
        assert_eq!(d.id, format!("{}-{}", d.region, d.kind));
        *per_region.entry(&d.region).or_default() += 1;
    }
    for r in &city.regions {
        let expected = match r.code.len() {
            6 if r.code.ends_with("00") => 0,
            6 => 28,
            9 => 17,
            _ => 0,
        };
        assert_eq!(per_region.get(r.code.as_str()).copied().unwrap_or(0), expected, "{}", r.code);
    }
    let huaiyang: Vec<&str> =
        f.departments.iter().filter(|d| d.region == "411603").map(|d| d.name.as_str()).take(4).collect();
    assert_eq!(
        huaiyang,
        ["淮阳区网格化服务管理中心", "淮阳区城市管理局", "淮阳区住房和城乡建设局", "周口市公安局淮阳区分局"]
    );
}

#[test]
fn the_shipped_entries_are_all_there_unchanged() {
    for city in [small(), full()] {
        let shipped: RegionsFile = parse("shipped regions", SHIPPED_REGIONS);
        let ours: RegionsFile = parse("regions", &city.dispatch_regions_toml());
        for r in &shipped.regions {
            assert!(ours.regions.contains(r), "region {r:?}");
        }
        for g in &shipped.grids {
            assert!(ours.grids.contains(g), "grid {g:?}");
        }
        let shipped: DepartmentsFile = parse("shipped departments", SHIPPED_DEPARTMENTS);
        let ours: DepartmentsFile = parse("departments", &city.dispatch_departments_toml());
        assert_eq!(ours.kinds, shipped.kinds);
        for d in &shipped.departments {
            assert!(ours.departments.contains(d), "department {d:?}");
        }
        let shipped: OrganisationsFile = parse("shipped organisations", SHIPPED_ORGANISATIONS);
        let ours: OrganisationsFile = parse("organisations", &city.mediation_organisations_toml());
        for o in &shipped.organisations {
            assert!(ours.organisations.contains(o), "organisation {o:?}");
        }
        let shipped: MediatorsFile = parse("shipped mediators", SHIPPED_MEDIATORS);
        let ours: MediatorsFile = parse("mediators", &city.mediation_mediators_toml());
        for m in &shipped.mediators {
            assert!(ours.mediators.contains(m), "mediator {m:?}");
        }
        // The shipped committees keep exactly their mediators.
        let of = |f: &MediatorsFile, org: &str| f.mediators.iter().filter(|m| m.organisation == org).count();
        for o in &parse::<OrganisationsFile>("shipped", SHIPPED_ORGANISATIONS).organisations {
            assert_eq!(of(&ours, &o.id), of(&shipped, &o.id), "{}", o.id);
        }
    }
}

#[test]
fn the_geometry_is_a_geojson_feature_collection() {
    let city = small();
    let text = city.geometry_geojson();
    assert!(!text.contains(": ") && !text.contains(", ") && !text.contains('\n'), "compact");
    let json: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(json["type"], "FeatureCollection");
    let features = json["features"].as_array().expect("features");
    assert_eq!(features.len(), city.regions.len() + city.grids.len());
    let boundaries = city.regions.iter().map(|r| &r.boundary).chain(city.grids.iter().map(|g| &g.boundary));
    let mut levels: HashMap<String, usize> = HashMap::new();
    for (f, boundary) in features.iter().zip(boundaries) {
        assert_eq!(f["type"], "Feature");
        let props = f["properties"].as_object().expect("properties");
        let keys: Vec<&str> = props.keys().map(String::as_str).collect();
        assert_eq!(keys.len(), 4, "{keys:?}");
        for key in ["code", "name", "level", "parent"] {
            assert!(props.contains_key(key), "{key}");
        }
        *levels.entry(props["level"].as_str().unwrap().to_string()).or_default() += 1;
        assert_eq!(f["geometry"]["type"], "Polygon");
        let ring = f["geometry"]["coordinates"][0].as_array().expect("a ring");
        assert_eq!(ring.len(), boundary.len() + 1);
        assert_eq!(ring.first(), ring.last(), "closed");
        for (p, q) in ring.iter().zip(boundary) {
            assert_eq!((p[0].as_f64(), p[1].as_f64()), (Some(q.lng), Some(q.lat)));
        }
    }
    assert_eq!(features[0]["properties"]["parent"], serde_json::Value::Null);
    assert_eq!(levels["city"], 1);
    assert_eq!(levels["county"], 2);
    assert_eq!(levels["grid"], city.grids.len());
    let grid = &features[city.regions.len()]["properties"];
    assert_eq!(grid["parent"], serde_json::Value::String(city.grids[0].village.clone()));
}

#[test]
fn files_start_with_a_comment_and_their_version() {
    let city = small();
    for text in [
        city.dispatch_regions_toml(),
        city.dispatch_departments_toml(),
        city.mediation_organisations_toml(),
        city.mediation_mediators_toml(),
    ] {
        assert!(text.starts_with("# "));
        let first = text.lines().find(|l| !l.starts_with('#')).unwrap();
        assert_eq!(first, format!("version = \"{}\"", city.version));
    }
}
