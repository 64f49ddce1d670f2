//! The task-status consumer's batch path writes what applying the same facts one by one writes:
//! two twin events get the same facts (a lead moving twice, a late stale fact, a helper task, a
//! repeat), one through `store::apply_task_events` in one transaction, the other fact by fact
//! through `store::apply_task_event`; their `events`, `event_tasks` and `status_history` rows
//! must match. (The consumer itself, fed over NATS, is tested in `bus.rs`.)

use civicgrid_intake::store;
use civicgrid_proto::v1::{TaskEvent, TaskStatus};
use uuid::Uuid;

use crate::{
    bus::fact,
    helpers::{report, spawn_app},
};

fn facts_for(event_id: &str) -> Vec<TaskEvent> {
    let mut helper = fact(event_id, "task-assigned", TaskStatus::Resolved, 1);
    helper.task_id = "task-2".into();
    helper.lead = false;
    helper.department_id = "huanbao".into();
    vec![
        fact(event_id, "task-assigned", TaskStatus::Assigned, 1),
        helper,
        fact(event_id, "task-signed", TaskStatus::Signed, 2),
        // Late and stale: must not undo the newer one.
        fact(event_id, "task-assigned", TaskStatus::Assigned, 1),
        fact(event_id, "task-resolved", TaskStatus::Resolved, 3),
        // A repeat of the last is stale too.
        fact(event_id, "task-resolved", TaskStatus::Resolved, 3),
        fact(event_id, "task-reworked", TaskStatus::InProgress, 4),
        fact(event_id, "task-resolved", TaskStatus::Resolved, 5),
    ]
}

type Rows = (Vec<(i16, i64, i32)>, Vec<(String, i64, i16, bool, String)>, Vec<(i16, String, String, String)>);

async fn rows_of(db: &sqlx::PgPool, id: Uuid) -> Rows {
    let event = sqlx::query_as("SELECT status, version, outcome_round FROM events WHERE id = $1")
        .bind(id)
        .fetch_all(db)
        .await
        .unwrap();
    let tasks = sqlx::query_as(
        "SELECT task_id, version, status, lead, department_id FROM event_tasks WHERE event_id = $1 ORDER BY task_id",
    )
    .bind(id)
    .fetch_all(db)
    .await
    .unwrap();
    let history = sqlx::query_as(
        "SELECT status, fact, task_id, department_id FROM status_history WHERE event_id = $1 ORDER BY seq",
    )
    .bind(id)
    .fetch_all(db)
    .await
    .unwrap();
    (event, tasks, history)
}

#[tokio::test]
async fn a_batch_of_task_facts_writes_what_one_by_one_writes() {
    let app = spawn_app().await;
    let mut client = app.client.clone();
    let one = client.submit_event(report("twin-0001", "01.02.003", 32.98, 114.02)).await.unwrap().into_inner().event_id;
    let two = client.submit_event(report("twin-0002", "01.02.003", 32.90, 114.10)).await.unwrap().into_inner().event_id;
    let db = app.db().await;

    let mut tx = db.begin().await.unwrap();
    for f in facts_for(&one) {
        store::apply_task_event(&mut tx, &f).await.unwrap();
    }
    tx.commit().await.unwrap();
    let mut tx = db.begin().await.unwrap();
    let stale = store::apply_task_events(&mut tx, &facts_for(&two)).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(stale, Some(2), "the late fact and the repeat");

    let (a, b) = (rows_of(&db, one.parse().unwrap()).await, rows_of(&db, two.parse().unwrap()).await);
    assert_eq!(a, b);
    assert_eq!(b.2.len(), 5, "dispatched, in progress, resolved, in progress, resolved: {:?}", b.2);
    assert_eq!(b.0[0].2, 2, "two outcome rounds");

    // A batch naming an event intake never saw writes nothing and says so.
    let mut tx = db.begin().await.unwrap();
    let ghost = fact(&Uuid::now_v7().to_string(), "task-assigned", TaskStatus::Assigned, 1);
    let mut facts = facts_for(&one);
    facts.push(ghost);
    assert_eq!(store::apply_task_events(&mut tx, &facts).await.unwrap(), None);
    drop(tx);
    app.stop().await;
}
