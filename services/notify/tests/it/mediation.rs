//! mediation's case facts, published as mediation publishes them, reach the justice office, the
//! organisation, the mediator, the township's center and police station; nobody twice.

use chrono::Utc;
use civicgrid_kit::clock::Clock;
use civicgrid_notify::domain::signature;
use civicgrid_proto::v1::{AcknowledgeRequest, DeliveryStatus, ListInboxRequest, Priority, RiskLevel};
use tonic::Code;

use crate::helpers::*;

/// The test township's justice office (司法所) and police station (派出所).
fn justice_office() -> String {
    format!("department:{TOWNSHIP}-sifa")
}

fn police_station() -> String {
    format!("department:{TOWNSHIP}-gongan")
}

fn organisation() -> String {
    format!("department:{ORGANISATION}")
}

#[tokio::test]
async fn a_new_case_reaches_the_justice_office_and_the_organisation_and_an_assignment_the_mediator() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let case = new_id();
    let opened = case_fact("case-opened", &case);
    let ce_id = app.publish_case(&opened).await;
    for recipient in [justice_office(), organisation()] {
        let n = app.wait_inbox(&recipient, 1).await.remove(0);
        assert_eq!((n.fact.as_str(), n.rule.as_str()), ("case-opened", "mediation-new-case"), "{recipient}");
        assert_eq!((n.subject_id.as_str(), n.source_event_id.as_str()), (case.as_str(), ce_id.as_str()));
        assert_eq!((n.source_type.as_str(), n.priority), ("civicgrid.v1.MediationCaseEvent", Priority::Normal as i32));
        assert_eq!(n.title, format!("调解申请 {}", opened.case_number));
        assert!(n.body.contains("邻里纠纷") && n.body.contains("当事人申请") && n.body.contains("2 方"), "{}", n.body);
        assert_eq!(n.data.get("party_count").map(String::as_str), Some("2"));
        assert!(!n.data.values().any(|v| v.contains('*')), "not even masked parties: {:?}", n.data);
    }
    // The organisation's system reads its inbox with its department token; the justice office too.
    let mut c = app.client.clone();
    let list = |recipient: String| ListInboxRequest { recipient, ..Default::default() };
    c.list_inbox(authed(list(organisation()), &department(ORGANISATION))).await.expect("the organisation's own");
    c.list_inbox(authed(list(justice_office()), &department(&format!("{TOWNSHIP}-sifa")))).await.expect("the office's");
    let err = c.list_inbox(authed(list(justice_office()), &department(ORGANISATION))).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);

    // The assignment reaches the mediator, who reads it with a mediator token.
    app.publish_case(&case_fact("case-assigned", &case)).await;
    let n = app.wait_inbox(&format!("mediator:{MEDIATOR}"), 1).await.remove(0);
    assert_eq!((n.rule.as_str(), n.priority), ("mediator-assigned", Priority::High as i32));
    let own = c
        .list_inbox(authed(list(format!("mediator:{MEDIATOR}")), &mediator(MEDIATOR)))
        .await
        .expect("the mediator's own inbox")
        .into_inner();
    assert_eq!(own.notifications.len(), 1);
    let err = c.list_inbox(authed(list(format!("mediator:{MEDIATOR}")), &mediator("med-other"))).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);

    // The outcome reaches the justice office.
    let mut agreed = case_fact("case-agreement-reached", &case);
    agreed.case_number = opened.case_number.clone();
    app.publish_case(&agreed).await;
    let office = app.wait_inbox(&justice_office(), 2).await;
    assert_eq!((office[1].rule.as_str(), office[1].priority), ("justice-office-agreement", Priority::Low as i32));
    assert_eq!(office[1].title, format!("调解成功 {}", opened.case_number));
}

#[tokio::test]
async fn an_escalation_must_be_acknowledged_by_the_township_center_and_the_police_station() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let probe = Probe;
    let mut escalated = case_fact("case-escalated", &new_id());
    escalated.risk = RiskLevel::High as i32;
    escalated.reason = "threats of violence".into();
    app.publish_case(&escalated).await;
    let township = app.wait_inbox(&format!("center:{TOWNSHIP}"), 1).await.remove(0);
    let station = app.wait_inbox(&police_station(), 1).await.remove(0);
    for n in [&township, &station] {
        assert_eq!((n.rule.as_str(), n.priority), ("mediation-high-risk", Priority::Critical as i32));
        assert!(n.ack_required, "{} must acknowledge", n.recipient);
        assert_eq!(at(n.ack_due_at.as_ref()), monday_9am() + chrono::Duration::minutes(30));
        assert!(n.title.starts_with("高风险纠纷"), "{}", n.title);
    }

    // The center acknowledges; the police station does not, and 30 minutes later the county hears.
    let mut c = app.client.clone();
    let ack = AcknowledgeRequest { notification_id: township.id.clone(), request_id: "ack-case-center-1".into() };
    let acked = c.acknowledge(authed(ack, &center(TOWNSHIP))).await.expect("the center acknowledges").into_inner();
    assert!(acked.acked_at.is_some());
    app.advance(chrono::Duration::minutes(31));
    for recipient in [format!("center:{COUNTY}"), format!("leaders:{COUNTY}")] {
        let up = app.wait_inbox(&recipient, 1).await.remove(0);
        assert_eq!((up.fact.as_str(), up.rule.as_str()), ("notify-unacknowledged", "unacknowledged-supervision"));
        assert_eq!(up.data.get("original_recipient"), Some(&police_station()));
        assert_eq!(up.title, format!("督办未确认 {}", escalated.case_number), "the case number stands in");
    }
    probe.pass(&app).await;
    assert_eq!(app.inbox(&format!("center:{COUNTY}"), &admin()).await.len(), 1, "the acknowledged notice stays put");
}

#[tokio::test]
async fn warnings_reach_the_mediator_and_the_organisation_by_how_late_they_are() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let case = new_id();
    let me = format!("mediator:{MEDIATOR}");
    app.publish_case(&case_warning(&case, "mediation", false)).await;
    let soon = app.wait_inbox(&me, 1).await.remove(0);
    assert_eq!((soon.rule.as_str(), soon.priority), ("mediation-deadline-soon", Priority::Normal as i32));
    assert!(soon.title.starts_with("调解期限即将届满"), "{}", soon.title);
    assert!(soon.body.contains("2026-11-17 00:00"), "{}", soon.body);
    app.publish_case(&case_warning(&case, "mediation", true)).await;
    let passed = app.wait_inbox(&me, 2).await.remove(1);
    assert_eq!((passed.rule.as_str(), passed.priority), ("mediation-deadline-passed", Priority::High as i32));
    let org = app.wait_inbox(&organisation(), 2).await;
    assert_eq!(org.iter().map(|n| n.priority).collect::<Vec<_>>(), [Priority::Normal as i32, Priority::High as i32]);

    // The confirmation window is the parties': the mediator alone hears, to tell them.
    app.publish_case(&case_warning(&case, "confirmation-window", false)).await;
    let window = app.wait_inbox(&me, 3).await.remove(2);
    assert_eq!(window.rule, "mediator-confirmation-window");
    assert!(window.body.contains("请告知当事人"), "{}", window.body);
    // A later fact for the organisation proves the window's was consumed before we count.
    app.publish_case(&case_warning(&case, "acceptance", false)).await;
    let org = app.wait_inbox(&organisation(), 3).await;
    assert_eq!(
        org.iter().filter(|n| n.data.get("deadline").map(String::as_str) == Some("confirmation-window")).count(),
        0
    );
}

#[tokio::test]
async fn a_redelivered_case_fact_notifies_nobody_twice() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let receiver = Receiver::start().await;
    register(&app, &justice_office(), &receiver.url, "again-secret-0123456789").await;
    let opened = case_fact("case-opened", &new_id());
    let ce_id = uuid::Uuid::now_v7();
    app.publish_case_as(&opened, ce_id).await;
    app.wait_inbox(&justice_office(), 1).await;
    app.publish_case_as(&opened, ce_id).await;
    // A later fact proves the copy was consumed before we look.
    app.publish_case(&case_fact("case-assigned", &opened.case_id)).await;
    app.wait_inbox(&format!("mediator:{MEDIATOR}"), 1).await;
    for recipient in [justice_office(), organisation()] {
        assert_eq!(app.inbox(&recipient, &admin()).await.len(), 1, "{recipient} was told twice");
    }
    // Nor called twice: the copy is applied again (notify keeps no inbox rows; its writes are
    // keyed by the fact) and finds its notifications there, so it makes no delivery.
    receiver.wait_calls(1).await;
    let db = app.db().await;
    let webhooks: i64 = sqlx::query_scalar("SELECT count(*) FROM deliveries").fetch_one(&db).await.unwrap();
    assert_eq!(webhooks, 1, "one webhook delivery");
    let inbox: i64 = sqlx::query_scalar("SELECT count(*) FROM inbox").fetch_one(&db).await.unwrap();
    assert_eq!(inbox, 0, "inbox rows");
}

#[tokio::test]
async fn the_justice_offices_webhook_gets_a_signed_call() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let secret = "sifa-secret-0123456789abcdef";
    let receiver = Receiver::start().await;
    let endpoint = register(&app, &justice_office(), &receiver.url, secret).await;
    let opened = case_fact("case-opened", &new_id());
    let ce_id = app.publish_case(&opened).await;
    let note = app.wait_inbox(&justice_office(), 1).await.remove(0);
    let call = receiver.wait_calls(1).await.remove(0);
    let hook = app.wait_webhook(&note.id, "delivered", |d| d.status == DeliveryStatus::Delivered as i32).await;
    assert_eq!(
        (call.header("X-Civicgrid-Delivery"), call.header("X-Civicgrid-Endpoint"), call.header("X-Civicgrid-Fact")),
        (hook.id.as_str(), endpoint.as_str(), "case-opened")
    );
    let timestamp: i64 = call.header("X-Civicgrid-Timestamp").parse().expect("unix seconds");
    let sig = call.header("X-Civicgrid-Signature");
    assert!(signature::verify(secret.as_bytes(), sig, timestamp, &call.body, Utc::now().timestamp(), 300), "{sig}");
    let body = call.json();
    assert_eq!(body["recipient"], justice_office().as_str());
    let carried = &body["notifications"][0];
    assert_eq!(
        (carried["fact"].as_str(), carried["source_event_id"].as_str()),
        (Some("case-opened"), Some(ce_id.as_str()))
    );
    assert_eq!(carried["data"]["case_number"], opened.case_number.as_str());
    assert_eq!(carried["data"]["organisation_id"], ORGANISATION);
    assert_eq!(receiver.calls().len(), 1, "one call for one delivery");
}
