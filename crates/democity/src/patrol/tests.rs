use std::collections::{HashMap, HashSet};

use super::*;
use crate::geom::{boundary_distance, contains};
use crate::testutil::{full, not_simple, ring, small, twice_area_micro};

#[test]
fn key_places_lie_inside_their_villages() {
    let city = full();
    let mut ids = HashSet::new();
    for place in &city.patrol.key_places {
        assert!(ids.insert(&place.id), "{} twice", place.id);
        assert!(place.id.starts_with(&format!("kp-{}-", place.village)));
        let village = city.region(&place.village).expect("its village");
        assert_eq!(village.level, Level::Village);
        let shape = ring_xy(village);
        match &place.fence {
            Fence::Circle { center, radius_m } => {
                assert!((30.0..=150.0).contains(radius_m), "{}: r = {radius_m}", place.id);
                let c = Xy::from_lat_lng(*center);
                assert!(contains(&shape, c) && boundary_distance(&shape, c) >= *radius_m, "{}", place.id);
            }
            Fence::Polygon { ring: vertices } => {
                assert_eq!(vertices.len(), 4);
                let lattice = ring(vertices);
                assert_eq!(not_simple(&lattice), None);
                assert!(twice_area_micro(&lattice) > 0, "{}: counter-clockwise", place.id);
                for v in vertices {
                    let p = Xy::from_lat_lng(*v);
                    assert!(contains(&shape, p) && boundary_distance(&shape, p) > 1.0, "{}", place.id);
                }
            }
        }
    }
    // About two per community, fewer in the countryside, a few per township at least.
    let mut per_village: HashMap<&str, usize> = HashMap::new();
    for p in &city.patrol.key_places {
        *per_village.entry(&p.village).or_default() += 1;
    }
    for v in city.at_level(Level::Village) {
        let n = per_village.get(v.code.as_str()).copied().unwrap_or(0);
        if v.kind == crate::RegionKind::Community {
            assert!(n >= 2, "{} has {n} key places", v.name);
        }
    }
    for t in city.at_level(Level::Township) {
        let n: usize = city.children(&t.code).map(|v| per_village.get(v.code.as_str()).copied().unwrap_or(0)).sum();
        assert!(n >= 6, "{} has {n} key places", t.name);
    }
}

#[test]
fn teams_belong_to_units_and_hold_the_grid_workers() {
    let city = full();
    let departments: HashSet<&str> = city.departments.iter().map(|d| d.id.as_str()).collect();
    let teams: HashMap<&str, &PatrolTeam> = city.patrol.teams.iter().map(|t| (t.id.as_str(), t)).collect();
    assert_eq!(teams.len(), city.patrol.teams.len());
    assert_eq!(city.patrol.teams.len(), 10 + 2 * city.at_level(Level::Township).count());
    for team in &city.patrol.teams {
        assert!(departments.contains(team.unit.as_str()), "{}: unit {}", team.id, team.unit);
        assert!(!team.members.is_empty());
    }
    for county in city.at_level(Level::County) {
        let team = teams[format!("{}-patrol", county.code).as_str()];
        assert_eq!((team.kind, team.unit.clone()), (TeamKind::Professional, format!("{}-gongan", county.code)));
    }
    for township in city.at_level(Level::Township) {
        let team = teams[format!("{}-gridworkers", township.code).as_str()];
        assert_eq!(team.kind, TeamKind::GridWorkers);
        let members: HashSet<&str> = team.members.iter().map(|m| m.id.as_str()).collect();
        let expected: HashSet<&str> =
            city.grid_workers.iter().filter(|w| w.grid.starts_with(&township.code)).map(|w| w.id.as_str()).collect();
        assert_eq!(members, expected, "{}", township.name);
        assert_eq!(teams[format!("{}-volunteers", township.code).as_str()].kind, TeamKind::Volunteer);
    }
}

#[test]
fn routes_pass_five_to_fifteen_places_of_their_township() {
    let city = full();
    let places: HashMap<&str, &KeyPlace> = city.patrol.key_places.iter().map(|p| (p.id.as_str(), p)).collect();
    let teams: HashSet<&str> = city.patrol.teams.iter().map(|t| t.id.as_str()).collect();
    let hhmm = |s: &str| {
        let (h, m) = s.split_once(':').unwrap();
        assert!(h.len() == 2 && m.len() == 2);
        h.parse::<u32>().unwrap() * 60 + m.parse::<u32>().unwrap()
    };
    let mut per_township: HashMap<&str, usize> = HashMap::new();
    for route in &city.patrol.routes {
        *per_township.entry(&route.township).or_default() += 1;
        assert!(teams.contains(route.team.as_str()), "{}", route.id);
        assert!((5..=15).contains(&route.checkpoints.len()), "{}", route.id);
        let distinct: HashSet<&str> = route.checkpoints.iter().map(|c| c.key_place.as_str()).collect();
        assert_eq!(distinct.len(), route.checkpoints.len());
        let (start, end) = (hhmm(&route.shift.from), hhmm(&route.shift.to));
        let length = (end + 24 * 60 - start) % (24 * 60);
        for c in &route.checkpoints {
            let place = places[c.key_place.as_str()];
            assert!(place.village.starts_with(&route.township), "{}: {}", route.id, place.id);
            let (from, to) = (hhmm(&c.window.from), hhmm(&c.window.to));
            let offset = |t: u32| (t + 24 * 60 - start) % (24 * 60);
            assert!(offset(from) < offset(to) && offset(to) <= length, "{}: {:?}", route.id, c.window);
        }
    }
    for t in city.at_level(Level::Township) {
        assert!((2..=3).contains(&per_township.get(t.code.as_str()).copied().unwrap_or(0)), "{}", t.name);
    }
}

#[test]
fn patrol_serializes_and_reads_back() {
    let patrol = &small().patrol;
    let json = serde_json::to_string(patrol).unwrap();
    assert_eq!(&serde_json::from_str::<Patrol>(&json).unwrap(), patrol);
    assert!(json.contains(r#""shape":"circle""#) && json.contains(r#""shape":"polygon""#));
}
