//! The tree's shape: which townships each county has, their names and seats.

use crate::model::{Level, RegionKind};
use crate::testutil::{Side, full, micro, ring, side, small};

#[test]
fn chuanhui_has_its_subdistricts_and_townships() {
    let city = small();
    let townships: Vec<(&str, &str)> = city.children("411602").map(|r| (&r.code[6..], r.name.as_str())).collect();
    assert_eq!(
        townships,
        [
            ("001", "陈州街道"),
            ("002", "人和街道"),
            ("003", "小桥街道"),
            ("004", "荷花路街道"),
            ("005", "七一路街道"),
            ("006", "城北街道"),
            ("007", "文昌街道"),
            ("008", "搬口街道"),
            ("009", "华耀城街道"),
            ("010", "金海路街道"),
            ("200", "许湾乡"),
            ("201", "李埠口乡"),
        ]
    );
    // The shipped communities come first, the generated ones follow them.
    let chenzhou: Vec<&str> = city.children("411602001").map(|r| r.name.as_str()).take(3).collect();
    assert_eq!(chenzhou, ["七一路社区", "文昌社区", "南关社区"]);
    assert_eq!(city.children("411602001").nth(3).map(|r| &r.code[9..]), Some("004"));
    // The district's seat is in its first subdistrict.
    let seat = micro(city.region("411602").and_then(|r| r.seat).unwrap());
    assert_eq!(side(&ring(&city.region("411602001").unwrap().boundary), seat), Side::Inside);
}

#[test]
fn counties_have_a_seat_town_and_towns_named_after_villages() {
    let city = full();
    for county in city.at_level(Level::County) {
        let townships: Vec<_> = city.children(&county.code).collect();
        let seat = micro(county.seat.unwrap());
        let at_seat = townships.iter().find(|t| side(&ring(&t.boundary), seat) == Side::Inside).unwrap();
        match county.kind {
            RegionKind::County => {
                assert_eq!((&at_seat.code[6..], at_seat.name.as_str()), ("100", "城关镇"), "{}", county.name);
                let communities = city.children(&at_seat.code).filter(|v| v.kind == RegionKind::Community).count();
                assert!(communities >= 2, "{}'s seat town", county.name);
            }
            _ => assert_eq!(at_seat.kind, RegionKind::Subdistrict, "{}", county.name),
        }
        let subdistricts = townships.iter().filter(|t| t.kind == RegionKind::Subdistrict).count();
        let expected = crate::county_spec(&county.code).unwrap().subdistricts;
        assert_eq!(subdistricts, expected, "{}", county.name);
        for t in townships.iter().filter(|t| matches!(t.kind, RegionKind::Town | RegionKind::Township)) {
            let shipped = crate::legacy::children(&t.code).next().is_some();
            if t.name == "城关镇" || shipped {
                continue;
            }
            let stem = crate::names::township_stem(&t.name);
            let first = city.children(&t.code).next().unwrap();
            assert_eq!(first.name, format!("{stem}村"), "{}'s namesake village", t.name);
            assert_eq!(&first.code[9..], "200");
        }
    }
}

#[test]
fn grids_are_named_after_their_township_and_village() {
    let city = small();
    for g in city.grids.iter().step_by(7) {
        let village = city.region(&g.village).unwrap();
        let township = city.region(village.parent.as_deref().unwrap()).unwrap();
        let n: usize = g.code[12..].parse().unwrap();
        assert_eq!(g.name, format!("{}{}第{n}网格", township.name, village.name));
    }
    assert_eq!(city.grids[0].name, "陈州街道七一路社区第1网格");
}
