//! A department's task from assignment to closure: every answer shows the new state, every
//! change is published once and in order, retries change nothing, and what is not allowed
//! is refused with the right code.

use civicgrid_kit::clock::Clock;
use civicgrid_proto::v1::{
    ApproveExtensionRequest, GetTaskRequest, ListTasksRequest, RequestExtensionRequest, ResolveRequest, Role, Stage,
    Task, TaskReasonRequest, TaskRequest, TaskStatus, TimeType,
};
use tonic::Code;

use crate::helpers::*;

fn req(task: &Task, request_id: &str) -> TaskRequest {
    TaskRequest { request_id: request_id.into(), task_id: task.id.clone() }
}

fn reason(task: &Task, request_id: &str, reason: &str) -> TaskReasonRequest {
    TaskReasonRequest { request_id: request_id.into(), task_id: task.id.clone(), reason: reason.into() }
}

fn resolve(task: &Task, request_id: &str, result: &str, evidence: &[&str]) -> ResolveRequest {
    ResolveRequest {
        request_id: request_id.into(),
        task_id: task.id.clone(),
        result: result.into(),
        evidence_urls: evidence.iter().map(|s| s.to_string()).collect(),
    }
}

fn clock_of(task: &Task, stage: Stage) -> &civicgrid_proto::v1::StageClock {
    task.clocks.iter().find(|c| c.stage == stage as i32).unwrap_or_else(|| panic!("no {stage:?} clock"))
}

#[tokio::test]
async fn sign_for_resolve_verify_close() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let grid = app.grid_in(TOWNSHIP);
    let (item, route) = app.ordinary_item(&grid.path);
    let (_, tasks) = app.report(&item.code, &grid, 1).await;
    let task = tasks[0].clone();
    let dept = department(&route.lead);
    let verifier = grid_worker(&grid.grid_worker, &grid.path.village);
    let centre = center(TOWNSHIP);
    let mut client = app.client.clone();

    // Not yet: resolve, verify or close an assigned task.
    expect_code(
        client.resolve(authed(resolve(&task, &rid(), "已修复", &[]), &dept)).await,
        Code::FailedPrecondition,
        "resolve before signing for",
    );
    expect_code(client.verify(authed(req(&task, &rid()), &verifier)).await, Code::FailedPrecondition, "verify");
    expect_code(client.close(authed(req(&task, &rid()), &centre)).await, Code::FailedPrecondition, "close");
    // Not them: signing for is the department's.
    expect_code(
        client.sign_for(authed(req(&task, &rid()), &centre)).await,
        Code::PermissionDenied,
        "a center signs for",
    );
    expect_code(
        client.sign_for(authed(req(&task, &rid()), &verifier)).await,
        Code::PermissionDenied,
        "a grid worker signs for a department's task",
    );
    // Bad input, named by field.
    expect_invalid(client.sign_for(authed(req(&task, "short"), &dept)).await, "request_id", "short request_id");
    expect_invalid(
        client.sign_for(authed(req(&task, "has spaces in it"), &dept)).await,
        "request_id",
        "request_id with spaces",
    );
    expect_invalid(
        client.sign_for(authed(TaskRequest { request_id: rid(), task_id: "nope".into() }, &dept)).await,
        "task_id",
        "task_id not a UUID",
    );
    expect_code(
        client
            .sign_for(authed(TaskRequest { request_id: rid(), task_id: uuid::Uuid::now_v7().to_string() }, &dept))
            .await,
        Code::NotFound,
        "unknown task",
    );
    expect_invalid(client.return_task(authed(reason(&task, &rid(), ""), &dept)).await, "reason", "no reason");
    expect_invalid(client.return_task(authed(reason(&task, &rid(), "  x "), &dept)).await, "reason", "1-char reason");

    // 签收 at 09:10: the sign-for clock stops, the handling clock starts.
    app.set_time(local("2026-11-16 09:10"));
    let signing = rid();
    let signed = client.sign_for(authed(req(&task, &signing), &dept)).await.unwrap().into_inner();
    assert_eq!(signed.status, TaskStatus::Signed as i32);
    assert_eq!(signed.version, 2);
    assert_eq!(stopped_at(clock_of(&signed, Stage::SignFor)), Some(local("2026-11-16 09:10")));
    let handle = clock_of(&signed, Stage::Handle);
    assert_eq!((handle.limit, handle.time_type), (16, TimeType::WorkingHours as i32));
    // 16 working hours from Monday 09:10: 6 h 20 min on Monday, 7 h on Tuesday, 2 h 40 min on
    // Wednesday from 08:30.
    assert_eq!(deadline_of(handle), Some(local("2026-11-18 11:10")));
    let again = client.sign_for(authed(req(&task, &signing), &dept)).await.unwrap().into_inner();
    assert_eq!(again, signed, "a retry answers the first answer");
    expect_code(
        client.sign_for(authed(req(&task, &rid()), &dept)).await,
        Code::FailedPrecondition,
        "signing for twice",
    );

    // 延期: asked, asked again while pending, answered by the center only, refused.
    let ask =
        RequestExtensionRequest {
            request_id: rid(), task_id: task.id.clone(), amount: 4, reason: "材料未到".into()
        };
    expect_invalid(
        client.request_extension(authed(RequestExtensionRequest { amount: 0, ..ask.clone() }, &dept)).await,
        "amount",
        "extension of 0",
    );
    let asked = client.request_extension(authed(ask.clone(), &dept)).await.unwrap().into_inner();
    assert_eq!((asked.extension_requested, asked.version), (4, 3));
    let repeat = client.request_extension(authed(ask.clone(), &dept)).await.unwrap().into_inner();
    assert_eq!(repeat, asked);
    expect_code(
        client.request_extension(authed(RequestExtensionRequest { request_id: rid(), ..ask.clone() }, &dept)).await,
        Code::FailedPrecondition,
        "a second request while one is pending",
    );
    let approve = ApproveExtensionRequest { request_id: rid(), task_id: task.id.clone(), amount: 0 };
    expect_code(
        client.approve_extension(authed(approve.clone(), &dept)).await,
        Code::PermissionDenied,
        "a department approves its own extension",
    );
    let refused =
        client.refuse_extension(authed(reason(&task, &rid(), "理由不充分"), &centre)).await.unwrap().into_inner();
    assert_eq!((refused.extension_requested, refused.version), (0, 4));
    assert_eq!(deadline_of(clock_of(&refused, Stage::Handle)), Some(local("2026-11-18 11:10")));
    expect_code(
        client.approve_extension(authed(approve, &centre)).await,
        Code::FailedPrecondition,
        "approving when nothing is pending",
    );

    // 办结反馈 at 10:00, with evidence.
    app.set_time(local("2026-11-16 10:00"));
    expect_invalid(
        client.resolve(authed(resolve(&task, &rid(), "x", &[]), &dept)).await,
        "result",
        "a one-character result",
    );
    expect_invalid(
        client
            .resolve(authed(
                resolve(&task, &rid(), "已修复", &["https://img.example.org/a.jpg", "ftp://img.example.org/b.jpg"]),
                &dept,
            ))
            .await,
        "evidence_urls[1]",
        "an ftp evidence link",
    );
    expect_code(
        client.resolve(authed(resolve(&task, &rid(), "已修复", &[]), &centre)).await,
        Code::PermissionDenied,
        "a center resolves",
    );
    let resolving = rid();
    let evidence = ["https://img.example.org/after-1.jpg", "https://img.example.org/after-2.jpg"];
    let resolved =
        client.resolve(authed(resolve(&task, &resolving, "已更换井盖", &evidence), &dept)).await.unwrap().into_inner();
    assert_eq!(resolved.status, TaskStatus::Resolved as i32);
    assert_eq!(resolved.version, 5);
    assert_eq!(resolved.result, "已更换井盖");
    assert_eq!(resolved.result_evidence_urls, evidence);
    assert_eq!(stopped_at(clock_of(&resolved, Stage::Handle)), Some(local("2026-11-16 10:00")));
    let verify_clock = clock_of(&resolved, Stage::Verify);
    assert_eq!((verify_clock.limit, verify_clock.time_type), (1, TimeType::WorkingDays as i32));
    // One working day, the starting day not counted: the end of Tuesday.
    assert_eq!(deadline_of(verify_clock), Some(local("2026-11-18 00:00")));
    assert_eq!(
        client.resolve(authed(resolve(&task, &resolving, "别的", &[]), &dept)).await.unwrap().into_inner(),
        resolved
    );

    // 复核: not the department, not before; the grid worker of the village.
    expect_code(client.close(authed(req(&task, &rid()), &centre)).await, Code::FailedPrecondition, "close unverified");
    expect_code(
        client.verify(authed(req(&task, &rid()), &dept)).await,
        Code::PermissionDenied,
        "a department verifies its own fix",
    );
    app.set_time(local("2026-11-16 10:30"));
    let verifying = rid();
    let verified = client.verify(authed(req(&task, &verifying), &verifier)).await.unwrap().into_inner();
    assert_eq!(verified.status, TaskStatus::Verified as i32);
    assert_eq!(verified.version, 6);
    assert_eq!(stopped_at(clock_of(&verified, Stage::Verify)), Some(local("2026-11-16 10:30")));
    assert_eq!(client.verify(authed(req(&task, &verifying), &verifier)).await.unwrap().into_inner(), verified);

    // 结案: the center only.
    app.set_time(local("2026-11-16 10:40"));
    expect_code(client.close(authed(req(&task, &rid()), &dept)).await, Code::PermissionDenied, "a department closes");
    expect_code(
        client.close(authed(req(&task, &rid()), &verifier)).await,
        Code::PermissionDenied,
        "a grid worker closes",
    );
    let closing = rid();
    let closed = client.close(authed(req(&task, &closing), &centre)).await.unwrap().into_inner();
    assert_eq!(closed.status, TaskStatus::Closed as i32);
    assert_eq!(closed.version, 7);
    assert_eq!(client.close(authed(req(&task, &closing), &centre)).await.unwrap().into_inner(), closed);
    expect_code(client.close(authed(req(&task, &rid()), &centre)).await, Code::FailedPrecondition, "closing twice");
    expect_code(
        client.sign_for(authed(req(&task, &rid()), &dept)).await,
        Code::FailedPrecondition,
        "signing for a closed task",
    );
    let seen = client.get_task(authed(GetTaskRequest { task_id: task.id.clone() }, &dept)).await.unwrap().into_inner();
    assert_eq!(seen, closed, "GetTask shows what the last answer showed");

    // Published once each, in order, with the versions of the answers and the actors.
    let published = app
        .wait_facts(
            &task.id,
            &[
                "task-assigned",
                "task-signed",
                "task-extension-requested",
                "task-extension-refused",
                "task-resolved",
                "task-verified",
                "task-closed",
            ],
        )
        .await;
    let versions: Vec<i64> = published.iter().map(|p| p.event.version).collect();
    assert_eq!(versions, [1, 2, 3, 4, 5, 6, 7]);
    let statuses: Vec<i32> = published.iter().map(|p| p.event.status).collect();
    use TaskStatus as S;
    assert_eq!(
        statuses,
        [S::Assigned, S::Signed, S::Signed, S::Signed, S::Resolved, S::Verified, S::Closed].map(|s| s as i32)
    );
    for p in &published {
        assert!(p.subject.starts_with(&format!("civicgrid.dispatch.{}.411600.411602.411602001.", p.event.fact)));
    }
    let actor = |i: usize| published[i].event.actor.clone().expect("actor");
    assert_eq!((actor(1).role, actor(1).department_id.as_str()), (Role::Department as i32, route.lead.as_str()));
    assert_eq!(actor(5).subject, grid.grid_worker);
    assert_eq!(actor(6).role, Role::Center as i32);
    assert_eq!(published[3].event.reason, "理由不充分");
    // Nothing else after the last fact either.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(app.facts_of(&task.id).await.len(), 7, "retries published nothing");
    app.stop().await;
}

#[tokio::test]
async fn roles_without_a_say_are_refused() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let grid = app.grid_in(TOWNSHIP);
    let (item, route) = app.ordinary_item(&grid.path);
    let (_, tasks) = app.report(&item.code, &grid, 1).await;
    let task = tasks[0].clone();
    let mut client = app.client.clone();
    expect_code(
        client.list_tasks(authed(ListTasksRequest::default(), &citizen())).await,
        Code::PermissionDenied,
        "a citizen app lists tasks",
    );
    // Without a token, or with a forged one.
    expect_code(client.list_tasks(ListTasksRequest::default()).await, Code::Unauthenticated, "no token");
    let forged = department(&route.lead).replace('.', "x.");
    expect_code(client.sign_for(authed(req(&task, &rid()), &forged)).await, Code::Unauthenticated, "a forged token");
    // A grid worker of another village does not see the task at all.
    let other = app.grids_in("").into_iter().find(|g| g.path.village != grid.path.village).expect("another village");
    let stranger = grid_worker(&other.grid_worker, &other.path.village);
    client.sign_for(authed(req(&task, &rid()), &department(&route.lead))).await.unwrap();
    client.resolve(authed(resolve(&task, &rid(), "已修复", &[]), &department(&route.lead))).await.unwrap();
    expect_code(
        client.verify(authed(req(&task, &rid()), &stranger)).await,
        Code::NotFound,
        "a grid worker of another village verifies",
    );
    expect_code(
        client.get_task(authed(GetTaskRequest { task_id: task.id.clone() }, &stranger)).await,
        Code::NotFound,
        "a grid worker of another village reads",
    );
    app.stop().await;
}

/// A grid worker's token is scoped to his grid (a 15-digit code): he reads and verifies the
/// tasks of his grid, and nothing of anybody else's.
#[tokio::test]
async fn a_grid_worker_scoped_to_his_grid_verifies_its_tasks_and_sees_nothing_else() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let grid = app.grid_in(TOWNSHIP);
    let (item, route) = app.ordinary_item(&grid.path);
    let (_, tasks) = app.report(&item.code, &grid, 1).await;
    let task = tasks[0].clone();
    // Another county's task, which he must not see.
    let far = app.grids_in(OTHER_COUNTY).into_iter().next();
    let far_task = match &far {
        Some(g) => {
            let (far_item, _) = app.item_where(&g.path, "routed item", |_, r| r.is_some());
            Some(app.report(&far_item.code, g, 1).await.1[0].clone())
        }
        None => None,
    };
    // …and a task of a neighbouring grid.
    let neighbour = app.grids_in(&grid.path.village).into_iter().find(|g| g.code != grid.code).expect("neighbour grid");
    let neighbour_task = app.report(&item.code, &neighbour, 1).await.1[0].clone();

    let dept = department(&route.lead);
    let mut client = app.client.clone();
    client.sign_for(authed(req(&task, &rid()), &dept)).await.unwrap();
    client.resolve(authed(resolve(&task, &rid(), "已修复", &[]), &dept)).await.unwrap();
    let me = grid_worker(&grid.grid_worker, &grid.code);

    // Every problem is collected, so one run tells all of them.
    let mut problems: Vec<String> = Vec::new();
    let listed = client.list_tasks(authed(ListTasksRequest::default(), &me)).await.expect("list").into_inner().tasks;
    let ids: Vec<&str> = listed.iter().map(|t| t.id.as_str()).collect();
    if ids.contains(&neighbour_task.id.as_str()) {
        problems.push(format!("ListTasks shows him a neighbouring grid's task ({} tasks listed)", ids.len()));
    }
    if let Some(far_task) = &far_task
        && ids.contains(&far_task.id.as_str())
    {
        problems.push("ListTasks shows him another county's task".into());
    }
    if !ids.contains(&task.id.as_str()) {
        problems.push("ListTasks does not show him his grid's task".into());
    }
    if let Err(s) = client.get_task(authed(GetTaskRequest { task_id: task.id.clone() }, &me)).await {
        problems.push(format!("GetTask of his grid's task: {:?} {}", s.code(), s.message()));
    }
    match client.verify(authed(req(&task, &rid()), &me)).await {
        Ok(t) => assert_eq!(t.into_inner().status, TaskStatus::Verified as i32),
        Err(s) => problems.push(format!("Verify of his grid's task: {:?} {}", s.code(), s.message())),
    }
    assert!(problems.is_empty(), "a grid worker scoped to grid {}:\n  {}", grid.code, problems.join("\n  "));
    app.stop().await;
}

/// 网格自处理: the grid worker handles the task for the township's grid station, and someone
/// else (the center) verifies it; it is coordinated by the village, so it escalates to the
/// township.
#[tokio::test]
async fn grid_self_items_are_handled_by_the_grid_worker_and_verified_by_the_center() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let grid = app.grid_in(TOWNSHIP);
    let (item, route) = app.item_where(&grid.path, "grid-self-handled item", |i, r| {
        i.whistle == civicgrid_dispatch::domain::routing::WhistleLevel::GridSelf && r.is_some()
    });
    let route = route.unwrap();
    assert_eq!(route.center_region, grid.path.village);
    let (_, tasks) = app.report(&item.code, &grid, 1).await;
    let task = tasks[0].clone();
    assert_eq!(task.whistle, "grid_self");
    assert_eq!(task.department_id, route.lead);
    let worker = grid_worker(&grid.grid_worker, &grid.path.village);
    let mut client = app.client.clone();
    let signed = client.sign_for(authed(req(&task, &rid()), &worker)).await.expect("the grid worker signs for");
    assert_eq!(signed.into_inner().status, TaskStatus::Signed as i32);
    client.resolve(authed(resolve(&task, &rid(), "已劝离占道摊点", &[]), &worker)).await.expect("resolves");
    expect_code(
        client.verify(authed(req(&task, &rid()), &worker)).await,
        Code::PermissionDenied,
        "the grid worker verifies his own work",
    );
    let verified = client.verify(authed(req(&task, &rid()), &center(TOWNSHIP))).await.unwrap().into_inner();
    assert_eq!(verified.status, TaskStatus::Verified as i32);

    // A second one left unsigned escalates to the township (one level above the village).
    let (_, late) = app.report(&item.code, &grid, 1).await;
    let cal = &app.refdata.calendar.calendar;
    let red = civicgrid_dispatch::domain::sla::StageClock::new(app.clock.now(), item.sign_for)
        .instant_at_fraction(cal, 1.0 + app.settings.dispatch.escalation_grace)
        .unwrap();
    app.set_time(red);
    let escalated = app
        .wait_published("task-escalated", WITHIN, |p| p.event.task_id == late[0].id && p.event.fact == "task-escalated")
        .await;
    assert_eq!(escalated.event.escalated_to, TOWNSHIP);
    app.stop().await;
}

/// Actions keep working while NATS is down: their facts wait in the outbox and are published
/// when it returns, each once and in order.
#[tokio::test]
async fn facts_of_actions_taken_while_nats_is_down_are_published_when_it_returns() {
    let mut app = spawn_app(Clock::manual(monday_9am())).await;
    let grid = app.grid_in(TOWNSHIP);
    let (item, route) = app.ordinary_item(&grid.path);
    let (_, tasks) = app.report(&item.code, &grid, 1).await;
    let task = tasks[0].clone();
    app.wait_facts(&task.id, &["task-assigned"]).await;
    let dept = department(&route.lead);
    let mut client = app.client.clone();

    app.nats.kill();
    let signed = client.sign_for(authed(req(&task, &rid()), &dept)).await.expect("sign for without NATS");
    assert_eq!(signed.into_inner().status, TaskStatus::Signed as i32);
    let resolved = client.resolve(authed(resolve(&task, &rid(), "已修复", &[]), &dept)).await.expect("resolve");
    assert_eq!(resolved.into_inner().status, TaskStatus::Resolved as i32);

    app.nats.restart().await.expect("restart nats");
    let published = app.wait_facts(&task.id, &["task-assigned", "task-signed", "task-resolved"]).await;
    let versions: Vec<i64> = published.iter().map(|p| p.event.version).collect();
    assert_eq!(versions, [1, 2, 3]);
    let ids: std::collections::HashSet<&String> = published.iter().map(|p| &p.headers["ce-id"]).collect();
    assert_eq!(ids.len(), 3);
    app.stop().await;
}
