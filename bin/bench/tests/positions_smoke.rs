//! The CI smoke of `civicgrid-bench positions`: patrol in-process with a tiny world (20 routes,
//! 100 members, 1,000 fixes) on a nats-server and PostgreSQL of its own. It holds only that the
//! run completes, every fix is accepted and the figures are there, never a timing (design §13:
//! benchmarks are programs that print figures, not timed tests).

mod common;

use std::time::Duration;

#[test]
fn positions_are_ingested_with_their_figures() {
    let figures = common::smoke("positions", false, &[], Duration::from_secs(240)).figures;
    let fixes = figures["fixes"].as_u64().unwrap_or(0);
    assert_eq!(fixes, 1000, "{figures:#}");
    assert_eq!(figures["accepted"].as_u64(), Some(fixes), "every fix accepted: {figures:#}");
    assert!(figures["check_ins"].as_u64().is_some_and(|n| n > 0), "check-ins were made: {figures:#}");
    assert!(figures["ingest_per_sec"].as_f64().is_some_and(|r| r > 0.0), "{figures:#}");
    assert!(figures["batches"].as_u64().is_some_and(|n| n > 0), "{figures:#}");
}
