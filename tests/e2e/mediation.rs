//! Mediation across the suite, through public gRPC and NATS only: a dispute reported on intake
//! becomes a case at the justice office's committee, is mediated to an agreement, confirmed by
//! the court, followed up and closed, while the dispatch task follows (signed on acceptance,
//! resolved with the outcome) and the center closes the event; a high-risk application reaches
//! the township center's and the police station's inboxes at once; the parties' personal data
//! never travels on the bus.

use std::time::Duration;

use civicgrid_e2e::Suite;
use civicgrid_proto::v1::{
    Agreement, AmendCaseRequest, ApplyConfirmationRequest, CaseRequest, CaseSource, CaseState, DisputeType,
    EventSource, EventStatus, GeoPoint, ListCasesRequest, Location, MediationCase, OpenCaseRequest, PartyInput,
    PartyRole, RecordAgreementRequest, RecordConfirmationRequest, RecordFollowUpRequest, RecordSessionRequest,
    Reporter, RiskLevel, ScheduleSessionRequest, SubmitEventRequest, TaskRequest, TaskStatus,
    dispatch_service_client::DispatchServiceClient, intake_service_client::IntakeServiceClient,
    mediation_service_client::MediationServiceClient, notify_service_client::NotifyServiceClient,
};
use futures::StreamExt;
use tonic::transport::Channel;

use crate::{
    closed_loop::{event_status, lead_task},
    common::{as_, inbox_has, mediator_token, token},
};

const PHONE: &str = "13912345678";
const ID_NUMBER: &str = "411602198001010016";

pub(crate) fn parties() -> Vec<PartyInput> {
    vec![
        PartyInput {
            role: PartyRole::Applicant as i32,
            name: "王芳".into(),
            phone: PHONE.into(),
            id_number: ID_NUMBER.into(),
            address: "七一路社区3号楼".into(),
        },
        PartyInput { role: PartyRole::Respondent as i32, name: "刘强".into(), ..Default::default() },
    ]
}

/// Waits until mediation opened a case for `event_id`.
async fn case_of_event(mediation: &mut MediationServiceClient<Channel>, event_id: &str) -> MediationCase {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let req = ListCasesRequest { page_size: 100, ..Default::default() };
        let cases = mediation.list_cases(as_(req, &token("admin", ""))).await.unwrap().into_inner().cases;
        if let Some(c) = cases.into_iter().find(|c| c.event_id == event_id) {
            return c;
        }
        assert!(tokio::time::Instant::now() < deadline, "no case opened for event {event_id}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reported_dispute_is_mediated_confirmed_followed_up_and_its_event_closes() {
    let suite = tokio::task::spawn_blocking(|| Suite::up(&["--no-demo", "--quiet"])).await.unwrap();
    let mut intake = IntakeServiceClient::connect(format!("http://{}", suite.intake)).await.unwrap();
    let mut dispatch = DispatchServiceClient::connect(format!("http://{}", suite.dispatch)).await.unwrap();
    let mut mediation = MediationServiceClient::connect(format!("http://{}", suite.mediation)).await.unwrap();
    let nats = suite.nats().await;
    let mut bus = nats.subscribe("civicgrid.mediation.>").await.unwrap();

    let report = SubmitEventRequest {
        request_id: "med-e2e-report-0001".into(),
        source: EventSource::GridWorker as i32,
        item_code: "06.01.002".into(),
        location: Some(Location {
            point: Some(GeoPoint { latitude: 33.6261, longitude: 114.6421 }),
            grid_code: "411602001001001".into(),
            ..Default::default()
        }),
        description: "楼上漏水，邻里多次争吵，需调解".into(),
        reporter: Some(Reporter { phone: "13812345678".into(), ..Default::default() }),
        ..Default::default()
    };
    let answer = intake.submit_event(report).await.unwrap().into_inner();

    // dispatch routes it to the township's justice office; mediation opens the case there.
    let task = lead_task(&mut dispatch, &answer.event_id, TaskStatus::Assigned).await;
    assert_eq!(task.department_id, "411602001-sifa");
    let case = case_of_event(&mut mediation, &answer.event_id).await;
    assert_eq!(case.source, CaseSource::Event as i32);
    assert_eq!(case.dispute_type, DisputeType::Neighbour as i32);
    assert_eq!(
        (case.task_id.as_str(), case.tracking_number.as_str()),
        (task.id.as_str(), answer.tracking_number.as_str())
    );
    assert_eq!(case.state, CaseState::Applied as i32);
    assert!(!case.organisation_id.is_empty() && !case.mediator_id.is_empty(), "{case:?}");

    let committee = token("department", &case.organisation_id);
    let mediator = mediator_token(&case.mediator_id);
    let id = case.id.clone();
    let step = |name: &str| format!("med-e2e-{name}-0001");

    // The committee records the parties and accepts; dispatch's task is signed for.
    let amend =
        AmendCaseRequest { request_id: step("amend"), case_id: id.clone(), parties: parties(), ..Default::default() };
    mediation.amend_case(as_(amend, &committee)).await.unwrap();
    let accept = CaseRequest { request_id: step("accept"), case_id: id.clone() };
    let accepted = mediation.accept_case(as_(accept, &committee)).await.unwrap().into_inner();
    assert_eq!(accepted.state, CaseState::Accepted as i32);
    lead_task(&mut dispatch, &answer.event_id, TaskStatus::Signed).await;

    // Another mediator sees nothing of it.
    let stranger = mediator_token("med-411602002001-cw-01");
    let peek = mediation.get_case(as_(civicgrid_proto::v1::GetCaseRequest { case_id: id.clone() }, &stranger)).await;
    assert_eq!(peek.unwrap_err().code(), tonic::Code::NotFound);

    // A session, the agreement: the task is resolved with the outcome.
    let schedule = ScheduleSessionRequest {
        request_id: step("schedule"),
        case_id: id.clone(),
        scheduled_at: Some(prost_types::Timestamp::from(std::time::SystemTime::now() + Duration::from_secs(3600))),
        place: "七一路社区调解室".into(),
    };
    let scheduled = mediation.schedule_session(as_(schedule, &mediator)).await.unwrap().into_inner();
    let held = RecordSessionRequest {
        request_id: step("session"),
        case_id: id.clone(),
        session_id: scheduled.sessions[0].session_id.clone(),
        attended_party_ids: scheduled.parties.iter().map(|p| p.party_id.clone()).collect(),
        record: "双方陈述事实，调解员释法说理".into(),
        ..Default::default()
    };
    mediation.record_session(as_(held, &mediator)).await.unwrap();
    let agreement = RecordAgreementRequest {
        request_id: step("agree"),
        case_id: id.clone(),
        agreement: Some(Agreement {
            facts: "楼上住户卫生间漏水导致楼下天花板受损".into(),
            responsibilities: "楼上住户负主要责任".into(),
            terms: "楼上住户十日内修复防水层并赔偿楼下损失".into(),
            performance: "十日内一次性履行".into(),
            ..Default::default()
        }),
        signed_and_sealed: true,
    };
    let agreed = mediation.record_agreement(as_(agreement, &mediator)).await.unwrap().into_inner();
    assert_eq!(agreed.state, CaseState::Agreed as i32);
    let resolved = lead_task(&mut dispatch, &answer.event_id, TaskStatus::Resolved).await;
    assert!(!resolved.result.is_empty());

    // 司法确认 and 回访, then the committee closes the case.
    let apply = ApplyConfirmationRequest {
        request_id: step("apply"),
        case_id: id.clone(),
        court: "周口市川汇区人民法院".into(),
    };
    mediation.apply_confirmation(as_(apply, &mediator)).await.unwrap();
    for court in ["accepted", "confirmed"] {
        let r = RecordConfirmationRequest {
            request_id: step(court),
            case_id: id.clone(),
            step: court.into(),
            note: String::new(),
        };
        mediation.record_confirmation(as_(r, &mediator)).await.unwrap();
    }
    let follow = RecordFollowUpRequest {
        request_id: step("follow"),
        case_id: id.clone(),
        performance: "performed".into(),
        note: "已修复，双方满意".into(),
        reopen: false,
    };
    mediation.record_follow_up(as_(follow, &mediator)).await.unwrap();
    let close = CaseRequest { request_id: step("close"), case_id: id.clone() };
    let closed = mediation.close_case(as_(close, &committee)).await.unwrap().into_inner();
    assert_eq!(closed.state, CaseState::Closed as i32);
    assert_eq!(closed.confirmation.as_ref().map(|c| c.ruling.as_str()), Some("confirmed"));

    // The center verifies and closes the task like any other; intake's event is closed.
    let center = token("center", "");
    let t = |name: &str| TaskRequest { request_id: step(name), task_id: task.id.clone() };
    dispatch.verify(as_(t("verify"), &center)).await.unwrap();
    dispatch.close(as_(t("close-task"), &center)).await.unwrap();
    event_status(&mut intake, &answer.event_id, EventStatus::Closed).await;

    // notify told the justice office of the new case.
    let mut notify = NotifyServiceClient::connect(format!("http://{}", suite.notify)).await.unwrap();
    inbox_has(&mut notify, "department:411602001-sifa", &["case-opened", "case-agreement-reached"]).await;

    // Every case fact went out, and none carried a party's phone or ID number.
    let mut facts = Vec::new();
    while facts.last().map(String::as_str) != Some("case-closed") {
        let msg = tokio::time::timeout(Duration::from_secs(10), bus.next()).await.expect("case facts").unwrap();
        for secret in [PHONE, ID_NUMBER, "王芳"] {
            assert!(!msg.payload.windows(secret.len()).any(|w| w == secret.as_bytes()), "{secret} on {}", msg.subject);
        }
        let fact = <civicgrid_proto::v1::MediationCaseEvent as prost::Message>::decode(msg.payload.clone()).unwrap();
        assert_eq!(fact.tracking_number, answer.tracking_number, "{} names the report", fact.fact);
        facts.push(fact.fact);
    }
    for fact in [
        "case-opened",
        "case-amended",
        "case-accepted",
        "case-agreement-reached",
        "case-confirmation-ruled",
        "case-followed-up",
    ] {
        assert!(facts.iter().any(|f| f == fact), "{fact} missing from {facts:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_high_risk_application_reaches_the_township_center_and_the_police_at_once() {
    let suite = tokio::task::spawn_blocking(|| Suite::up(&["--no-demo", "--quiet"])).await.unwrap();
    let mut mediation = MediationServiceClient::connect(format!("http://{}", suite.mediation)).await.unwrap();
    let application = OpenCaseRequest {
        request_id: "med-e2e-high-0001".into(),
        source: CaseSource::Application as i32,
        dispute_type: DisputeType::Debt as i32,
        facts: "借款两万元到期未还，一方扬言报复，有激化风险".into(),
        parties: parties(),
        region_code: "411602001001".into(),
        risk: RiskLevel::High as i32,
        ..Default::default()
    };
    let case = mediation.open_case(as_(application.clone(), &token("citizen_app", ""))).await.unwrap().into_inner();
    assert_eq!(case.risk, RiskLevel::High as i32);
    // The masked forms only.
    assert!(case.parties.iter().all(|p| !p.phone_masked.contains(PHONE) && !p.id_number_masked.contains(ID_NUMBER)));

    // A retry answers the first answer and opens nothing more.
    let again = mediation.open_case(as_(application, &token("citizen_app", ""))).await.unwrap().into_inner();
    assert_eq!(again.id, case.id);

    let mut notify = NotifyServiceClient::connect(format!("http://{}", suite.notify)).await.unwrap();
    inbox_has(&mut notify, "center:411602001", &["case-escalated"]).await;
    inbox_has(&mut notify, "department:411602001-gongan", &["case-escalated"]).await;

    // A bad request names its field.
    let bad = OpenCaseRequest { request_id: "med-e2e-bad-0001".into(), ..Default::default() };
    let err = mediation.open_case(as_(bad, &token("citizen_app", ""))).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().contains("dispute_type"), "{}", err.message());
}
