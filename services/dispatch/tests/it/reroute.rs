//! 回退 and 改派: a department returns a task that is not theirs, a center gives it to another,
//! and a task bounced between three departments escalates — once.

use civicgrid_kit::clock::Clock;
use civicgrid_proto::v1::{
    GetTaskRequest, ListTasksRequest, Task, TaskReasonRequest, TaskRequest, TaskStatus, TriageRequest,
};
use tonic::Code;

use crate::helpers::*;

fn give_back(task: &Task, why: &str) -> TaskReasonRequest {
    TaskReasonRequest { request_id: rid(), task_id: task.id.clone(), reason: why.into() }
}

fn triage(task: &Task, department_id: &str) -> TriageRequest {
    TriageRequest { request_id: rid(), task_id: task.id.clone(), department_id: department_id.into() }
}

#[tokio::test]
async fn returned_tasks_go_back_to_triage_and_three_departments_escalate_it_once() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let grid = app.grid_in(TOWNSHIP);
    let (item, route) = app.ordinary_item(&grid.path);
    let (_, tasks) = app.report(&item.code, &grid, 1).await;
    let task = tasks[0].clone();
    let first = route.lead.clone();
    let others: Vec<String> = app
        .departments_serving(&grid.path, &[first.as_str()])
        .into_iter()
        .filter(|d| d.starts_with(TOWNSHIP))
        .collect();
    let (second, third, fourth) = (others[0].clone(), others[1].clone(), others[2].clone());
    let centre = center(TOWNSHIP);
    let mut client = app.client.clone();

    // The first department says it is not theirs.
    app.set_time(local("2026-11-16 09:20"));
    let retry = give_back(&task, "不属于本部门职责");
    let returned = client.return_task(authed(retry.clone(), &department(&first))).await.unwrap().into_inner();
    assert_eq!(returned.status, TaskStatus::AwaitingTriage as i32);
    assert_eq!(returned.department_id, "", "the department is cleared");
    assert_eq!(returned.returned_by, std::slice::from_ref(&first));
    assert_eq!(returned.version, 2);
    assert!(!returned.escalated);
    assert_eq!(client.return_task(authed(retry, &department(&first))).await.unwrap().into_inner(), returned);
    let published = app.wait_facts(&task.id, &["task-assigned", "task-returned"]).await;
    let fact = &published[1].event;
    assert_eq!(fact.status, TaskStatus::AwaitingTriage as i32);
    assert_eq!(fact.reason, "不属于本部门职责");
    assert_eq!(fact.actor.as_ref().map(|a| a.department_id.as_str()), Some(first.as_str()));
    assert_eq!(fact.version, 2);
    // It is no longer theirs: they neither see nor touch it.
    expect_code(
        client.get_task(authed(GetTaskRequest { task_id: task.id.clone() }, &department(&first))).await,
        Code::NotFound,
        "the returning department reads the task",
    );
    expect_code(
        client.sign_for(authed(TaskRequest { request_id: rid(), task_id: task.id.clone() }, &department(&first))).await,
        Code::NotFound,
        "the returning department signs for it",
    );
    // It waits in the township's triage queue.
    let queue = client
        .list_tasks(authed(
            ListTasksRequest { statuses: vec![TaskStatus::AwaitingTriage as i32], ..Default::default() },
            &centre,
        ))
        .await
        .unwrap()
        .into_inner()
        .tasks;
    assert_eq!(queue.len(), 1);
    assert_eq!(queue[0].id, task.id);

    // The center gives it to a second department, which signs for it and returns it too.
    app.set_time(local("2026-11-16 09:30"));
    let rerouted = client.triage(authed(triage(&task, &second), &centre)).await.unwrap().into_inner();
    assert_eq!(rerouted.status, TaskStatus::Assigned as i32);
    assert_eq!(rerouted.department_id, second);
    assert_eq!(rerouted.returned_by, std::slice::from_ref(&first));
    assert_eq!(deadline_of(&rerouted.clocks[0]), Some(local("2026-11-16 11:30")), "a fresh sign-for clock");
    client
        .sign_for(authed(TaskRequest { request_id: rid(), task_id: task.id.clone() }, &department(&second)))
        .await
        .unwrap();
    expect_code(
        client.triage(authed(triage(&task, &third), &centre)).await,
        Code::FailedPrecondition,
        "re-assigning a task already signed for",
    );
    client.return_task(authed(give_back(&task, "应由住建部门处置"), &department(&second))).await.unwrap();

    // Nobody escalates after two departments; the third return escalates it to the county.
    let after_two = app.facts_of(&task.id).await;
    assert!(!after_two.iter().any(|f| f == "task-escalated"), "{after_two:?}");
    client.triage(authed(triage(&task, &third), &centre)).await.unwrap();
    let third_return = client.return_task(authed(give_back(&task, "非本部门事项"), &department(&third))).await.unwrap();
    let third_return = third_return.into_inner();
    assert_eq!(third_return.returned_by, [first.clone(), second.clone(), third.clone()]);
    let escalated = app
        .wait_published("task-escalated", WITHIN, |p| p.event.task_id == task.id && p.event.fact == "task-escalated")
        .await;
    assert_eq!(escalated.event.escalated_to, COUNTY, "a township's task escalates to its county");
    assert!(escalated.event.escalated);
    assert_eq!(escalated.event.reason, "returned");
    assert!(escalated.subject.starts_with("civicgrid.dispatch.task-escalated.411600.411602.411602001."));
    let now = app.task(&task.id).await;
    assert!(now.escalated);
    assert_eq!(now.status, TaskStatus::AwaitingTriage as i32);

    // It escalated once: a fourth department taking it up, signing for it and resolving it
    // raises no new escalation for the same returns.
    client.triage(authed(triage(&task, &fourth), &centre)).await.unwrap();
    client
        .sign_for(authed(TaskRequest { request_id: rid(), task_id: task.id.clone() }, &department(&fourth)))
        .await
        .unwrap();
    let facts = app.wait_facts_at_least(&task.id, 10).await;
    let escalations = facts.iter().filter(|f| *f == "task-escalated").count();
    assert_eq!(
        escalations, 1,
        "a task returned by three departments escalates once, not again at every new stage: {facts:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_department_can_return_only_before_it_has_reported_a_fix() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let grid = app.grid_in(TOWNSHIP);
    let (item, route) = app.ordinary_item(&grid.path);
    let (_, tasks) = app.report(&item.code, &grid, 1).await;
    let task = tasks[0].clone();
    let dept = department(&route.lead);
    let mut client = app.client.clone();
    client.sign_for(authed(TaskRequest { request_id: rid(), task_id: task.id.clone() }, &dept)).await.unwrap();
    client
        .resolve(authed(
            civicgrid_proto::v1::ResolveRequest {
                request_id: rid(),
                task_id: task.id.clone(),
                result: "已处置".into(),
                evidence_urls: vec![],
            },
            &dept,
        ))
        .await
        .unwrap();
    expect_code(
        client.return_task(authed(give_back(&task, "不是我们的"), &dept)).await,
        Code::FailedPrecondition,
        "returning a resolved task",
    );
    // A center cannot return on a department's behalf.
    expect_code(
        client.return_task(authed(give_back(&task, "不是我们的"), &center(TOWNSHIP))).await,
        Code::PermissionDenied,
        "a center returns",
    );
    app.stop().await;
}
