//! The plan follows its configuration: statistically over many draws, with tolerances of
//! several standard deviations, so the seeded tests are stable and a wrong weighting fails.

use std::{collections::HashMap, time::Duration};

use chrono::{TimeZone, Utc};
use civicgrid_democity::{City, Options};
use civicgrid_proto::v1::EventSource;
use rand::{SeedableRng, rngs::StdRng};

use super::plan::{Action, CORE_COUNTY, Item, Planner};
use super::{TrafficConfig, plan::hour_factor};

const STEP: Duration = Duration::from_millis(100);

/// 川汇区 (the urban core) and 扶沟县 (rural), enough for the weights and quick to generate.
fn city() -> City {
    City::generate_with(&Options::new(20261206).counties(&[CORE_COUNTY, "411621"])).unwrap()
}

fn items() -> Vec<Item> {
    ["01.01.001", "02.01.001", "02.01.002", "03.01.001", "06.01.001", "13.01.001"]
        .iter()
        .map(|c| Item { code: c.to_string(), name: format!("item {c}") })
        .collect()
}

fn planner(config: TrafficConfig) -> Planner {
    Planner::new(config, &city(), items()).unwrap()
}

fn config() -> TrafficConfig {
    TrafficConfig::new(60.0, STEP)
}

#[test]
fn items_follow_their_categorys_weight() {
    let mut c = config();
    c.repeat_share = 0.0;
    let weight = |code: &str| {
        c.category_weights.iter().find(|(k, _)| code.starts_with(k)).map_or(c.other_category_weight, |(_, w)| *w)
    };
    let expected: Vec<f64> = items().iter().map(|i| weight(&i.code)).collect();
    let total: f64 = expected.iter().sum();
    let mut p = planner(c);
    let mut rng = StdRng::seed_from_u64(1);
    let n = 40_000;
    let mut counts = vec![0usize; items().len()];
    for _ in 0..n {
        counts[p.next_report(&mut rng).item] += 1;
    }
    for (i, count) in counts.iter().enumerate() {
        let (share, want) = (*count as f64 / n as f64, expected[i] / total);
        assert!((share - want).abs() < 0.01, "{}: {share:.3} drawn, {want:.3} configured", items()[i].code);
    }
}

#[test]
fn sources_follow_their_weights() {
    let mut c = config();
    c.repeat_share = 0.0;
    let total: f64 = c.source_weights.iter().map(|(_, w)| w).sum();
    let wanted: Vec<(EventSource, f64)> = c.source_weights.iter().map(|(s, w)| (*s, w / total)).collect();
    let mut p = planner(c);
    let mut rng = StdRng::seed_from_u64(2);
    let n = 40_000;
    let mut counts: HashMap<EventSource, usize> = HashMap::new();
    for _ in 0..n {
        *counts.entry(p.next_report(&mut rng).source).or_default() += 1;
    }
    for (source, want) in wanted {
        let share = counts.get(&source).copied().unwrap_or(0) as f64 / n as f64;
        assert!((share - want).abs() < 0.01, "{source:?}: {share:.3} drawn, {want:.3} configured");
    }
}

#[test]
fn a_configured_share_of_reports_repeats_the_last_spot() {
    let mut p = planner(config());
    let mut rng = StdRng::seed_from_u64(3);
    let n = 20_000;
    let repeats = (0..n).filter(|_| p.next_report(&mut rng).repeat).count();
    assert!((repeats as f64 / n as f64 - 0.1).abs() < 0.01, "{repeats}");
}

#[test]
fn the_urban_core_and_communities_are_reported_from_more() {
    let city = city();
    let mut p = Planner::new(config(), &city, items()).unwrap();
    let mut rng = StdRng::seed_from_u64(4);
    let n = 40_000;
    let mut core = 0usize;
    let mut community = 0usize;
    for _ in 0..n {
        let r = p.next_report(&mut rng);
        let spot = &p.spots()[r.spot];
        core += usize::from(spot.grid.starts_with(CORE_COUNTY));
        let kind = city.region(&spot.village).map(|v| v.kind);
        community += usize::from(kind == Some(civicgrid_democity::RegionKind::Community));
    }
    let core_grids = city.grids.iter().filter(|g| g.code.starts_with(CORE_COUNTY)).count() as f64;
    let per_grid_core = core as f64 / core_grids;
    let per_grid_rural = (n - core) as f64 / (city.grids.len() as f64 - core_grids);
    // The core's grids weigh 4 against the countryside's 1 to 2 (its county seat's communities).
    assert!(per_grid_core > 2.0 * per_grid_rural, "core {per_grid_core:.2}/grid, rural {per_grid_rural:.2}/grid");
    let community_grids = city
        .grids
        .iter()
        .filter(|g| city.region(&g.village).map(|v| v.kind) == Some(civicgrid_democity::RegionKind::Community))
        .count() as f64;
    assert!(
        community as f64 / n as f64 > community_grids / city.grids.len() as f64,
        "communities' share of reports is above their share of grids"
    );
}

#[test]
fn every_report_names_a_grid_and_village_of_the_city() {
    let city = city();
    let mut p = Planner::new(config(), &city, items()).unwrap();
    let mut rng = StdRng::seed_from_u64(5);
    for _ in 0..5_000 {
        let r = p.next_report(&mut rng);
        let spot = &p.spots()[r.spot];
        assert!(city.grids.binary_search_by(|g| g.code.as_str().cmp(&spot.grid)).is_ok(), "{}", spot.grid);
        assert!(spot.grid.starts_with(&spot.village) && spot.grid.len() == 15, "{}", spot.grid);
        assert!(city.region(&spot.village).is_some() && city.region(&spot.grid[..9]).is_some(), "{}", spot.grid);
        assert!(city.region(&spot.grid[..6]).is_some(), "{}", spot.grid);
        assert!((spot.center.0 - r.point.0).abs() < 0.001 && (spot.center.1 - r.point.1).abs() < 0.001);
    }
}

#[test]
fn reports_come_faster_by_day_than_at_night() {
    let c = config();
    let p = planner(c.clone());
    let mut rng = StdRng::seed_from_u64(6);
    // 10:00 and 03:00 in 周口 (UTC+08:00).
    let (day, night) =
        (Utc.with_ymd_and_hms(2026, 12, 7, 2, 0, 0).unwrap(), Utc.with_ymd_and_hms(2026, 12, 6, 19, 0, 0).unwrap());
    let n = 20_000;
    let mean = |at, rng: &mut StdRng| (0..n).map(|_| p.next_gap(rng, at).as_secs_f64()).sum::<f64>() / n as f64;
    let (day_gap, night_gap) = (mean(day, &mut rng), mean(night, &mut rng));
    let want_day = 60.0 / (60.0 * hour_factor(&c, day));
    let want_night = 60.0 / (60.0 * hour_factor(&c, night));
    assert!((day_gap / want_day - 1.0).abs() < 0.05, "day: {day_gap:.2} s, want {want_day:.2}");
    assert!((night_gap / want_night - 1.0).abs() < 0.05, "night: {night_gap:.2} s, want {want_night:.2}");
    assert!(night_gap > 5.0 * day_gap);
}

#[test]
fn late_returned_reworked_and_dissatisfied_shares_match() {
    let p = planner(config());
    let mut rng = StdRng::seed_from_u64(7);
    let n = 20_000;
    let (mut late, mut returned, mut reworked, mut dissatisfied) = (0, 0, 0, 0);
    for _ in 0..n {
        let s = p.task_script(&mut rng, true, true);
        late += usize::from(s.late);
        returned += usize::from(s.returned);
        reworked += usize::from(s.reworked);
        dissatisfied += usize::from(s.dissatisfied);
        assert_eq!(s.steps.iter().filter(|x| x.action == Action::Return).count(), usize::from(s.returned));
        assert_eq!(s.steps.iter().filter(|x| x.action == Action::RejectVerification).count(), usize::from(s.reworked));
        assert_eq!(s.steps.last().map(|x| x.action), Some(Action::Rate { dissatisfied: s.dissatisfied }));
    }
    let c = config();
    for (what, count, want) in [
        ("late", late, c.late_share),
        ("returned", returned, c.returned_share),
        ("reworked", reworked, c.reworked_share),
        ("dissatisfied", dissatisfied, c.dissatisfied_share),
    ] {
        let share = count as f64 / n as f64;
        assert!((share - want).abs() < 0.012, "{what}: {share:.3} drawn, {want:.3} configured");
    }
}

#[test]
fn every_delay_falls_in_its_configured_range() {
    let c = config();
    let p = planner(c.clone());
    let mut rng = StdRng::seed_from_u64(8);
    let within = |d: Duration, r: &std::ops::Range<f64>| {
        let steps = d.as_secs_f64() / STEP.as_secs_f64();
        steps >= r.start - 1e-9 && steps <= r.end + 1e-9
    };
    for _ in 0..5_000 {
        let s = p.task_script(&mut rng, true, true);
        for step in &s.steps {
            let range = match step.action {
                Action::SignFor if s.late => &c.late_steps,
                Action::Return | Action::SignFor => &c.sign_for_steps,
                Action::Triage => &c.triage_steps,
                Action::Resolve => &c.handle_steps,
                Action::RejectVerification | Action::Verify => &c.verify_steps,
                Action::Close => &c.close_steps,
                Action::Rate { .. } => &c.rate_steps,
            };
            assert!(within(step.after, range), "{:?} after {:?}", step.action, step.after);
        }
    }
}

#[test]
fn only_lead_tasks_are_rated_and_a_reopened_one_is_not_reopened_again() {
    let p = planner(config());
    let mut rng = StdRng::seed_from_u64(9);
    for _ in 0..2_000 {
        let assisting = p.task_script(&mut rng, false, true);
        assert!(!assisting.dissatisfied && !assisting.steps.iter().any(|s| matches!(s.action, Action::Rate { .. })));
        assert!(!p.task_script(&mut rng, true, false).dissatisfied);
    }
    let mediated = p.mediated_script(&mut rng, true);
    let actions: Vec<Action> = mediated.steps.iter().map(|s| s.action).collect();
    assert_eq!(actions, [Action::Verify, Action::Close, Action::Rate { dissatisfied: false }]);
}

#[test]
fn the_same_seed_plays_the_same_city() {
    let (mut a, mut b) = (planner(config()), planner(config()));
    let (mut ra, mut rb) = (StdRng::seed_from_u64(10), StdRng::seed_from_u64(10));
    for _ in 0..100 {
        assert_eq!(a.next_report(&mut ra), b.next_report(&mut rb));
    }
}

#[test]
fn nothing_to_report_from_gives_no_plan() {
    assert!(Planner::new(config(), &city(), vec![]).is_none());
}
