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
