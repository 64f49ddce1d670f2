//! The CI smoke of `civicgrid-bench clock`: the warning ticker (dispatch's `Store::tick`) on
//! 1,000 open tasks, a few rounds of each phase and the first burst, on a nats-server and
//! PostgreSQL of its own. It holds only that the run completes and its figures are there,
//! never a timing (design §13: benchmarks are programs that print figures, not timed tests).

mod common;

use std::time::Duration;

#[test]
fn the_clock_completes_with_its_figures() {
    let figures = common::smoke("clock", false, &[], Duration::from_secs(240)).figures;
    let sizes = figures["sizes"].as_array().expect("sizes");
    assert_eq!(sizes.len(), 1, "{figures:#}");
    let size = &sizes[0];
    assert_eq!(size["tasks"].as_u64(), Some(1000), "{size:#}");
    assert_eq!(size["consistent"][0], size["consistent"][1], "loaded rows agree with warning_at: {size:#}");
    let phases = size["phases"].as_array().expect("phases");
    assert_eq!(phases.len(), 3, "nothing due, a few due, many due: {size:#}");
    for p in phases {
        assert!(p["rounds"].as_u64().is_some_and(|r| r > 0), "a phase without timed rounds: {p:#}");
        assert!(p["p99_ms"].is_number(), "{p:#}");
    }
    assert!(!figures["targets"].as_array().expect("targets").is_empty(), "the target lines are there");
}
