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

/// The batch's reads and writes find their rows by index however many events there are, also
/// before the planner has statistics (a new deployment's first minutes, before autovacuum's
/// first ANALYZE): planned from row-count guesses, they read `events` and `event_tasks` whole
/// for every batch (measured by `civicgrid-bench loop`, docs/performance.md).
#[tokio::test]
async fn a_batch_reads_no_table_whole_before_the_first_analyze() {
    use civicgrid_dev::testing::plans;

    let app = spawn_app().await;
    let mut client = app.client.clone();
    let model =
        client.submit_event(report("plan-0001", "01.02.003", 32.98, 114.02)).await.unwrap().into_inner().event_id;
    let db = app.db().await;
    let mut conn = db.acquire().await.unwrap();
    plans::without_statistics(&mut conn, &["events", "event_tasks"]).await.unwrap();
    // 20,000 more events like it, each with a task.
    sqlx::query(
        "INSERT INTO events (id, tracking_number, source, item_code, city, county, township, village, grid_code, \
           lat, lng, address, description, evidence_urls, occurred_at, reported_at, status, report_count, version) \
         SELECT gen_random_uuid(), 'plan-' || g, source, item_code, city, county, township, village, grid_code, \
           lat, lng, address, description, evidence_urls, occurred_at, reported_at, status, report_count, version \
         FROM events, generate_series(1, 20000) AS g WHERE id = $1",
    )
    .bind(model.parse::<Uuid>().unwrap())
    .execute(&mut *conn)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO event_tasks (event_id, task_id, version, status, lead, department_id) \
         SELECT id, 'task-1', 1, 2, true, 'chengguan' FROM events WHERE tracking_number LIKE 'plan-%'",
    )
    .execute(&mut *conn)
    .await
    .unwrap();
    drop(conn);

    // Eight batches on one connection: the first are planned for their own parameters, the
    // later ones may run a plan the connection cached.
    let some: Vec<Uuid> =
        sqlx::query_scalar("SELECT id FROM events WHERE tracking_number LIKE 'plan-%' ORDER BY id LIMIT 800")
            .fetch_all(&db)
            .await
            .unwrap();
    let mut conn = db.acquire().await.unwrap();
    for (round, ids) in some.chunks(100).enumerate() {
        let facts: Vec<TaskEvent> =
            ids.iter().map(|id| fact(&id.to_string(), "task-signed", TaskStatus::Signed, 2)).collect();
        let mut tx = sqlx::Acquire::begin(&mut *conn).await.unwrap();
        // The counters may still hold the connection's earlier, unpublished transactions.
        let mut before = Vec::new();
        for table in ["events", "event_tasks"] {
            before.push(plans::seq_rows_read(&mut tx, table).await.unwrap());
        }
        assert_eq!(store::apply_task_events(&mut tx, &facts).await.unwrap(), Some(0));
        for (table, before) in ["events", "event_tasks"].into_iter().zip(before) {
            let read = plans::seq_rows_read(&mut tx, table).await.unwrap() - before;
            assert_eq!(read, 0, "batch {round} read {read} rows of `{table}` by sequential scans");
        }
        tx.commit().await.unwrap();
    }
    let signed: i64 = sqlx::query_scalar("SELECT count(*) FROM event_tasks WHERE version = 2 AND status = $1")
        .bind(TaskStatus::Signed as i16)
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(signed, 800, "every batch was applied");
    drop(conn);
    app.stop().await;
}
