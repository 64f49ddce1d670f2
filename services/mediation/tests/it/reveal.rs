//! The one answer with parties' personal data in clear, GetAgreementDocument: the caller says
//! why (a blank `purpose` is INVALID_ARGUMENT), a caller who does not handle the case is
//! refused, and every answer leaves a `pii-revealed` record in mediation's audit trail — who,
//! which case, which fields of which parties, when by the service's clock, why, in which
//! request — that is never published, while `audit verify` still holds.

use civicgrid_kit::{audit, clock::Clock};
use civicgrid_proto::v1::{GetAgreementDocumentRequest, PiiRevealed, Role};
use prost::Message;
use tonic::Code;

use crate::helpers::*;

fn document(case_id: &str, request_id: &str, purpose: &str) -> GetAgreementDocumentRequest {
    GetAgreementDocumentRequest { case_id: case_id.into(), request_id: request_id.into(), purpose: purpose.into() }
}

/// The `pii-revealed` records of mediation's trail, decoded, with their aggregates.
async fn reveals(app: &TestApp) -> Vec<(String, PiiRevealed)> {
    let selection = audit::Selection { fact: Some("pii-revealed".into()), ..Default::default() };
    let records = audit::export(&app.db, "mediation", &selection).await.unwrap();
    records.into_iter().map(|r| (r.aggregate, PiiRevealed::decode(r.payload.as_slice()).unwrap())).collect()
}

#[tokio::test]
async fn every_reveal_of_the_parties_is_recorded_with_who_what_when_and_why() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let (org, me) = (department(ORGANISATION), mediator(MEDIATOR));
    let case = app.open(application(VILLAGE), &org).await;
    app.accept(&case.id, &org).await;
    app.agree(&case.id, &me).await;
    let mut client = app.client.clone();

    // No reason, no document; nothing recorded.
    for blank in ["", "   "] {
        let asked = client.get_agreement_document(authed(document(&case.id, &rid(), blank), &me)).await;
        expect_invalid(asked, "purpose", "a blank purpose");
    }
    let asked = client.get_agreement_document(authed(document(&case.id, "short", "送达"), &me)).await;
    expect_invalid(asked, "request_id", "a bad request id");
    // Those who do not handle the case are refused, and nothing is recorded either: a county
    // center reads the case but not its parties; a party's app has no part in mediation.
    let why = "核实当事人身份";
    for (who, token) in [("county center", county_center("411602")), ("citizen app", citizen())] {
        let asked = client.get_agreement_document(authed(document(&case.id, &rid(), why), &token)).await;
        expect_code(asked, Code::PermissionDenied, who);
    }
    let elsewhere = client.get_agreement_document(authed(document(&case.id, &rid(), why), &mediator(OTHER_MEDIATOR)));
    expect_code(elsewhere.await, Code::NotFound, "another village's mediator");
    assert!(reveals(&app).await.is_empty());

    // The mediator asks, with a reason: the document, and its record.
    let request_id = rid();
    let purpose = "打印协议书送达双方当事人";
    let doc = client.get_agreement_document(authed(document(&case.id, &request_id, purpose), &me)).await.unwrap();
    assert!(doc.into_inner().text.contains("申请人：张三丰"));
    let recorded = reveals(&app).await;
    assert_eq!(recorded.len(), 1);
    let (aggregate, r) = &recorded[0];
    assert_eq!(aggregate, &case.id, "the case's history holds it");
    assert_eq!((r.method.as_str(), r.record_id.as_str()), ("GetAgreementDocument", case.id.as_str()));
    assert_eq!(r.record_number, case.case_number);
    let actor = r.actor.clone().unwrap();
    assert_eq!((actor.subject.as_str(), actor.role), (MEDIATOR, Role::Mediator as i32));
    assert_eq!((r.purpose.as_str(), r.request_id.as_str()), (purpose, request_id.as_str()));
    let at = civicgrid_kit::time::from_proto(r.revealed_at.as_ref().unwrap()).unwrap();
    assert_eq!(at, app.clock.now(), "the service's clock");
    assert_eq!(r.region.as_ref().unwrap().village, VILLAGE);
    let people: Vec<(&str, Vec<&str>)> =
        r.people.iter().map(|p| (p.role.as_str(), p.fields.iter().map(String::as_str).collect())).collect();
    let all = vec!["name", "phone", "id_number", "address"];
    assert_eq!(people, [("PARTY_ROLE_APPLICANT", all.clone()), ("PARTY_ROLE_RESPONDENT", all)]);
    assert_eq!(
        r.people.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
        case.parties.iter().map(|p| p.party_id.as_str()).collect::<Vec<_>>()
    );
    // It names the data, never holds it.
    let record = r.encode_to_vec();
    for secret in secrets() {
        assert!(!record.windows(secret.len()).any(|w| w == secret.as_bytes()), "{secret} in the record");
    }

    // Every answer is a reveal: the justice office's, and a retry of the mediator's.
    let office = department(JUSTICE_OFFICE);
    client.get_agreement_document(authed(document(&case.id, &rid(), "司法确认申请材料"), &office)).await.unwrap();
    client.get_agreement_document(authed(document(&case.id, &request_id, purpose), &me)).await.unwrap();
    let recorded = reveals(&app).await;
    let who: Vec<(&str, &str)> = recorded
        .iter()
        .map(|(_, r)| (r.actor.as_ref().unwrap().department_id.as_str(), r.request_id.as_str()))
        .collect();
    assert_eq!(who[1].0, JUSTICE_OFFICE);
    assert_eq!(who[2], ("", request_id.as_str()));

    // Recorded in the chain, never published. (The case's own facts are recorded as the relay
    // takes them out of the outbox: `published` waits for that.)
    let published = app.published().await;
    let v = audit::verify(&app.db, "mediation").await.unwrap();
    assert_eq!(v.broken, None);
    assert!(v.records >= 6, "{v:?}");
    assert!(published.iter().all(|m| !m.subject.contains("pii-revealed")), "a reveal on the bus");
    assert!(app.facts_of(&case.id).await.iter().all(|f| f.fact.starts_with("case-")));
    app.stop().await;
}
