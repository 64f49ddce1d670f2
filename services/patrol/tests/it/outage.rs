//! PostgreSQL lost while positions arrive: the batch is held, not acked, and retried in order
//! until the database is back; the engine reloads what it had applied in memory, and every fix
//! and check-in is stored exactly once.

use chrono::Duration;
use civicgrid_dev::testing::{self, metrics};
use civicgrid_kit::clock::Clock;

use crate::helpers::*;

#[tokio::test]
async fn positions_taken_while_the_database_is_away_are_applied_in_order_once_it_is_back() {
    let app = spawn_behind_proxy(Clock::manual(monday_8am())).await;
    app.setup(line_route("r1", false)).await;
    let t0 = monday_8am();
    let s = app.schedule("r1", t0, t0 + Duration::hours(4)).await;
    app.start(&s.id, &member("m1")).await;
    app.set_time(t0 + Duration::minutes(30));
    let proxy = app.proxy.as_ref().unwrap();
    proxy.cut();
    app.publish_all(&walk("m1", t0 + Duration::minutes(1), 10, -20.0, 20.0, 3)).await;
    // The first batch is taken (and held, which keeps the rest of the walk behind it); how soon
    // readiness notices the cut depends on the health loop's timing on a loaded machine, and
    // how many fixes the first batch gathers depends on how fast they were published, so
    // neither is what this test waits for.
    testing::eventually_within(
        std::time::Duration::from_secs(60),
        "the batch taken while the database is away",
        || async {
            let m = metrics::scrape(app.metrics_addr).await;
            m.value("civicgrid_consumer_deliveries_total", &[("durable", "patrol-positions")]) >= Some(1.0)
        },
    )
    .await;
    assert_eq!(app.stored_positions().await, 0);
    proxy.restore();
    app.wait_for_fact(&s.id, "checkpoint-checked-in", "the redelivered fixes check a in").await;
    testing::eventually("the fixes stored", || async { app.stored_positions().await == 3 }).await;
    // A later fix continues the same track: the engine reloaded the last fix it had stored.
    app.publish_fix(&fix("m1", t0 + Duration::minutes(2), at(60.0, 0.0))).await;
    testing::eventually("the next fix stored", || async { app.stored_positions().await == 4 }).await;
    let names = app.fact_names(&s.id).await;
    assert_eq!(names.iter().filter(|f| *f == "checkpoint-checked-in").count(), 1, "{names:?}");
    app.stop().await;
}
