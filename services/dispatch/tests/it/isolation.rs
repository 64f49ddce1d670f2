//! Scopes: a department sees and touches only its own tasks, a center only its region — through
//! every door (get, list, act, watch, KPIs).

use std::time::Duration;

use civicgrid_kit::{clock::Clock, time::to_proto};
use civicgrid_proto::v1::{
    GetKpisRequest, GetTaskRequest, ListTasksRequest, ResolveRequest, TaskChange, TaskReasonRequest, TaskRequest,
    TimeRange, TriageRequest, WatchTasksRequest,
};
use tonic::Code;

use crate::helpers::*;

fn day() -> TimeRange {
    TimeRange { from: Some(to_proto(local("2026-11-16 00:00"))), to: Some(to_proto(local("2026-11-17 00:00"))) }
}

#[tokio::test]
async fn departments_and_centers_see_only_their_own() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let here = app.grid_in(TOWNSHIP);
    let there = app.grid_in("411602002");
    let (item, route_a) = app.ordinary_item(&here.path);
    let route_b = app.route(&item, &there.path).expect("routed in the other township");
    let (a, b) = (route_a.lead.clone(), route_b.lead.clone());
    assert_ne!(a, b);
    let a_task = app.report(&item.code, &here, 1).await.1.remove(0);
    let b_task = app.report(&item.code, &there, 1).await.1.remove(0);
    let a_token = department(&a);
    let mut client = app.client.clone();

    // Department A does not see B's task, cannot act on it, and learns nothing of its state.
    expect_code(
        client.get_task(authed(GetTaskRequest { task_id: b_task.id.clone() }, &a_token)).await,
        Code::NotFound,
        "A reads B's task",
    );
    for (what, result) in [
        (
            "sign for",
            client.sign_for(authed(TaskRequest { request_id: rid(), task_id: b_task.id.clone() }, &a_token)).await,
        ),
        (
            "return",
            client
                .return_task(authed(
                    TaskReasonRequest {
                        request_id: rid(), task_id: b_task.id.clone(), reason: "不是我们的".into()
                    },
                    &a_token,
                ))
                .await,
        ),
        (
            "resolve",
            client
                .resolve(authed(
                    ResolveRequest {
                        request_id: rid(),
                        task_id: b_task.id.clone(),
                        result: "已修复".into(),
                        evidence_urls: vec![],
                    },
                    &a_token,
                ))
                .await,
        ),
    ] {
        expect_code(result, Code::NotFound, &format!("A {what}s B's task"));
    }
    assert_eq!(app.task(&b_task.id).await.version, 1, "B's task is untouched");

    // Listing: A's own only; asking for B's is refused.
    let listed = client.list_tasks(authed(ListTasksRequest::default(), &a_token)).await.unwrap().into_inner().tasks;
    assert_eq!(listed.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), [a_task.id.as_str()]);
    expect_code(
        client.list_tasks(authed(ListTasksRequest { department_id: b.clone(), ..Default::default() }, &a_token)).await,
        Code::PermissionDenied,
        "A lists B's tasks",
    );
    let by_event = ListTasksRequest { event_id: b_task.event_id.clone(), ..Default::default() };
    assert!(client.list_tasks(authed(by_event, &a_token)).await.unwrap().into_inner().tasks.is_empty());
    expect_code(
        client
            .watch_tasks(authed(WatchTasksRequest { department_id: b.clone(), ..Default::default() }, &a_token))
            .await,
        Code::PermissionDenied,
        "A watches B's feed",
    );

    // A center of another county sees nothing of this one.
    let far = center(OTHER_COUNTY);
    assert!(client.list_tasks(authed(ListTasksRequest::default(), &far)).await.unwrap().into_inner().tasks.is_empty());
    expect_code(
        client.get_task(authed(GetTaskRequest { task_id: a_task.id.clone() }, &far)).await,
        Code::NotFound,
        "another county's center reads",
    );
    expect_code(
        client
            .triage(authed(
                TriageRequest { request_id: rid(), task_id: a_task.id.clone(), department_id: a.clone() },
                &far,
            ))
            .await,
        Code::NotFound,
        "another county's center re-assigns",
    );
    expect_code(
        client.list_tasks(authed(ListTasksRequest { region_code: COUNTY.into(), ..Default::default() }, &far)).await,
        Code::PermissionDenied,
        "another county's center asks for this county",
    );
    let mut far_feed = client.watch_tasks(authed(WatchTasksRequest::default(), &far)).await.unwrap().into_inner();
    assert!(
        tokio::time::timeout(Duration::from_millis(500), far_feed.message()).await.is_err(),
        "another county's center received a change of this county"
    );
    drop(far_feed);
    // A township center sees its township, not the neighbour's.
    let township = client.list_tasks(authed(ListTasksRequest::default(), &center(TOWNSHIP))).await.unwrap();
    assert_eq!(township.into_inner().tasks.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), [a_task.id.as_str()]);

    // Nor do a department's figures leak to another county's center.
    let kpis = client
        .get_kpis(authed(
            GetKpisRequest { period: Some(day()), department_id: a.clone(), region_code: String::new() },
            &far,
        ))
        .await;
    match kpis {
        Err(s) => assert_eq!(s.code(), Code::PermissionDenied, "{s:?}"),
        Ok(k) => {
            let k = k.into_inner();
            assert_eq!(
                (k.assigned, k.due_to_close, k.rated),
                (0, 0, 0),
                "a center of {OTHER_COUNTY} reads the figures of {a}, a department of {COUNTY}: {k:?}"
            );
        }
    }
    app.stop().await;
}

/// A department's feed replays its own changes; a task it no longer holds must not show up
/// there as another department now holds it.
#[tokio::test]
async fn a_departments_feed_does_not_show_a_task_after_it_went_to_another_department() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let grid = app.grid_in(TOWNSHIP);
    let (item, route) = app.ordinary_item(&grid.path);
    let task = app.report(&item.code, &grid, 1).await.1.remove(0);
    let a = route.lead.clone();
    let b = app
        .departments_serving(&grid.path, &[a.as_str()])
        .into_iter()
        .find(|d| d.starts_with(TOWNSHIP))
        .expect("another department");
    let mut client = app.client.clone();
    client
        .return_task(authed(
            TaskReasonRequest { request_id: rid(), task_id: task.id.clone(), reason: "不属于本部门".into() },
            &department(&a),
        ))
        .await
        .unwrap();
    client
        .triage(authed(
            TriageRequest { request_id: rid(), task_id: task.id.clone(), department_id: b.clone() },
            &center(TOWNSHIP),
        ))
        .await
        .unwrap();
    client
        .sign_for(authed(TaskRequest { request_id: rid(), task_id: task.id.clone() }, &department(&b)))
        .await
        .unwrap();
    client
        .resolve(authed(
            ResolveRequest {
                request_id: rid(),
                task_id: task.id.clone(),
                result: "住建部门内部处置记录".into(),
                evidence_urls: vec!["https://internal.example.org/zhujian/1.jpg".into()],
            },
            &department(&b),
        ))
        .await
        .unwrap();

    // A replays its feed from the start.
    let mut feed =
        client.watch_tasks(authed(WatchTasksRequest::default(), &department(&a))).await.unwrap().into_inner();
    let mut seen: Vec<TaskChange> = Vec::new();
    while let Ok(Ok(Some(change))) = tokio::time::timeout(Duration::from_millis(500), feed.message()).await {
        seen.push(change);
    }
    assert!(!seen.is_empty(), "A's feed shows the assignment it had");
    for change in &seen {
        let t = change.task.as_ref().expect("task");
        assert!(
            t.department_id.is_empty() || t.department_id == a,
            "A's feed ({}) shows the task as it is now at department {} with its result {:?}",
            change.fact,
            t.department_id,
            t.result
        );
        assert!(t.result.is_empty(), "A's feed shows B's result {:?}", t.result);
    }
    drop(feed);
    app.stop().await;
}
