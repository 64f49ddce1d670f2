//! Who sees and does what: a mediator reads and acts on their own cases only (another's is
//! NOT_FOUND, a step of the organisation PERMISSION_DENIED), a county center reads without
//! acting, a party's app opens applications only; and a retry with the same request id answers
//! the first answer and changes nothing.

use civicgrid_kit::clock::Clock;
use civicgrid_proto::v1::{
    CaseRequest, CaseSource, GetCaseRequest, ListCasesRequest, OpenCaseRequest, RiskLevel, SetRiskRequest,
};
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn a_mediator_reads_and_acts_on_their_own_cases_only() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let mine = app.open(application(VILLAGE), &admin()).await;
    let theirs = app.open(application(OTHER_VILLAGE), &admin()).await;
    assert_eq!((mine.mediator_id.as_str(), theirs.mediator_id.as_str()), (MEDIATOR, OTHER_MEDIATOR));
    let me = mediator(MEDIATOR);
    let mut client = app.client.clone();

    // Reading: their own only.
    assert_eq!(app.get(&mine.id, &me).await.id, mine.id);
    let other = client.get_case(authed(GetCaseRequest { case_id: theirs.id.clone() }, &me)).await;
    expect_code(other, Code::NotFound, "another mediator's case");
    let listed: Vec<String> = app.list(ListCasesRequest::default(), &me).await.into_iter().map(|c| c.id).collect();
    assert_eq!(listed, std::slice::from_ref(&mine.id));
    let narrowed = ListCasesRequest { mediator_id: OTHER_MEDIATOR.into(), ..Default::default() };
    expect_code(client.list_cases(authed(narrowed, &me)).await, Code::PermissionDenied, "list another's");

    // Acting: not the organisation's steps, and nothing on another's case.
    let accept = |id: &str| CaseRequest { request_id: rid(), case_id: id.into() };
    expect_code(client.accept_case(authed(accept(&mine.id), &me)).await, Code::PermissionDenied, "mediator accepts");
    expect_code(client.accept_case(authed(accept(&theirs.id), &me)).await, Code::NotFound, "accept another's");

    // Organisations see their own; the justice office its township; a county center reads.
    let org_cases = app.list(ListCasesRequest::default(), &department(ORGANISATION)).await;
    assert_eq!(org_cases.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), [mine.id.as_str()]);
    assert_eq!(app.list(ListCasesRequest::default(), &department(JUSTICE_OFFICE)).await.len(), 2);
    assert_eq!(app.list(ListCasesRequest::default(), &county_center("411602")).await.len(), 2);
    assert!(app.list(ListCasesRequest::default(), &county_center("411621")).await.is_empty());
    let risk = SetRiskRequest {
        request_id: rid(),
        case_id: mine.id.clone(),
        risk: RiskLevel::Medium as i32,
        reason: "双方情绪激动".into(),
    };
    expect_code(client.set_risk(authed(risk, &county_center("411602"))).await, Code::PermissionDenied, "reader acts");

    // Roles with no part in mediation.
    expect_code(
        client.list_cases(authed(ListCasesRequest::default(), &citizen())).await,
        Code::PermissionDenied,
        "citizen lists",
    );
    let court = OpenCaseRequest { source: CaseSource::Court as i32, ..application(VILLAGE) };
    expect_code(client.open_case(authed(court, &citizen())).await, Code::PermissionDenied, "citizen transfers in");
    expect_code(client.open_case(authed(application(VILLAGE), &me)).await, Code::PermissionDenied, "mediator opens");
    let elsewhere = client.open_case(authed(application(OTHER_VILLAGE), &department(ORGANISATION))).await;
    expect_code(elsewhere, Code::PermissionDenied, "an organisation opens outside its village");
    app.open(application(VILLAGE), &citizen()).await;
    app.stop().await;
}

#[tokio::test]
async fn a_retry_answers_the_first_answer_and_changes_nothing() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let org = department(ORGANISATION);
    let mut client = app.client.clone();
    let req = application(VILLAGE);
    let first = app.open(req.clone(), &org).await;
    // The same key again, even with other content, answers the first case.
    let again = OpenCaseRequest { facts: "另一件事，另一件事，另一件事。".into(), ..req.clone() };
    let second = app.open(again, &org).await;
    assert_eq!(second, first);
    assert_eq!(app.list(ListCasesRequest::default(), &admin()).await.len(), 1);

    let accept = CaseRequest { request_id: rid(), case_id: first.id.clone() };
    let accepted = client.accept_case(authed(accept.clone(), &org)).await.unwrap().into_inner();
    let retried = client.accept_case(authed(accept.clone(), &org)).await.unwrap().into_inner();
    assert_eq!(retried, accepted);
    assert_eq!(app.fact_names(&first.id).await, ["case-opened", "case-assigned", "case-accepted"]);
    // Another caller's key space is their own: the same id from the justice office is a new
    // request (and accepting twice is not possible).
    let other = client.accept_case(authed(accept, &department(JUSTICE_OFFICE))).await;
    expect_code(other, Code::FailedPrecondition, "accept twice");
    let facts: i64 = sqlx::query_scalar("SELECT count(*) FROM mediation.case_facts").fetch_one(&app.db).await.unwrap();
    assert_eq!(facts, 3);
    app.stop().await;
}
