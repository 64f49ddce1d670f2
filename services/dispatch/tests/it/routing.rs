//! Reported events become tasks: routed to the responsible department (and assisting ones),
//! once however often the event is delivered; unroutable ones wait for a center to triage them.

use civicgrid_dispatch::domain::sla::StageClock as DomainClock;
use civicgrid_kit::{clock::Clock, region};
use civicgrid_proto::v1::{
    GetTaskRequest, ListTasksRequest, Stage, TaskStatus, TimeType, TriageRequest, WarningColour,
};
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn a_reported_event_is_assigned_to_its_departments_once() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let grid = app.grid_in(TOWNSHIP);
    let (item, route) = app.ordinary_item(&grid.path);
    assert_eq!(route.center_region, TOWNSHIP, "a routine item is coordinated by the township");

    let (r, tasks) = app.report(&item.code, &grid, 1).await;
    let event = event_id(&r);
    assert_eq!(tasks.len(), 1, "one department: one task");
    let task = &tasks[0];
    assert_eq!(task.event_id, event);
    assert_eq!(task.department_id, route.lead);
    assert!(task.lead);
    assert_eq!(task.status, TaskStatus::Assigned as i32);
    assert_eq!(task.item_code, item.code);
    assert_eq!(task.item_name, item.name);
    assert_eq!(task.grid_code, grid.code);
    assert_eq!(task.region.as_ref(), Some(&grid.path));
    assert_eq!(task.whistle, "routine");
    assert_eq!(task.version, 1);
    assert_eq!(task.colour, WarningColour::Blue as i32);
    assert!(!task.escalated);

    // The sign-for clock: 2 working hours from Monday 09:00 is Monday 11:00.
    assert_eq!(task.clocks.len(), 1, "only the sign-for stage has started: {:?}", task.clocks);
    let clock = &task.clocks[0];
    assert_eq!(clock.stage, Stage::SignFor as i32);
    assert_eq!(clock.limit, 2);
    assert_eq!(clock.time_type, TimeType::WorkingHours as i32);
    assert_eq!(deadline_of(clock), Some(local("2026-11-16 11:00")));
    assert_eq!(clock.used_fraction, 0.0);
    assert!(!clock.paused && clock.stopped_at.is_none());

    // `task-assigned` on CIVICGRID_DISPATCH, with the CloudEvents headers.
    let published = app.wait_facts(&task.id, &["task-assigned"]).await;
    let p = &published[0];
    assert_eq!(p.subject, format!("civicgrid.dispatch.task-assigned.{}", region::subject_tokens(&grid.path)));
    let h = &p.headers;
    assert_eq!(h.get("ce-specversion").map(String::as_str), Some("1.0"));
    assert_eq!(h.get("ce-type").map(String::as_str), Some("civicgrid.v1.TaskEvent"));
    assert_eq!(h.get("ce-source").map(String::as_str), Some("civicgrid/dispatch"));
    assert_eq!(h.get("ce-subject"), Some(&task.id));
    assert_eq!(h.get("content-type").map(String::as_str), Some("application/protobuf"));
    let ce_id = uuid::Uuid::parse_str(h.get("ce-id").expect("ce-id")).expect("ce-id is a UUID");
    assert_eq!(ce_id.get_version_num(), 7, "ce-id is a UUIDv7");
    assert_eq!(h.get("Nats-Msg-Id"), h.get("ce-id"), "Nats-Msg-Id repeats ce-id");
    assert!(chrono::DateTime::parse_from_rfc3339(h.get("ce-time").expect("ce-time")).is_ok());
    let e = &p.event;
    assert_eq!(e.fact, "task-assigned");
    assert_eq!(e.event_id, event);
    assert_eq!(e.status, TaskStatus::Assigned as i32);
    assert_eq!(e.department_id, route.lead);
    assert_eq!(e.version, 1);
    assert!(e.lead);
    assert_eq!(e.item_code, item.code);
    assert_eq!(e.region.as_ref(), Some(&grid.path));
    assert_eq!(e.colour, WarningColour::Blue as i32);
    assert_eq!((e.grid_code.as_str(), e.grid_worker_id.as_str()), (grid.code.as_str(), grid.grid_worker.as_str()));
    assert_eq!(e.tracking_number, task.tracking_number);

    // Redelivery of the same fact (same ce-id, new Nats-Msg-Id, as after the duplicate
    // window) and a second publication of the same event (new ce-id) create nothing.
    let first_ce_id = uuid::Uuid::now_v7().to_string();
    let again = reported(&item.code, &grid, app.clock.now());
    app.publish_reported_as(&again, &first_ce_id, &first_ce_id).await;
    let again_tasks = app.tasks_of(&event_id(&again), 1).await;
    app.publish_reported_as(&again, &first_ce_id, &uuid::Uuid::now_v7().to_string()).await;
    app.publish_reported(&again).await;
    app.publish_reported_as(&r, &uuid::Uuid::now_v7().to_string(), &uuid::Uuid::now_v7().to_string()).await;
    // A later event, consumed after those: once its task exists, the repeats were handled.
    let (_, sentinel) = app.report(&item.code, &grid, 1).await;
    app.wait_facts(&sentinel[0].id, &["task-assigned"]).await;
    assert_eq!(app.list_for_event(&event_id(&again)).await.len(), 1, "redelivery created a task");
    assert_eq!(app.list_for_event(&event).await.len(), 1, "republication created a task");
    assert_eq!(app.facts_of(&again_tasks[0].id).await, ["task-assigned"]);
    assert_eq!(app.facts_of(&task.id).await, ["task-assigned"]);
    let assigned = app.published().await.into_iter().filter(|p| p.event.fact == "task-assigned").count();
    assert_eq!(assigned, 3, "one task-assigned per event");
    app.stop().await;
}

#[tokio::test]
async fn an_item_naming_several_kinds_gets_a_lead_and_assisting_tasks() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let grid = app.grid_in(TOWNSHIP);
    let (item, route) = app.item_with_assisting(&grid.path);
    let n = 1 + route.assisting.len();
    let (_, tasks) = app.report(&item.code, &grid, n).await;
    assert_eq!(tasks.len(), n);
    assert!(tasks[0].lead);
    assert_eq!(tasks[0].department_id, route.lead);
    let mut assisting: Vec<&str> = tasks[1..].iter().map(|t| t.department_id.as_str()).collect();
    assisting.sort();
    let mut expected: Vec<&str> = route.assisting.iter().map(String::as_str).collect();
    expected.sort();
    assert_eq!(assisting, expected);
    for t in &tasks {
        assert_eq!(t.status, TaskStatus::Assigned as i32);
        assert_eq!(t.lead, t.department_id == route.lead);
        assert_eq!(t.clocks.len(), 1);
        assert_eq!(t.clocks[0].stage, Stage::SignFor as i32);
        assert_eq!(t.clocks[0].limit, item.sign_for.amount);
        let published = app.wait_facts(&t.id, &["task-assigned"]).await;
        assert_eq!(published[0].event.lead, t.lead);
        assert_eq!(published[0].event.department_id, t.department_id);
    }
    // Each department sees its own task of the event.
    for t in &tasks {
        let mut client = app.client.clone();
        let got = client
            .get_task(authed(GetTaskRequest { task_id: t.id.clone() }, &department(&t.department_id)))
            .await
            .expect("own task");
        assert_eq!(got.into_inner().id, t.id);
    }
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_item_waits_for_triage_and_a_center_assigns_it() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let grid = app.grid_in(TOWNSHIP);
    let (_, tasks) = app.report("99.99.999", &grid, 1).await;
    let task = &tasks[0];
    assert_eq!(task.status, TaskStatus::AwaitingTriage as i32);
    assert_eq!(task.department_id, "");
    assert!(task.clocks.is_empty(), "no clock runs in triage: {:?}", task.clocks);
    assert_eq!(task.colour, WarningColour::Unspecified as i32);
    let published = app.wait_facts(&task.id, &["task-awaiting-triage"]).await;
    assert_eq!(published[0].event.status, TaskStatus::AwaitingTriage as i32);
    assert!(published[0].subject.starts_with("civicgrid.dispatch.task-awaiting-triage.411600.411602.411602001."));

    // The triage queue of the township's center.
    let mut client = app.client.clone();
    let queue = client
        .list_tasks(authed(
            ListTasksRequest { statuses: vec![TaskStatus::AwaitingTriage as i32], ..Default::default() },
            &center(TOWNSHIP),
        ))
        .await
        .unwrap()
        .into_inner()
        .tasks;
    assert_eq!(queue.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), [task.id.as_str()]);

    // Not to a department of another region; not to one that does not exist; not by a
    // department.
    let elsewhere = app.department_not_serving(&grid.path);
    let triage = |department_id: &str, request_id: String| TriageRequest {
        request_id,
        task_id: task.id.clone(),
        department_id: department_id.into(),
    };
    expect_invalid(
        client.triage(authed(triage(&elsewhere, rid()), &center(TOWNSHIP))).await,
        "department_id",
        "triage to a department not serving the region",
    );
    expect_invalid(
        client.triage(authed(triage("no-such-department", rid()), &center(TOWNSHIP))).await,
        "department_id",
        "triage to an unknown department",
    );
    expect_invalid(
        client.triage(authed(triage("", rid()), &center(TOWNSHIP))).await,
        "department_id",
        "triage to no department",
    );
    let serving = app.departments_serving(&grid.path, &[]);
    let target = serving.iter().find(|d| d.starts_with(TOWNSHIP)).expect("a township department").clone();
    expect_code(
        client.triage(authed(triage(&target, rid()), &department(&target))).await,
        Code::PermissionDenied,
        "a department may not triage (the access table), whatever the task",
    );
    expect_code(
        client.triage(authed(triage(&target, rid()), &center("411602002"))).await,
        Code::NotFound,
        "a center of another township",
    );

    let answer = client.triage(authed(triage(&target, rid()), &center(TOWNSHIP))).await.unwrap().into_inner();
    assert_eq!(answer.status, TaskStatus::Assigned as i32);
    assert_eq!(answer.department_id, target);
    assert_eq!(answer.version, 2);
    let published = app.wait_facts(&task.id, &["task-awaiting-triage", "task-assigned"]).await;
    assert_eq!(published[1].event.department_id, target);
    assert_eq!(published[1].event.version, 2);
    app.stop().await;
}

#[tokio::test]
async fn an_event_known_only_to_its_county_is_triaged_to_a_county_department() {
    // No township, so no routine route: it waits for the county's center.
    let start = monday_9am();
    let app = spawn_app(Clock::manual(start)).await;
    let place = county_only(COUNTY);
    let (item, _) = app.ordinary_item(&app.grid_in(TOWNSHIP).path);
    assert!(app.route(&item, &place.path).is_none());
    let (_, tasks) = app.report(&item.code, &place, 1).await;
    let task = &tasks[0];
    assert_eq!(task.status, TaskStatus::AwaitingTriage as i32);
    assert!(task.clocks.is_empty());
    let published = app.wait_facts(&task.id, &["task-awaiting-triage"]).await;
    assert_eq!(published[0].subject, "civicgrid.dispatch.task-awaiting-triage.411600.411602._._");

    app.set_time(local("2026-11-16 09:30"));
    let mut client = app.client.clone();
    // A township's department does not serve a place not known to be in its township.
    let township_department = app
        .departments_serving(&app.grid_in(TOWNSHIP).path, &[])
        .into_iter()
        .find(|d| d.starts_with(TOWNSHIP))
        .expect("township department");
    expect_invalid(
        client
            .triage(authed(
                TriageRequest { request_id: rid(), task_id: task.id.clone(), department_id: township_department },
                &center(COUNTY),
            ))
            .await,
        "department_id",
        "a township department for a county-level place",
    );
    let target = app.departments_serving(&place.path, &[])[0].clone();
    assert!(target.starts_with(&format!("{COUNTY}-")), "{target}");
    let answer = client
        .triage(authed(
            TriageRequest { request_id: rid(), task_id: task.id.clone(), department_id: target.clone() },
            &center(COUNTY),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.status, TaskStatus::Assigned as i32);
    assert_eq!(answer.department_id, target);
    assert_eq!(answer.clocks.len(), 1);
    let clock = &answer.clocks[0];
    assert_eq!(clock.stage, Stage::SignFor as i32);
    assert_eq!(clock.limit, item.sign_for.amount);
    let expected = DomainClock::new(local("2026-11-16 09:30"), item.sign_for)
        .deadline(&app.refdata.calendar.calendar)
        .expect("deadline");
    assert_eq!(expected, local("2026-11-16 11:30"));
    assert_eq!(deadline_of(clock), Some(expected), "the clock starts at the triage, not at the report");
    assert_eq!(answer.colour, WarningColour::Blue as i32);
    app.stop().await;
}

#[tokio::test]
async fn a_poison_message_is_dead_lettered_and_does_not_hold_up_the_rest() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let grid = app.grid_in(TOWNSHIP);
    let (item, _) = app.ordinary_item(&grid.path);
    let bad = uuid::Uuid::now_v7().to_string();
    app.publish_intake("event-reported", &grid.path, "EventReported", "x", vec![0xde, 0xad, 0xbe, 0xef], &bad, &bad)
        .await;
    let odd = uuid::Uuid::now_v7().to_string();
    app.publish_intake("event-reported", &grid.path, "SomethingElse", "x", vec![], &odd, &odd).await;
    // Consumed after them all the same.
    let (_, tasks) = app.report(&item.code, &grid, 1).await;
    assert_eq!(tasks[0].status, TaskStatus::Assigned as i32);

    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    let dead = loop {
        let mut stream = app.js.get_stream(civicgrid_kit::bus::DEADLETTER_STREAM).await.expect("dead-letter stream");
        let n = stream.info().await.map(|i| i.state.messages).unwrap_or(0);
        if n >= 2 {
            break n;
        }
        assert!(tokio::time::Instant::now() < deadline, "{n} of 2 messages dead-lettered");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(dead, 2);
    let stream = app.js.get_stream(civicgrid_kit::bus::DEADLETTER_STREAM).await.unwrap();
    for seq in 1..=2 {
        let m = stream.get_raw_message(seq).await.expect("dead letter");
        assert_eq!(m.subject.as_str(), "civicgrid.deadletter.dispatch.dispatch-intake");
        let reason = m.headers.get("civicgrid-dlq-reason").map(|v| v.as_str().to_string()).unwrap_or_default();
        assert!(!reason.is_empty(), "a dead letter says why");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_center_dismisses_a_report_from_triage() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let grid = app.grid_in(TOWNSHIP);
    let (_, tasks) = app.report("99.99.998", &grid, 1).await;
    let task = &tasks[0];
    let mut client = app.client.clone();
    let dismiss = |reason: &str| civicgrid_proto::v1::TaskReasonRequest {
        request_id: rid(),
        task_id: task.id.clone(),
        reason: reason.into(),
    };
    expect_invalid(client.dismiss(authed(dismiss(""), &center(TOWNSHIP))).await, "reason", "dismiss without a reason");
    let closed = client.dismiss(authed(dismiss("重复上报，不予立案"), &center(TOWNSHIP))).await.unwrap().into_inner();
    assert_eq!(closed.status, TaskStatus::Closed as i32);
    let published = app.wait_facts(&task.id, &["task-awaiting-triage", "task-closed"]).await;
    assert_eq!(published[1].event.reason, "重复上报，不予立案");
    expect_code(
        client.dismiss(authed(dismiss("再次驳回"), &center(TOWNSHIP))).await,
        Code::FailedPrecondition,
        "dismissing twice",
    );
    // An assigned task cannot be dismissed: it is a case.
    let (item, route) = app.ordinary_item(&grid.path);
    let assigned = app.report(&item.code, &grid, 1).await.1.remove(0);
    assert_eq!(assigned.department_id, route.lead);
    expect_code(
        client
            .dismiss(authed(
                civicgrid_proto::v1::TaskReasonRequest {
                    request_id: rid(),
                    task_id: assigned.id.clone(),
                    reason: "不予立案".into(),
                },
                &center(TOWNSHIP),
            ))
            .await,
        Code::FailedPrecondition,
        "dismissing an assigned task",
    );
    app.stop().await;
}

#[tokio::test]
async fn task_lists_page_without_gaps_or_repeats_and_filter_by_status() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let grid = app.grid_in(TOWNSHIP);
    let (item, route) = app.ordinary_item(&grid.path);
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(app.report(&item.code, &grid, 1).await.1.remove(0).id);
    }
    let dept = department(&route.lead);
    let mut client = app.client.clone();
    client
        .sign_for(authed(civicgrid_proto::v1::TaskRequest { request_id: rid(), task_id: ids[1].clone() }, &dept))
        .await
        .unwrap();
    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = client
            .list_tasks(authed(
                ListTasksRequest { page_size: 2, page_token: token.clone(), ..Default::default() },
                &dept,
            ))
            .await
            .unwrap()
            .into_inner();
        pages += 1;
        assert!(page.tasks.len() <= 2);
        seen.extend(page.tasks.into_iter().map(|t| t.id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(pages, 3);
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first, "every task once, newest first");
    let signed = client
        .list_tasks(authed(ListTasksRequest { statuses: vec![TaskStatus::Signed as i32], ..Default::default() }, &dept))
        .await
        .unwrap()
        .into_inner()
        .tasks;
    assert_eq!(signed.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), [ids[1].as_str()]);
    expect_invalid(
        client.list_tasks(authed(ListTasksRequest { statuses: vec![0], ..Default::default() }, &dept)).await,
        "statuses[0]",
        "an unspecified status",
    );
    expect_invalid(
        client.list_tasks(authed(ListTasksRequest { page_size: 501, ..Default::default() }, &dept)).await,
        "page_size",
        "a page too large",
    );
    expect_invalid(
        client.list_tasks(authed(ListTasksRequest { page_token: "!!".into(), ..Default::default() }, &dept)).await,
        "page_token",
        "a made-up page token",
    );
    expect_invalid(
        client.get_task(authed(civicgrid_proto::v1::GetTaskRequest { task_id: "42".into() }, &dept)).await,
        "task_id",
        "GetTask with a task_id that is not a UUID",
    );
    app.stop().await;
}
