//! Bad input answers INVALID_ARGUMENT naming every bad field at once, under its proto path,
//! and nothing is stored.

use chrono::Duration;
use civicgrid_kit::{clock::Clock, grpc::field_violations, time::to_proto};
use civicgrid_proto::v1::{
    AmendCaseRequest, AssignMediatorRequest, CaseReasonRequest, ExtendMediationRequest, GetCaseRequest,
    GetMediationStatsRequest, ListCasesRequest, Money, OpenCaseRequest, PartyInput, PartyRole, RecordAgreementRequest,
    ScheduleSessionRequest, TimeRange, TransferCaseRequest,
};
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn bad_input_is_invalid_argument_naming_each_field() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let mut client = app.client.clone();
    let token = admin();

    // OpenCase: every problem at once.
    let bad = OpenCaseRequest {
        request_id: "short".into(),
        facts: "太短".into(),
        amount_involved: Some(Money { currency_code: "USD".into(), units: -5, nanos: 0 }),
        parties: vec![
            PartyInput { id_number: "41160219900101123Z".into(), ..applicant() },
            PartyInput { role: PartyRole::ThirdParty as i32, phone: "12345".into(), ..respondent() },
        ],
        region_code: "4116".into(),
        ..application(VILLAGE)
    };
    let status = expect_code(client.open_case(authed(bad, &token)).await, Code::InvalidArgument, "OpenCase");
    let fields: Vec<String> = field_violations(&status).into_iter().map(|(f, _)| f).collect();
    for field in [
        "request_id",
        "facts",
        "amount_involved.currency_code",
        "amount_involved.units",
        "parties[0].id_number",
        "parties[1].phone",
        "parties",
        "region_code",
    ] {
        assert!(fields.iter().any(|f| f == field), "OpenCase should name {field}: {fields:?}");
    }
    assert!(app.list(ListCasesRequest::default(), &token).await.is_empty(), "nothing was stored");

    let case = app.open(application(VILLAGE), &token).await;
    let id = case.id.clone();
    // ScheduleSession in the past; RecordAgreement not signed; ExtendMediation too long.
    let past = ScheduleSessionRequest {
        request_id: rid(),
        case_id: id.clone(),
        scheduled_at: Some(to_proto(app.clock.now() - Duration::hours(1))),
        place: "调解室".into(),
    };
    expect_invalid(client.schedule_session(authed(past, &token)).await, "scheduled_at", "ScheduleSession");
    let unsigned = RecordAgreementRequest { signed_and_sealed: false, ..agreement(&id) };
    expect_invalid(client.record_agreement(authed(unsigned, &token)).await, "signed_and_sealed", "RecordAgreement");
    let extend =
        ExtendMediationRequest {
            request_id: rid(), case_id: id.clone(), days: 40, consent: "双方书面同意".into()
        };
    expect_invalid(client.extend_mediation(authed(extend, &token)).await, "days", "ExtendMediation");
    // A mediator of another organisation; a transfer without a target; a reason too short.
    let assign = AssignMediatorRequest { request_id: rid(), case_id: id.clone(), mediator_id: OTHER_MEDIATOR.into() };
    expect_invalid(client.assign_mediator(authed(assign, &token)).await, "mediator_id", "AssignMediator");
    let transfer = TransferCaseRequest { request_id: rid(), case_id: id.clone(), target: 0, reason: "起诉".into() };
    expect_invalid(client.transfer_case(authed(transfer, &token)).await, "target", "TransferCase");
    let refuse = CaseReasonRequest { request_id: rid(), case_id: id.clone(), reason: "x".into() };
    expect_invalid(client.refuse_case(authed(refuse, &token)).await, "reason", "RefuseCase");
    // Ids, pages, periods, amendments.
    let get = GetCaseRequest { case_id: "not-a-uuid".into() };
    expect_invalid(client.get_case(authed(get, &token)).await, "case_id", "GetCase");
    let list = ListCasesRequest { page_size: 501, states: vec![42], ..Default::default() };
    let status = expect_code(client.list_cases(authed(list, &token)).await, Code::InvalidArgument, "ListCases");
    let fields: Vec<String> = field_violations(&status).into_iter().map(|(f, _)| f).collect();
    assert_eq!(fields, ["states[0]", "page_size"]);
    let stats = GetMediationStatsRequest {
        period: Some(TimeRange { from: Some(to_proto(app.clock.now())), to: None }),
        region_code: String::new(),
        group_by: "weather".into(),
    };
    let status = expect_code(client.get_stats(authed(stats, &token)).await, Code::InvalidArgument, "GetStats");
    let fields: Vec<String> = field_violations(&status).into_iter().map(|(f, _)| f).collect();
    assert_eq!(fields, ["period.to", "group_by"]);
    let amend = AmendCaseRequest { request_id: rid(), case_id: id.clone(), ..Default::default() };
    expect_invalid(client.amend_case(authed(amend, &token)).await, "parties", "AmendCase with nothing");
    // Nothing above changed the case.
    assert_eq!(app.get(&id, &token).await.version, case.version);
    app.stop().await;
}
