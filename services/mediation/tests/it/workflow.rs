//! The workflow end to end: a dispute dispatched to the justice office becomes a case that is
//! mediated to its close while a real dispatch's task follows it (SIGNED, then RESOLVED), with
//! masked parties only on the bus; a failed mediation transferred to the court; a refused
//! dispute whose task is signed for and resolved at once; HIGH risk escalating.

use std::time::Duration;

use civicgrid_kit::clock::Clock;
use civicgrid_proto::v1::{
    AmendCaseRequest, CaseReasonRequest, CaseSource, CaseState, DisputeType, GetTaskRequest, RiskLevel, SetRiskRequest,
    TaskStatus, TransferCaseRequest, TransferTarget,
};

use crate::helpers::*;

impl TestApp {
    /// The dispatch task `id`'s status, as an administrator of dispatch sees it.
    async fn task_status(&self, id: &str) -> TaskStatus {
        let d = self.dispatch.as_ref().expect("a dispatch");
        let req = GetTaskRequest { task_id: id.into() };
        let task = d.client.clone().get_task(authed(req, &admin())).await.expect("get task").into_inner();
        TaskStatus::try_from(task.status).unwrap()
    }

    async fn wait_for_task(&self, id: &str, status: TaskStatus) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let now = self.task_status(id).await;
            if now == status {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "task {id} is {now:?}, not {status:?}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

#[tokio::test]
async fn a_dispatched_dispute_is_mediated_to_its_close_with_the_task_in_step() {
    let app = spawn_with_dispatch(Clock::manual(monday_9am())).await;
    // A neighbour dispute reported in a grid of 七一路社区 goes to 陈州街道司法所.
    let event_id = app.report_dispute("06.01.002", "411602001001001").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let case = loop {
        let cases = app.list(Default::default(), &admin()).await;
        if let Some(c) = cases.into_iter().find(|c| c.event_id == event_id) {
            break c;
        }
        assert!(tokio::time::Instant::now() < deadline, "no case for the dispatched dispute");
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert_eq!(case.source, CaseSource::Event as i32);
    assert_eq!(case.dispute_type, DisputeType::Neighbour as i32);
    assert_eq!((case.organisation_id.as_str(), case.mediator_id.as_str()), (ORGANISATION, MEDIATOR));
    assert_eq!(case.state, CaseState::Applied as i32);
    assert!(case.parties.is_empty(), "intake's reporter does not reach mediation");
    assert!(case.case_number.starts_with("调411602-20261116-"), "{}", case.case_number);
    let office = department(JUSTICE_OFFICE);
    app.wait_for_task(&case.task_id, TaskStatus::Assigned).await;

    // The justice office adds the parties, accepts: dispatch's task is signed for.
    let amend = AmendCaseRequest { parties: vec![applicant(), respondent()], ..Default::default() };
    let case = app.amend(&case.id, amend, &office).await;
    assert_eq!(case.parties.len(), 2);
    assert_eq!(case.parties[0].name_masked, "张**");
    assert_eq!(case.parties[0].phone_masked, "138****5678");
    app.accept(&case.id, &office).await;
    app.wait_for_task(&case.task_id, TaskStatus::Signed).await;

    // The mediator holds a session and records the agreement: the task is resolved.
    let me = mediator(MEDIATOR);
    app.hold_session(&case.id, &me).await;
    let agreed = app.agree(&case.id, &me).await;
    assert_eq!(agreed.state, CaseState::Agreed as i32);
    let confirmation_window = agreed.deadlines.iter().find(|d| d.name == "confirmation-window");
    assert!(confirmation_window.is_some(), "{:?}", agreed.deadlines);
    app.wait_for_task(&case.task_id, TaskStatus::Resolved).await;

    // Judicial confirmation, the follow-up, the close.
    let applied = app.apply_confirmation(&case.id, &me).await;
    assert!(applied.confirmation.as_ref().is_some_and(|c| c.apply_by.is_some() && c.applied_at.is_some()));
    app.court(&case.id, "accepted", &me).await;
    let ruled = app.court(&case.id, "confirmed", &me).await;
    assert_eq!(ruled.confirmation.unwrap().ruling, "confirmed");
    app.follow_up(&case.id, "performed", &me).await;
    let closed = app.close(&case.id, &office).await;
    assert_eq!(closed.state, CaseState::Closed as i32);
    assert!(closed.closed_at.is_some());

    let facts = app.facts_of(&case.id).await;
    let names: Vec<&str> = facts.iter().map(|f| f.fact.as_str()).collect();
    assert_eq!(
        names,
        [
            "case-opened",
            "case-assigned",
            "case-amended",
            "case-accepted",
            "case-session-scheduled",
            "case-session-held",
            "case-agreement-reached",
            "case-confirmation-applied",
            "case-confirmation-accepted",
            "case-confirmation-ruled",
            "case-followed-up",
            "case-closed",
        ]
    );
    let versions: Vec<i64> = facts.iter().map(|f| f.version).collect();
    assert_eq!(versions, (1..=12).collect::<Vec<_>>());
    assert_eq!(facts[0].task_id, case.task_id);
    assert_eq!(facts[2].parties[1].name_masked, "李**");
    assert!(
        facts[2].parties[1].id_number_masked.starts_with("4116") && facts[2].parties[1].id_number_masked.contains('*')
    );
    // No personal data in clear anywhere on the bus.
    for message in app.published().await {
        for secret in secrets() {
            let bytes = secret.as_bytes();
            assert!(!message.payload.windows(bytes.len()).any(|w| w == bytes), "{secret} on {}", message.subject);
        }
    }
    // The agreement document is the one place with the parties in full.
    let doc = app
        .client
        .clone()
        .get_agreement_document(authed(
            civicgrid_proto::v1::GetAgreementDocumentRequest {
                case_id: case.id.clone(),
                request_id: rid(),
                purpose: "存档".into(),
            },
            &office,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(doc.text.contains("申请人：张三丰") && doc.text.contains(&applicant().id_number), "{}", doc.text);
    assert!(doc.text.contains("陈州街道七一路社区人民调解委员会"), "{}", doc.text);
    app.stop().await;
}

#[tokio::test]
async fn a_dispute_refused_before_acceptance_resolves_its_task() {
    let app = spawn_with_dispatch(Clock::manual(monday_9am())).await;
    let event_id = app.report_dispute("06.01.004", "411602001001001").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let case = loop {
        if let Some(c) = app.list(Default::default(), &admin()).await.into_iter().find(|c| c.event_id == event_id) {
            break c;
        }
        assert!(tokio::time::Instant::now() < deadline, "no case");
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert_eq!(case.dispute_type, DisputeType::Debt as i32);
    // Refused at once: the link signs for the task, then resolves it with the refusal.
    let req = CaseReasonRequest { request_id: rid(), case_id: case.id.clone(), reason: "已进入诉讼程序".into() };
    let refused = app.client.clone().refuse_case(authed(req, &department(JUSTICE_OFFICE))).await.unwrap().into_inner();
    assert_eq!(refused.state, CaseState::Refused as i32);
    app.wait_for_task(&case.task_id, TaskStatus::Resolved).await;
    app.stop().await;
}

#[tokio::test]
async fn a_failed_mediation_is_transferred_to_the_court() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let org = department(ORGANISATION);
    let case = app.open(application(VILLAGE), &org).await;
    assert_eq!(case.organisation_id, ORGANISATION);
    app.accept(&case.id, &org).await;
    app.hold_session(&case.id, &mediator(MEDIATOR)).await;
    let failed = app.fail(&case.id, &mediator(MEDIATOR)).await;
    assert_eq!(failed.state, CaseState::Failed as i32);
    let req = TransferCaseRequest {
        request_id: rid(),
        case_id: case.id.clone(),
        target: TransferTarget::Court as i32,
        reason: "调解不成，申请人起诉".into(),
    };
    let moved = app.client.clone().transfer_case(authed(req, &org)).await.unwrap().into_inner();
    assert_eq!(moved.state, CaseState::Transferred as i32);
    assert_eq!(moved.transferred_to, TransferTarget::Court as i32);
    assert!(moved.closed_at.is_some());
    let facts = app.facts_of(&case.id).await;
    let last = facts.last().unwrap();
    assert_eq!((last.fact.as_str(), last.transferred_to), ("case-transferred", TransferTarget::Court as i32));
    assert!(facts.iter().any(|f| f.fact == "case-failed" && f.reason == "双方分歧过大，调解不成"));
    // Final: nothing more can happen.
    let again = civicgrid_proto::v1::CaseRequest { request_id: rid(), case_id: case.id.clone() };
    let answer = app.client.clone().accept_case(authed(again, &org)).await;
    expect_code(answer, tonic::Code::FailedPrecondition, "accept a transferred case");
    app.stop().await;
}

#[tokio::test]
async fn high_risk_escalates_at_once() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let high = civicgrid_proto::v1::OpenCaseRequest { risk: RiskLevel::High as i32, ..application(VILLAGE) };
    let case = app.open(high, &admin()).await;
    assert_eq!(app.fact_names(&case.id).await, ["case-opened", "case-assigned", "case-escalated"]);
    // A center raises another case to HIGH.
    let other = app.open(application(OTHER_VILLAGE), &admin()).await;
    let req = SetRiskRequest {
        request_id: rid(),
        case_id: other.id.clone(),
        risk: RiskLevel::High as i32,
        reason: "一方扬言报复，有民转刑风险".into(),
    };
    let raised = app.client.clone().set_risk(authed(req, &center(TOWNSHIP))).await.unwrap().into_inner();
    assert_eq!(raised.risk, RiskLevel::High as i32);
    let facts = app.facts_of(&other.id).await;
    let tail: Vec<(&str, &str)> = facts.iter().skip(2).map(|f| (f.fact.as_str(), f.reason.as_str())).collect();
    assert_eq!(
        tail,
        [("case-risk-changed", "一方扬言报复，有民转刑风险"), ("case-escalated", "一方扬言报复，有民转刑风险")]
    );
    let listed = app
        .list(
            civicgrid_proto::v1::ListCasesRequest { risk: RiskLevel::High as i32, ..Default::default() },
            &center(TOWNSHIP),
        )
        .await;
    assert_eq!(listed.len(), 2);
    app.stop().await;
}

#[tokio::test]
async fn a_breached_or_invalid_agreement_reopens_the_case() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let (org, me) = (department(ORGANISATION), mediator(MEDIATOR));
    let case = app.open(application(VILLAGE), &org).await;
    app.accept(&case.id, &org).await;
    app.agree(&case.id, &me).await;
    let req = civicgrid_proto::v1::RecordFollowUpRequest {
        request_id: rid(),
        case_id: case.id.clone(),
        performance: "breached".into(),
        note: "被申请人未按期支付".into(),
        reopen: true,
    };
    let reopened = app.client.clone().record_follow_up(authed(req, &me)).await.unwrap().into_inner();
    assert_eq!(reopened.state, CaseState::InMediation as i32);
    assert!(reopened.agreement.is_none());
    assert!(reopened.deadlines.iter().any(|d| d.name == "mediation"), "{:?}", reopened.deadlines);
    // A second agreement, ruled invalid by the court: mediation again.
    app.agree(&case.id, &me).await;
    app.apply_confirmation(&case.id, &me).await;
    app.court(&case.id, "accepted", &me).await;
    let invalid = app.court(&case.id, "invalid", &me).await;
    assert_eq!(invalid.state, CaseState::InMediation as i32);
    let names = app.fact_names(&case.id).await;
    assert_eq!(&names[names.len() - 2..], ["case-confirmation-ruled", "case-reopened"]);
    assert_eq!(names.iter().filter(|n| *n == "case-reopened").count(), 2);
    // Closing waits for a performed follow-up of an agreement in force.
    let close = civicgrid_proto::v1::CaseRequest { request_id: rid(), case_id: case.id.clone() };
    expect_code(app.client.clone().close_case(authed(close, &org)).await, tonic::Code::FailedPrecondition, "close");
    app.stop().await;
}

#[tokio::test]
async fn mediators_are_assigned_by_hand_or_by_choice() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let org = department(ORGANISATION);
    let case = app.open(application(VILLAGE), &org).await;
    assert_eq!(case.mediator_id, MEDIATOR);
    let assign = |mediator_id: &str| civicgrid_proto::v1::AssignMediatorRequest {
        request_id: rid(),
        case_id: case.id.clone(),
        mediator_id: mediator_id.into(),
    };
    let by_hand = app.client.clone().assign_mediator(authed(assign("med-411602001001-cw-02"), &org)).await.unwrap();
    assert_eq!(by_hand.into_inner().mediator_id, "med-411602001001-cw-02");
    // The previous mediator no longer sees it; the service's choice is another than the current.
    let get = civicgrid_proto::v1::GetCaseRequest { case_id: case.id.clone() };
    expect_code(
        app.client.clone().get_case(authed(get, &mediator(MEDIATOR))).await,
        tonic::Code::NotFound,
        "old mediator",
    );
    let chosen = app.client.clone().assign_mediator(authed(assign(""), &org)).await.unwrap().into_inner();
    assert_eq!(chosen.mediator_id, MEDIATOR);
    let assigned = app.fact_names(&case.id).await.iter().filter(|n| *n == "case-assigned").count();
    assert_eq!(assigned, 3);
    app.stop().await;
}
