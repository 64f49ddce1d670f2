//! patrol on the kit's runtime: a graceful stop publishes every fact it wrote while positions
//! were pouring in, and its own metrics parse with a real parser.

use chrono::Duration;
use civicgrid_dev::testing::{self, metrics};
use civicgrid_kit::clock::Clock;

use crate::helpers::*;

#[tokio::test]
async fn a_graceful_stop_leaves_no_fact_unpublished() {
    let app = spawn_app(Clock::manual(monday_8am())).await;
    app.setup(line_route("r1", false)).await;
    let t0 = monday_8am();
    let s = app.schedule("r1", t0, t0 + Duration::hours(4)).await;
    app.start(&s.id, &member("m1")).await;
    app.set_time(t0 + Duration::hours(2));
    // m1 walks back and forth along the line (entries, exits, check-ins) while shifts are
    // scheduled, then patrol stops while it works through them.
    for lap in 0..4 {
        let start = t0 + Duration::minutes(1 + 20 * lap);
        let (from, to) = if lap % 2 == 0 { (-100.0, 1100.0) } else { (1100.0, -100.0) };
        app.publish_all(&walk("m1", start, 5, from, to, 60)).await;
    }
    for h in 0..20 {
        app.schedule("r1", t0 + Duration::hours(3 + h), t0 + Duration::hours(4 + h)).await;
    }
    testing::eventually("some positions", || async { app.stored_positions().await >= 10 }).await;
    app.shutdown.cancel();
    app.handle.await.expect("join").expect("patrol stopped cleanly");
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM patrol.outbox").fetch_one(&app.db).await.unwrap();
    assert_eq!(left, 0, "the drain left outbox rows unpublished");
    let published = testing::stream::messages(&app.js, PATROL_STREAM).await.len();
    let scheduled = 21;
    assert!(published > scheduled, "{published} facts published");
}

#[tokio::test]
async fn patrols_metrics_are_scraped() {
    let app = spawn_app(Clock::manual(monday_8am())).await;
    app.setup(line_route("r1", false)).await;
    let t0 = monday_8am();
    let s = app.schedule("r1", t0, t0 + Duration::hours(4)).await;
    app.start(&s.id, &member("m1")).await;
    app.publish_fix(&fix("m1", t0, at(0.0, 0.0))).await;
    app.publish_fix(&fix("m1", t0 - Duration::hours(30), at(0.0, 0.0))).await;
    testing::eventually("the stale fix counted", || async {
        metrics::scrape(app.metrics_addr).await.value("civicgrid_patrol_fixes_rejected_total", &[("reason", "stale")])
            == Some(1.0)
    })
    .await;
    let m = metrics::scrape(app.metrics_addr).await;
    assert_eq!(m.value("civicgrid_patrol_fixes_accepted_total", &[]), Some(1.0));
    assert_eq!(m.value("civicgrid_patrol_active_shifts", &[]), Some(1.0));
    assert_eq!(m.value("civicgrid_patrol_members_online", &[]), Some(1.0));
    assert_eq!(m.value("civicgrid_patrol_check_ins_total", &[("method", "inside")]), Some(1.0));
    assert_eq!(m.family("civicgrid_patrol_ingest_batch_seconds").expect("the batch histogram").kind, "histogram");
    assert_eq!(m.value("civicgrid_consumer_lag", &[("durable", "patrol-positions")]), Some(0.0));
    app.stop().await;
}
