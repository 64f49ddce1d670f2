//! WatchTasks: a department's live feed, resumed after a disconnect from the last cursor seen
//! with nothing missed and nothing twice.

use std::time::Duration;

use civicgrid_kit::clock::Clock;
use civicgrid_proto::v1::{ResolveRequest, TaskChange, TaskRequest, TaskStatus, WatchTasksRequest};
use tonic::{Code, Streaming};

use crate::helpers::*;

use crate::helpers::next_change as next;

/// Asserts the feed stays quiet for a while.
async fn quiet(feed: &mut Streaming<TaskChange>, what: &str) {
    if let Ok(got) = tokio::time::timeout(Duration::from_millis(400), feed.message()).await {
        panic!("{what}: expected nothing more, got {got:?}");
    }
}

fn summary(c: &TaskChange) -> (String, String) {
    (c.fact.clone(), c.task.as_ref().map(|t| t.id.clone()).unwrap_or_default())
}

#[tokio::test]
async fn a_feed_resumes_from_its_cursor_with_nothing_missed_and_nothing_twice() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let grid = app.grid_in(TOWNSHIP);
    let (item, route) = app.ordinary_item(&grid.path);
    let dept = department(&route.lead);
    let mut client = app.client.clone();

    // Connected before anything happens: new tasks and their changes arrive live.
    let mut feed = client.watch_tasks(authed(WatchTasksRequest::default(), &dept)).await.unwrap().into_inner();
    let t1 = app.report(&item.code, &grid, 1).await.1.remove(0);
    let c1 = next(&mut feed).await;
    assert_eq!(summary(&c1), ("task-assigned".into(), t1.id.clone()));
    assert_eq!(c1.task.as_ref().unwrap().status, TaskStatus::Assigned as i32);
    client.sign_for(authed(TaskRequest { request_id: rid(), task_id: t1.id.clone() }, &dept)).await.unwrap();
    let c2 = next(&mut feed).await;
    assert_eq!(summary(&c2), ("task-signed".into(), t1.id.clone()));
    assert!(c2.cursor > c1.cursor);
    // Another department's task is not in this feed.
    let other = app.item_where(&grid.path, "item of another lead", |_, r| r.is_some_and(|r| r.lead != route.lead));
    let foreign = app.report(&other.0.code, &grid, 1).await.1.remove(0);
    quiet(&mut feed, "another department's task").await;
    let last_seen = c2.cursor;

    // Disconnected: more changes happen.
    drop(feed);
    client
        .resolve(authed(
            ResolveRequest {
                request_id: rid(),
                task_id: t1.id.clone(),
                result: "已修复".into(),
                evidence_urls: vec![],
            },
            &dept,
        ))
        .await
        .unwrap();
    let t2 = app.report(&item.code, &grid, 1).await.1.remove(0);
    client.sign_for(authed(TaskRequest { request_id: rid(), task_id: t2.id.clone() }, &dept)).await.unwrap();
    let t3 = app.report(&item.code, &grid, 1).await.1.remove(0);
    let _ = foreign;

    // Resumed from the last cursor seen: exactly the missed changes, in order, then live.
    let mut resumed = client
        .watch_tasks(authed(WatchTasksRequest { cursor: last_seen, ..Default::default() }, &dept))
        .await
        .unwrap()
        .into_inner();
    let mut missed = Vec::new();
    for _ in 0..4 {
        missed.push(next(&mut resumed).await);
    }
    let got: Vec<(String, String)> = missed.iter().map(summary).collect();
    assert_eq!(
        got,
        [
            ("task-resolved".to_string(), t1.id.clone()),
            ("task-assigned".to_string(), t2.id.clone()),
            ("task-signed".to_string(), t2.id.clone()),
            ("task-assigned".to_string(), t3.id.clone()),
        ]
    );
    let cursors: Vec<i64> = missed.iter().map(|c| c.cursor).collect();
    assert!(cursors.windows(2).all(|w| w[0] < w[1]) && cursors[0] > last_seen, "cursors {cursors:?}");
    quiet(&mut resumed, "after the missed changes").await;
    client.sign_for(authed(TaskRequest { request_id: rid(), task_id: t3.id.clone() }, &dept)).await.unwrap();
    let live = next(&mut resumed).await;
    assert_eq!(summary(&live), ("task-signed".into(), t3.id.clone()));
    assert!(live.cursor > cursors[3]);

    // From now: only what happens after connecting.
    let mut fresh = client
        .watch_tasks(authed(WatchTasksRequest { from_now: true, ..Default::default() }, &dept))
        .await
        .unwrap()
        .into_inner();
    quiet(&mut fresh, "a from-now feed before anything new").await;
    let t4 = app.report(&item.code, &grid, 1).await.1.remove(0);
    let first = next(&mut fresh).await;
    assert_eq!(summary(&first), ("task-assigned".into(), t4.id.clone()));
    assert!(first.cursor > live.cursor);
    drop(fresh);

    // A negative cursor is bad input.
    let status = client
        .watch_tasks(authed(WatchTasksRequest { cursor: -1, ..Default::default() }, &dept))
        .await
        .expect_err("negative cursor");
    assert_eq!(status.code(), Code::InvalidArgument);
    drop(resumed);
    app.stop().await;
}

/// Each change carries "the task after the change" (the contract's words): replayed changes
/// show the task as it was after each of them, not as it is when replayed.
#[tokio::test]
async fn replayed_changes_carry_the_task_as_it_was_after_each_change() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let grid = app.grid_in(TOWNSHIP);
    let (item, route) = app.ordinary_item(&grid.path);
    let dept = department(&route.lead);
    let mut client = app.client.clone();
    let t = app.report(&item.code, &grid, 1).await.1.remove(0);
    client.sign_for(authed(TaskRequest { request_id: rid(), task_id: t.id.clone() }, &dept)).await.unwrap();
    client
        .resolve(authed(
            ResolveRequest {
                request_id: rid(), task_id: t.id.clone(), result: "已修复".into(), evidence_urls: vec![]
            },
            &dept,
        ))
        .await
        .unwrap();
    let mut feed = client.watch_tasks(authed(WatchTasksRequest::default(), &dept)).await.unwrap().into_inner();
    let mut changes = Vec::new();
    for _ in 0..3 {
        changes.push(next(&mut feed).await);
    }
    let seen: Vec<(String, i32, i64)> = changes
        .iter()
        .map(|c| {
            let task = c.task.as_ref().unwrap();
            (c.fact.clone(), task.status, task.version)
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("task-assigned".to_string(), TaskStatus::Assigned as i32, 1),
            ("task-signed".to_string(), TaskStatus::Signed as i32, 2),
            ("task-resolved".to_string(), TaskStatus::Resolved as i32, 3),
        ]
    );
    drop(feed);
    app.stop().await;
}

/// Graceful shutdown ends the live feeds instead of waiting for watchers to hang up: a
/// department left connected must not keep dispatch from stopping.
#[tokio::test]
async fn dispatch_stops_while_a_department_is_watching() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let grid = app.grid_in(TOWNSHIP);
    let (item, route) = app.ordinary_item(&grid.path);
    let mut client = app.client.clone();
    let mut feed =
        client.watch_tasks(authed(WatchTasksRequest::default(), &department(&route.lead))).await.unwrap().into_inner();
    app.report(&item.code, &grid, 1).await;
    next(&mut feed).await;
    app.shutdown.cancel();
    let stopped = tokio::time::timeout(Duration::from_secs(10), app.handle).await;
    let result = stopped.expect("dispatch still running 10 s after shutdown, held open by a WatchTasks stream");
    result.expect("join").expect("dispatch stopped cleanly");
    // The watcher learns the feed ended (an error or the end of the stream), so it reconnects.
    let end = tokio::time::timeout(Duration::from_secs(5), feed.message()).await.expect("the feed ends");
    assert!(!matches!(end, Ok(Some(_))), "{end:?}");
}

/// A department's feed is about the tasks it holds, and a task it gives back changes for it
/// too: the return shows up in its feed, so its screen does not keep a task it no longer has.
#[tokio::test]
async fn a_task_a_department_returns_leaves_its_feed_visibly() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let grid = app.grid_in(TOWNSHIP);
    let (item, route) = app.ordinary_item(&grid.path);
    let dept = department(&route.lead);
    let mut client = app.client.clone();
    let mut feed = client.watch_tasks(authed(WatchTasksRequest::default(), &dept)).await.unwrap().into_inner();
    let t = app.report(&item.code, &grid, 1).await.1.remove(0);
    assert_eq!(summary(&next(&mut feed).await), ("task-assigned".into(), t.id.clone()));
    client
        .return_task(authed(
            civicgrid_proto::v1::TaskReasonRequest {
                request_id: rid(),
                task_id: t.id.clone(),
                reason: "不属于本部门".into(),
            },
            &dept,
        ))
        .await
        .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(2), feed.message()).await;
    drop(feed);
    let change = got.expect("the return shows up in the returning department's feed").unwrap().unwrap();
    assert_eq!(summary(&change), ("task-returned".into(), t.id.clone()));
    app.stop().await;
}
