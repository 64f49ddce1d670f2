//! The consumer applies intake's facts a batch at a time (multi-row statements, the change
//! feed appended once, at the end): a backlog gets each event's tasks once, in one feed whose
//! cursors follow commit order, with a poison message dead-lettered alone and a rating that
//! follows its event in the same batch applied to the tasks the batch just created.

use std::{collections::HashMap, time::Duration};

use civicgrid_kit::clock::Clock;
use civicgrid_proto::v1::{GetKpisRequest, Rating, TimeRange, WatchTasksRequest};

use crate::helpers::*;

/// Waits until every event of `expected` has its number of tasks.
async fn wait_for_tasks(app: &TestApp, expected: &HashMap<String, usize>) {
    for (event, n) in expected {
        let tasks = app.tasks_of(event, *n).await;
        assert_eq!(tasks.len(), *n, "event {event}");
    }
}

#[tokio::test]
async fn a_backlog_is_applied_in_batches_each_event_once_in_feed_order() {
    let mut app = spawn_app(Clock::manual(monday_9am())).await;
    let grid = app.grid_in(TOWNSHIP);
    let (single, route) = app.ordinary_item(&grid.path);
    let (shared, shared_route) = app.item_with_assisting(&grid.path);
    let now = app.clock.now();

    // dispatch is down while intake publishes: a backlog of 120 events, then 30 more with a
    // poison message among them.
    app.halt().await;
    let mut expected: HashMap<String, usize> = HashMap::new();
    let mut first = None;
    for i in 0..150 {
        if i == 120 {
            // A rating of the first event, in the same backlog: recorded on the task the backlog
            // makes (the batch writes the tasks before it looks for them).
            let first = first.as_ref().expect("the first event");
            app.publish_rated(&rated(first, Rating::Satisfied, "满意", now)).await;
            app.resume().await;
            wait_for_tasks(&app, &expected).await;
            app.halt().await;
        }
        let (code, tasks) = match i % 3 {
            0 => (single.code.as_str(), 1),
            1 => (shared.code.as_str(), 1 + shared_route.assisting.len()),
            _ => ("99.99.996", 1),
        };
        let r = reported(code, &grid, now);
        let ce_id = app.publish_reported(&r).await;
        if i == 40 {
            // A publisher's retry after the duplicate window: same ce-id, new Nats-Msg-Id.
            app.publish_reported_as(&r, &ce_id, &uuid::Uuid::now_v7().to_string()).await;
            // The same event again under another ce-id: its tasks exist, nothing new.
            let other = uuid::Uuid::now_v7().to_string();
            app.publish_reported_as(&r, &other, &other).await;
        }
        if i == 135 {
            // Poison in the middle of the second backlog.
            let bad = uuid::Uuid::now_v7().to_string();
            app.publish_intake("event-reported", &grid.path, "EventReported", "x", vec![0xde, 0xad], &bad, &bad).await;
        }
        if i == 0 {
            first = Some(r.clone());
        }
        expected.insert(event_id(&r), tasks);
    }
    app.resume().await;
    wait_for_tasks(&app, &expected).await;
    let total: usize = expected.values().sum();
    // The first backlog was written in batches: rows of one transaction share its `now()`.
    let pool = sqlx::PgPool::connect(app.settings.common.database.require_url().expect("database url"))
        .await
        .expect("database");
    let (transactions, messages): (i64, i64) =
        sqlx::query_as("SELECT count(DISTINCT applied_at), count(*) FROM dispatch.inbox")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(messages, 150 + 1 + 1, "150 events, the same event under another ce-id, the rating");
    assert!(transactions < messages / 4, "{messages} messages applied in {transactions} transactions");
    eventually("the poison dead-lettered", || async {
        let mut stream = app.js.get_stream(civicgrid_kit::bus::DEADLETTER_STREAM).await.expect("dead-letter stream");
        stream.info().await.map(|i| i.state.messages).unwrap_or(0) == 1
    })
    .await;

    // The feed from the start: every task created once, cursors increasing, nothing else.
    let mut client = app.client.clone();
    let mut feed = client.watch_tasks(authed(WatchTasksRequest::default(), &admin())).await.unwrap().into_inner();
    let mut last = 0;
    let mut per_task: HashMap<String, Vec<String>> = HashMap::new();
    for _ in 0..total {
        let c = next_change(&mut feed).await;
        assert!(c.cursor > last, "cursor {} after {last}", c.cursor);
        last = c.cursor;
        let task = c.task.expect("task");
        assert!(expected.contains_key(&task.event_id), "a task of an unknown event {}", task.event_id);
        per_task.entry(task.id).or_default().push(c.fact);
    }
    assert_eq!(per_task.len(), total);
    for facts in per_task.values() {
        assert!(facts == &["task-assigned"] || facts == &["task-awaiting-triage"], "{facts:?}");
    }
    if let Ok(extra) = tokio::time::timeout(Duration::from_millis(500), feed.message()).await {
        panic!("the feed has more than the backlog's tasks: {extra:?}");
    }
    // And one creation fact per task on the bus.
    eventually("every creation published", || async { app.published().await.len() >= total }).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.published().await.len(), total);

    // The rating landed on the first event's lead task.
    let mut client = app.client.clone();
    let k = client
        .get_kpis(authed(
            GetKpisRequest {
                period: Some(TimeRange {
                    from: Some(civicgrid_kit::time::to_proto(local("2026-11-16 00:00"))),
                    to: Some(civicgrid_kit::time::to_proto(local("2026-11-17 00:00"))),
                }),
                department_id: route.lead.clone(),
                region_code: String::new(),
            },
            &admin(),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((k.rated, k.satisfied), (1, 1), "{k:?}");
    app.stop().await;
}

/// The consumer's look-up of which events have tasks already finds them by index however many
/// tasks there are, also before the planner has statistics (a new deployment's first minutes,
/// before autovacuum's first ANALYZE): `event_id = ANY(…)` planned from guesses read `tasks`
/// whole for every batch (measured by `civicgrid-bench loop`, docs/performance.md).
#[tokio::test]
async fn creating_tasks_reads_no_table_whole_before_the_first_analyze() {
    use std::sync::Arc;

    use civicgrid_dev::testing::plans;
    use civicgrid_dispatch::store::{Store, Writes};
    use civicgrid_kit::bus::OutboxSignal;

    let app = spawn_app(Clock::manual(monday_9am())).await;
    let grid = app.grid_in(TOWNSHIP);
    let (item, _) = app.ordinary_item(&grid.path);
    let now = app.clock.now();
    let model = reported(&item.code, &grid, now);
    app.publish_reported(&model).await;
    let model_id = model.event.as_ref().map(|e| e.id.clone()).unwrap_or_default();
    assert_eq!(app.tasks_of(&model_id, 1).await.len(), 1);

    let mut conn = app.db.acquire().await.unwrap();
    sqlx::query("SET search_path = dispatch").execute(&mut *conn).await.unwrap();
    plans::without_statistics(&mut conn, &["tasks"]).await.unwrap();
    // 20,000 more tasks like it, each of an event of its own.
    sqlx::query(
        "INSERT INTO tasks SELECT (jsonb_populate_record(t, jsonb_build_object( \
           'id', gen_random_uuid(), 'event_id', gen_random_uuid(), 'tracking_number', 'plan-' || g))).* \
         FROM tasks t, generate_series(1, 20000) AS g",
    )
    .execute(&mut *conn)
    .await
    .unwrap();
    let known: Vec<uuid::Uuid> =
        sqlx::query_scalar("SELECT event_id FROM tasks ORDER BY id LIMIT 800").fetch_all(&mut *conn).await.unwrap();

    // Eight batches on one connection (the later ones may run a plan it cached), each of a
    // hundred events with tasks and a hundred new ones, as a backlog brings: only the new get
    // tasks.
    let store = Store::new(app.db.clone(), Arc::new(app.refdata.clone()), 0, OutboxSignal::default(), 0.0);
    for (round, known) in known.chunks(100).enumerate() {
        let events: Vec<_> = known
            .iter()
            .map(|id| {
                let mut r = reported(&item.code, &grid, now);
                if let Some(e) = r.event.as_mut() {
                    e.id = id.to_string();
                }
                (r, tracing::Span::none())
            })
            .chain((0..100).map(|_| (reported(&item.code, &grid, now), tracing::Span::none())))
            .collect();
        let mut tx = sqlx::Acquire::begin(&mut *conn).await.unwrap();
        // The counters may still hold the connection's earlier, unpublished transactions.
        let before = plans::seq_rows_read(&mut tx, "tasks").await.unwrap();
        let mut writes = Writes::default();
        let created = store.create_for_events(&mut tx, &mut writes, &events, now).await.unwrap();
        assert_eq!(created, 100, "batch {round}: only the events without tasks");
        let read = plans::seq_rows_read(&mut tx, "tasks").await.unwrap() - before;
        assert_eq!(read, 0, "batch {round} read {read} rows of `tasks` by sequential scans");
        tx.rollback().await.unwrap();
    }
    app.stop().await;
}
