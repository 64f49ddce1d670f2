//! Who takes a case: the organisation that serves its place and type, and the mediator there
//! with the right specialty and the fewest open cases.

use std::collections::HashMap;

use civicgrid_proto::v1::{DisputeType, RegionPath};

/// What kind of committee an organisation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrgKind {
    /// A village or community committee (村/居民委员会调解委员会).
    Village,
    /// A township or subdistrict committee (乡镇/街道调解委员会).
    Township,
    /// A professional committee (行业性、专业性调解委员会) of a county or city.
    Professional,
}

impl OrgKind {
    /// The kind of its name in organisations.toml.
    pub fn parse(name: &str) -> Option<OrgKind> {
        match name {
            "village" => Some(OrgKind::Village),
            "township" => Some(OrgKind::Township),
            "professional" => Some(OrgKind::Professional),
            _ => None,
        }
    }

    /// Its name in organisations.toml and answers.
    pub fn as_str(self) -> &'static str {
        match self {
            OrgKind::Village => "village",
            OrgKind::Township => "township",
            OrgKind::Professional => "professional",
        }
    }
}

/// An organisation as assignment sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Org {
    /// Its id.
    pub id: String,
    /// Its kind.
    pub kind: OrgKind,
    /// The region it serves: a village, township, county or city code.
    pub region_code: String,
    /// The dispute types a professional committee takes.
    pub specialties: Vec<DisputeType>,
}

/// A mediator as assignment sees them.
#[derive(Debug, Clone, PartialEq)]
pub struct MediatorRef {
    /// Their id.
    pub id: String,
    /// Their organisation.
    pub organisation_id: String,
    /// Their specialties.
    pub specialties: Vec<DisputeType>,
    /// Whether they take new cases.
    pub available: bool,
}

fn serves(org: &Org, path: &RegionPath) -> bool {
    civicgrid_kit::region::contains(&org.region_code, path)
}

/// The organisation for a dispute of `kind` at `path`: a professional committee serving the
/// place that takes the type; else the village committee; else the township committee.
pub fn organisation_for<'a>(orgs: &'a [Org], path: &RegionPath, kind: DisputeType) -> Option<&'a Org> {
    let professional = orgs
        .iter()
        .filter(|o| o.kind == OrgKind::Professional && o.specialties.contains(&kind) && serves(o, path))
        // The nearest: the longest region code.
        .max_by(|a, b| a.region_code.len().cmp(&b.region_code.len()).then_with(|| b.id.cmp(&a.id)));
    professional
        .or_else(|| {
            orgs.iter()
                .find(|o| o.kind == OrgKind::Village && !path.village.is_empty() && o.region_code == path.village)
        })
        .or_else(|| {
            orgs.iter()
                .find(|o| o.kind == OrgKind::Township && !path.township.is_empty() && o.region_code == path.township)
        })
}

/// The mediator of organisation `org` for a dispute of `kind`: among the available ones, those
/// with the specialty first, then the fewest open cases (`load`), then the id.
pub fn mediator_for<'a>(
    mediators: &'a [MediatorRef],
    org: &str,
    kind: DisputeType,
    load: &HashMap<String, i64>,
) -> Option<&'a MediatorRef> {
    mediators.iter().filter(|m| m.organisation_id == org && m.available).min_by(|a, b| {
        let key = |m: &MediatorRef| (!m.specialties.contains(&kind), load.get(&m.id).copied().unwrap_or(0));
        key(a).cmp(&key(b)).then_with(|| a.id.cmp(&b.id))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(village: &str) -> RegionPath {
        civicgrid_kit::region::path_of(village).unwrap()
    }

    fn org(id: &str, kind: OrgKind, region: &str, specialties: &[DisputeType]) -> Org {
        Org { id: id.into(), kind, region_code: region.into(), specialties: specialties.to_vec() }
    }

    fn orgs() -> Vec<Org> {
        vec![
            org("411602001-tw", OrgKind::Township, "411602001", &[]),
            org("411602001001-cw", OrgKind::Village, "411602001001", &[]),
            org("411602-labour", OrgKind::Professional, "411602", &[DisputeType::Labour]),
            org("411600-medical", OrgKind::Professional, "411600", &[DisputeType::Medical]),
        ]
    }

    #[test]
    fn professional_then_village_then_township() {
        let o = orgs();
        let pick = |p: &RegionPath, k| organisation_for(&o, p, k).map(|o| o.id.as_str());
        assert_eq!(pick(&path("411602001001"), DisputeType::Neighbour), Some("411602001001-cw"));
        assert_eq!(pick(&path("411602001002"), DisputeType::Neighbour), Some("411602001-tw"));
        assert_eq!(pick(&path("411602001"), DisputeType::Family), Some("411602001-tw"));
        assert_eq!(pick(&path("411602001001"), DisputeType::Labour), Some("411602-labour"));
        assert_eq!(pick(&path("411602001001"), DisputeType::Medical), Some("411600-medical"));
        // Another county: its labour disputes have no professional committee here, and no
        // committee serves its villages.
        assert_eq!(pick(&path("411621001001"), DisputeType::Labour), None);
    }

    #[test]
    fn specialty_then_load_then_id() {
        let m = |id: &str, specialties: &[DisputeType], available: bool| MediatorRef {
            id: id.into(),
            organisation_id: "org".into(),
            specialties: specialties.to_vec(),
            available,
        };
        let ms = vec![
            m("a", &[], true),
            m("b", &[DisputeType::Family], true),
            m("c", &[DisputeType::Family], true),
            m("d", &[DisputeType::Family], false),
        ];
        let load: HashMap<String, i64> = [("b".to_string(), 3), ("c".to_string(), 1)].into();
        let pick = |kind, load: &HashMap<String, i64>| mediator_for(&ms, "org", kind, load).map(|m| m.id.as_str());
        assert_eq!(pick(DisputeType::Family, &load), Some("c"), "specialty, then the lighter load");
        assert_eq!(pick(DisputeType::Land, &load), Some("a"), "no specialist: the lightest load");
        assert_eq!(pick(DisputeType::Family, &HashMap::new()), Some("b"), "equal load: the id");
        assert_eq!(mediator_for(&ms, "other", DisputeType::Family, &load), None);
    }
}
