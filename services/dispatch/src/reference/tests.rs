//! Checks of the shipped dataset: counts, and that the demo city can route every item.

use std::path::Path;

use chrono::NaiveDate;
use civicgrid_kit::region::{self, Level};

use super::*;
use crate::domain::routing::{self, WhistleLevel};

fn data() -> ReferenceData {
    ReferenceData::shipped().unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn the_shipped_data_loads_with_its_versions() {
    let d = data();
    let v = d.versions();
    for version in [&v.catalog, &v.regions, &v.departments, &v.calendar] {
        assert!(!version.is_empty());
    }
    // data/ holds three of the four files; the calendar is civicgrid-calendar's.
    let dir = std::env::temp_dir().join(format!("civicgrid-dispatch-reference-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for file in ["catalog.toml", "regions.toml", "departments.toml"] {
        std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join("data").join(file), dir.join(file)).unwrap();
    }
    std::fs::write(dir.join("calendar.toml"), civicgrid_calendar::SHIPPED_TOML).unwrap();
    let from_dir = ReferenceData::load_dir(&dir).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(from_dir.versions(), v);
    assert_eq!(from_dir.catalog.items().len(), d.catalog.items().len());
}

#[test]
fn a_missing_directory_is_a_read_error() {
    let err = ReferenceData::load_dir(Path::new("/nonexistent/civicgrid")).unwrap_err();
    assert!(matches!(err, ReferenceError::Read { .. }), "{err}");
    assert!(err.to_string().contains("catalog.toml"), "{err}");
}

#[test]
fn the_catalog_is_large_and_well_formed() {
    let d = data();
    let c = &d.catalog;
    assert!(c.categories().len() >= 20, "{} categories", c.categories().len());
    assert!(c.items().len() >= 300, "{} items", c.items().len());
    for item in c.items() {
        assert!(c.categories().contains_key(&item.category), "{}", item.code);
        // Item codes are what intake accepts: 2–4 groups of 2–4 digits.
        let groups: Vec<&str> = item.code.split('.').collect();
        assert!((2..=4).contains(&groups.len()) && groups.iter().all(|g| (2..=4).contains(&g.len())));
    }
    // Every category has items.
    for code in c.categories().keys() {
        assert!(c.items().iter().any(|i| &i.category == code), "category {code} has no items");
    }
    // All four time types and all three whistle levels are in use.
    for tt in crate::domain::calendar::TimeType::ALL {
        assert!(c.items().iter().any(|i| i.handle.time_type == tt || i.sign_for.time_type == tt), "{tt:?}");
    }
    for w in [WhistleLevel::GridSelf, WhistleLevel::Routine, WhistleLevel::Key] {
        assert!(c.items().iter().any(|i| i.whistle == w), "{w:?}");
    }
}

#[test]
fn the_demo_items_and_grids_exist() {
    let d = data();
    // The codes `civicgrid up` and the benchmarks report (crates/cli/src/demo.rs).
    let items = [
        ("01.01.001", "道路路面破损"),
        ("01.02.003", "井盖缺失"),
        ("01.03.002", "路灯不亮"),
        ("02.01.001", "占道经营"),
        ("02.03.004", "乱贴乱画小广告"),
        ("03.01.002", "垃圾桶满溢"),
        ("03.02.001", "建筑垃圾乱堆乱放"),
        ("04.01.003", "施工噪声扰民（夜间）"),
        ("05.02.001", "楼道堆放杂物"),
        ("06.01.002", "邻里纠纷"),
    ];
    for (code, name) in items {
        assert_eq!(d.catalog.item(code).map(|i| i.name.as_str()), Some(name), "{code}");
    }
    for grid in [
        "411602001001001",
        "411602001001002",
        "411602001002001",
        "411602002001001",
        "411602002003001",
        "411602003001001",
    ] {
        assert!(d.regions.grid(grid).is_some(), "{grid}");
    }
}

#[test]
fn regions_and_grids_form_a_tree() {
    let d = data();
    let r = &d.regions;
    assert_eq!(r.at_level(Level::City).map(|x| x.code.as_str()).collect::<Vec<_>>(), ["411600"]);
    assert_eq!(r.at_level(Level::County).map(|x| x.code.as_str()).collect::<Vec<_>>(), ["411602", "411621"]);
    assert!(r.at_level(Level::Township).count() >= 8);
    for village in r.at_level(Level::Village) {
        assert!(r.grids().iter().any(|g| g.village == village.code), "village {} has no grid", village.code);
    }
    for g in r.grids() {
        assert_eq!(region::path_of_grid(&g.code).map(|p| p.village), Ok(g.village.clone()));
        assert!(!g.grid_worker.is_empty());
    }
}

#[test]
fn every_department_kind_is_served_in_each_district() {
    let d = data();
    let directory = d.departments.directory();
    let mut used: Vec<&str> = Vec::new();
    for item in d.catalog.items() {
        used.push(&item.lead_kind);
        used.extend(item.assisting_kinds.iter().map(String::as_str));
    }
    used.sort_unstable();
    used.dedup();
    for county in d.regions.at_level(Level::County) {
        for kind in &used {
            assert!(directory.serving(kind, &county.code).is_some(), "no `{kind}` in {}", county.code);
        }
    }
    for township in d.regions.at_level(Level::Township) {
        assert!(directory.serving(routing::GRID_KIND, &township.code).is_some(), "{}", township.code);
    }
}

#[test]
fn every_item_routes_everywhere_in_the_demo_city() {
    let d = data();
    let directory = d.departments.directory();
    for village in d.regions.at_level(Level::Village) {
        let path = region::path_of(&village.code).unwrap();
        for item in d.catalog.items() {
            let route = routing::route(&item.route_rule(), &path, directory)
                .unwrap_or_else(|| panic!("{} does not route in {}", item.code, village.code));
            assert!(route.unserved.is_empty(), "{} in {}: {:?}", item.code, village.code, route.unserved);
            let lead = directory.get(&route.lead).unwrap();
            let expected_region = match item.whistle {
                WhistleLevel::Key => &path.county,
                _ => &path.township,
            };
            assert_eq!(&lead.region_code, expected_region, "{}", item.code);
            assert_eq!(lead.kind, item.lead_kind);
        }
    }
}

#[test]
fn the_calendar_has_2025_and_2026() {
    let d = data();
    let cal = &d.calendar;
    assert_eq!(cal.years(), vec![2025, 2026]);
    let days_off =
        |year: i32| cal.calendar.holidays().iter().filter(|d| d.format("%Y").to_string() == year.to_string()).count();
    let make_up = |year: i32| {
        cal.calendar.make_up_days().iter().filter(|d| d.format("%Y").to_string() == year.to_string()).count()
    };
    // 2025: 1 + 8 + 3 + 5 + 3 + 8 days off; 2026: 3 + 9 + 3 + 5 + 3 + 3 + 7.
    assert_eq!((days_off(2025), make_up(2025)), (28, 5));
    assert_eq!((days_off(2026), make_up(2026)), (33, 6));
    let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    assert!(!cal.calendar.is_working_day(day("2026-02-17")));
    assert!(cal.calendar.is_working_day(day("2026-02-28")));
    assert!(!cal.calendar.is_working_day(day("2025-10-08")));
    assert!(cal.calendar.is_working_day(day("2025-10-11")));
}
