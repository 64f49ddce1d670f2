//! Retention of personal data: the housekeeping job erases the reporters' name, phone, masked
//! phone and account of events closed longer than `intake.pii_retention_days` (0 here: at its
//! next run), records when, and leaves the reporters of open events alone.

use civicgrid_proto::v1::{EventStatus, GetEventRequest, TaskStatus};

use crate::{
    bus::dispatch_stream,
    helpers::{eventually, report, spawn_app_with},
    rating::{resolve, task_fact},
};

/// (name sealed?, phone sealed?, masked phone, account id, erased?) of an event's first reporter.
async fn reporter_of(db: &sqlx::PgPool, event_id: &str) -> (bool, bool, String, String, bool) {
    sqlx::query_as(
        "SELECT r.name_sealed IS NOT NULL, r.phone_sealed IS NOT NULL, r.phone_masked, r.account_id, \
                r.erased_at IS NOT NULL \
         FROM reporters r JOIN reports rp ON rp.reporter_id = r.id WHERE rp.event_id = $1",
    )
    .bind(uuid::Uuid::parse_str(event_id).unwrap())
    .fetch_one(db)
    .await
    .unwrap()
}

#[tokio::test]
async fn the_reporters_of_closed_events_are_erased_after_the_retention_and_open_ones_kept() {
    let app = spawn_app_with("[intake]\npii_retention_days = 0\nhousekeeping_interval_secs = 1\n").await;
    dispatch_stream(&app).await;
    let mut client = app.client.clone();
    let closed = client.submit_event(report("ret-0001", "01.02.003", 32.98, 114.02)).await.unwrap().into_inner();
    let open = client.submit_event(report("ret-0002", "03.01.002", 33.50, 114.50)).await.unwrap().into_inner();
    let db = app.db().await;
    let kept = (true, true, "138****5678".to_string(), "app-user-1".to_string(), false);
    assert_eq!(reporter_of(&db, &closed.event_id).await, kept);

    resolve(&app, &closed.event_id).await;
    // Resolved is not closed: still kept after a run or two.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(reporter_of(&db, &closed.event_id).await, kept);
    task_fact(&app, &closed.event_id, "task-closed", TaskStatus::Closed, 4, EventStatus::Closed).await;
    eventually("the closed event's reporter erased", || {
        let (db, id) = (db.clone(), closed.event_id.clone());
        async move { reporter_of(&db, &id).await.4 }
    })
    .await;
    assert_eq!(reporter_of(&db, &closed.event_id).await, (false, false, String::new(), String::new(), true));
    assert_eq!(reporter_of(&db, &open.event_id).await, kept);
    // The event itself stays, without its reporter's masked phone.
    let event = client.get_event(GetEventRequest { event_id: closed.event_id.clone() }).await.unwrap().into_inner();
    assert_eq!(event.status, EventStatus::Closed as i32);
    assert!(event.reports.iter().all(|r| r.masked_phone.is_empty()), "{:?}", event.reports);
    app.stop().await;
}
