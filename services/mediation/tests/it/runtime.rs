//! mediation on the kit's runtime: a graceful stop publishes every case it opened, and its own
//! metrics parse with a real parser.

use std::collections::HashSet;

use civicgrid_dev::testing::{self, metrics};
use civicgrid_kit::clock::Clock;

use crate::helpers::*;

#[tokio::test]
async fn a_graceful_stop_publishes_every_case_it_opened() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    for i in 0..150 {
        let village = if i % 2 == 0 { VILLAGE } else { OTHER_VILLAGE };
        app.publish_task(&task_assigned("06.01.002", JUSTICE_OFFICE, village)).await;
    }
    // Stop while the consumer works through the backlog.
    testing::eventually("the first cases", || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM mediation.cases").fetch_one(&app.db).await.unwrap_or(0) >= 10
    })
    .await;
    app.shutdown.cancel();
    app.handle.await.expect("join").expect("mediation stopped cleanly");
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM mediation.outbox").fetch_one(&app.db).await.unwrap();
    assert_eq!(left, 0, "the drain left outbox rows unpublished");
    let opened: HashSet<String> = sqlx::query_scalar::<_, uuid::Uuid>("SELECT id FROM mediation.cases")
        .fetch_all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|id| id.to_string())
        .collect();
    let published: HashSet<String> = testing::stream::messages(&app.js, MEDIATION_STREAM)
        .await
        .iter()
        .filter(|m| m.subject.starts_with("civicgrid.mediation.case-opened."))
        .filter_map(|m| m.headers.get("ce-subject").cloned())
        .collect();
    let missing: Vec<_> = opened.difference(&published).collect();
    assert!(missing.is_empty(), "{} cases opened but not published: {missing:?}", missing.len());
}

#[tokio::test]
async fn open_and_overdue_cases_are_scraped() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let org = department(ORGANISATION);
    let a = app.open(application(VILLAGE), &org).await;
    app.open(application(VILLAGE), &org).await;
    app.accept(&a.id, &org).await;
    // Past the acceptance deadline of the second (three working days: Thursday 19 November).
    app.set_time(local("2026-11-20 09:00"));
    let scrape = metrics::scrape(app.metrics_addr).await;
    let open = scrape.family("civicgrid_mediation_open_cases").expect("open cases by state");
    assert_eq!(open.kind, "gauge");
    assert_eq!(scrape.value("civicgrid_mediation_open_cases", &[("state", "applied")]), Some(1.0));
    assert_eq!(scrape.value("civicgrid_mediation_open_cases", &[("state", "accepted")]), Some(1.0));
    assert_eq!(scrape.value("civicgrid_mediation_open_cases", &[("state", "agreed")]), Some(0.0));
    assert_eq!(scrape.value("civicgrid_mediation_overdue_cases", &[]), Some(1.0));
    assert!(scrape.value("civicgrid_facts_published_total", &[("fact", "case-opened")]).unwrap_or(0.0) >= 1.0);
    app.stop().await;
}
