//! The closed loop (信息汇集 → 分流交办 → 执行处置 → 复核 → 办结 → 信息反馈 → 回访) across intake,
//! dispatch and notify, through their public gRPC APIs only: a report becomes a department's
//! task, the department handles it, the center verifies and closes it, intake's public status
//! follows, notify tells the duty desk, the grid worker and the reporter, and a dissatisfied
//! callback sends it back for rework.

use std::time::Duration;

use civicgrid_e2e::Suite;

use crate::common::{as_, inbox_has, token};
use civicgrid_proto::v1::{
    EventSource, EventStatus, GeoPoint, GetEventRequest, ListTasksRequest, Location, RateOutcomeRequest, Rating,
    Reporter, ResolveRequest, SubmitEventRequest, Task, TaskRequest, TaskStatus,
    dispatch_service_client::DispatchServiceClient, intake_service_client::IntakeServiceClient,
    notify_service_client::NotifyServiceClient,
};
use tonic::transport::Channel;

pub(crate) async fn event_status(
    intake: &mut IntakeServiceClient<Channel>,
    id: &str,
    want: EventStatus,
) -> civicgrid_proto::v1::Event {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let event = intake.get_event(GetEventRequest { event_id: id.into() }).await.unwrap().into_inner();
        if event.status == want as i32 {
            return event;
        }
        assert!(tokio::time::Instant::now() < deadline, "event status {} never became {want:?}", event.status);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub(crate) async fn lead_task(dispatch: &mut DispatchServiceClient<Channel>, event_id: &str, want: TaskStatus) -> Task {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let tasks = dispatch
            .list_tasks(ListTasksRequest { event_id: event_id.into(), ..Default::default() })
            .await
            .unwrap()
            .into_inner()
            .tasks;
        if let Some(t) = tasks.into_iter().find(|t| t.lead && t.status == want as i32) {
            return t;
        }
        assert!(tokio::time::Instant::now() < deadline, "no lead task in {want:?} for event {event_id}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_report_travels_the_closed_loop_and_a_dissatisfied_callback_reopens_it() {
    let suite = tokio::task::spawn_blocking(|| Suite::up(&["--no-demo", "--quiet"])).await.unwrap();
    travel_the_closed_loop(&suite).await;
}

/// A report goes round the whole loop on `suite`, and a dissatisfied callback reopens its task.
pub(crate) async fn travel_the_closed_loop(suite: &Suite) {
    let mut intake = IntakeServiceClient::connect(format!("http://{}", suite.intake)).await.unwrap();
    let mut dispatch = DispatchServiceClient::connect(format!("http://{}", suite.dispatch)).await.unwrap();

    let report = SubmitEventRequest {
        request_id: "loop-report-0001".into(),
        source: EventSource::CitizenApp as i32,
        item_code: "01.02.003".into(),
        location: Some(Location {
            point: Some(GeoPoint { latitude: 33.6261, longitude: 114.6421 }),
            grid_code: "411602001001001".into(),
            ..Default::default()
        }),
        description: "井盖缺失，夜间行人易跌落".into(),
        reporter: Some(Reporter { phone: "13812345678".into(), ..Default::default() }),
        ..Default::default()
    };
    let answer = intake.submit_event(report).await.unwrap().into_inner();

    // 分流交办: dispatch routed it to a department; intake shows DISPATCHED.
    let task = lead_task(&mut dispatch, &answer.event_id, TaskStatus::Assigned).await;
    assert!(!task.department_id.is_empty());
    assert_eq!(task.tracking_number, answer.tracking_number);
    event_status(&mut intake, &answer.event_id, EventStatus::Dispatched).await;

    // 执行处置 by the department, 复核 and 结案 by the center.
    let department = token("department", &task.department_id);
    let center = token("center", "");
    let step = |name: &str| TaskRequest { request_id: format!("loop-{name}-0001"), task_id: task.id.clone() };
    let signed = dispatch.sign_for(as_(step("sign"), &department)).await.unwrap().into_inner();
    assert_eq!(signed.status, TaskStatus::Signed as i32);
    event_status(&mut intake, &answer.event_id, EventStatus::InProgress).await;
    let resolve = ResolveRequest {
        request_id: "loop-resolve-0001".into(),
        task_id: task.id.clone(),
        result: "已补装井盖".into(),
        evidence_urls: vec!["https://evidence.example.org/manhole-after.jpg".into()],
    };
    dispatch.resolve(as_(resolve, &department)).await.unwrap();
    event_status(&mut intake, &answer.event_id, EventStatus::Resolved).await;
    // Another department cannot close it, nor can the department itself.
    let other = token("department", "411602001-gongan");
    assert!(dispatch.close(as_(step("close-early"), &other)).await.is_err());
    dispatch.verify(as_(step("verify"), &center)).await.unwrap();
    let closed = dispatch.close(as_(step("close"), &center)).await.unwrap().into_inner();
    assert_eq!(closed.status, TaskStatus::Closed as i32);
    let event = event_status(&mut intake, &answer.event_id, EventStatus::Closed).await;
    let facts: Vec<&str> = event.history.iter().map(|h| h.fact.as_str()).collect();
    assert_eq!(facts, ["task-assigned", "task-signed", "task-resolved", "task-closed"]);

    // 信息反馈: notify told the duty desk, the grid worker and the reporter along the way.
    let mut notify = NotifyServiceClient::connect(format!("http://{}", suite.notify)).await.unwrap();
    let reporter = format!("reporter:{}", event.reports[0].reporter_id);
    let desk = format!("department:{}", task.department_id);
    for (recipient, wanted) in [
        (desk.as_str(), vec!["task-assigned"]),
        ("grid-worker:gw-411602001001001", vec!["task-resolved"]),
        (reporter.as_str(), vec!["event-reported", "task-closed"]),
    ] {
        inbox_has(&mut notify, recipient, &wanted).await;
    }

    // 回访: the reporter is dissatisfied; dispatch reopens the task for rework.
    let rate = RateOutcomeRequest {
        request_id: "loop-rate-0001".into(),
        tracking_number: answer.tracking_number.clone(),
        rating: Rating::Dissatisfied as i32,
        comment: "井盖又松动了".into(),
        phone_last4: String::new(),
    };
    intake.rate_outcome(rate).await.unwrap();
    let reopened = lead_task(&mut dispatch, &answer.event_id, TaskStatus::Assigned).await;
    assert_eq!(reopened.id, task.id);
    assert_eq!(reopened.rework_count, 1);
    event_status(&mut intake, &answer.event_id, EventStatus::Dispatched).await;
}
