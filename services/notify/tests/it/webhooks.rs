//! Signed webhooks against a real HTTP receiver: the call and its signature, retries with
//! backoff, the circuit breaker, giving up, deleting an endpoint, and registering one.

use std::time::Duration;

use chrono::Utc;
use civicgrid_kit::{clock::Clock, grpc::field_violations};
use civicgrid_notify::domain::signature;
use civicgrid_proto::v1::{
    Channel, DeleteWebhookRequest, DeliveryStatus, ListDeliveriesRequest, RegisterWebhookRequest,
};
use tonic::Code;

use crate::helpers::*;

const HOOK_SECRET: &str = "desk-secret-0123456789abcdef";

/// A desk with an endpoint on a fresh receiver, and the desk's recipient name.
async fn desk_with_receiver(app: &TestApp) -> (Receiver, String, String) {
    let receiver = Receiver::start().await;
    let desk = format!("department:{DEPT}");
    let endpoint = register(app, &desk, &receiver.url, HOOK_SECRET).await;
    (receiver, desk, endpoint)
}

/// Publishes a task-assigned for the desk; returns its ce-id and the notification's id.
async fn assign(app: &TestApp, desk: &str, seen: usize) -> (civicgrid_proto::v1::TaskEvent, String, String) {
    let fact = task_fact("task-assigned", &new_id(), &new_id());
    let ce_id = app.publish_task(&fact).await;
    let n = app.wait_inbox(desk, seen + 1).await.pop().expect("the new notification");
    assert_eq!(n.subject_id, fact.task_id);
    (fact, ce_id, n.id)
}

#[tokio::test]
async fn a_signed_call_arrives_and_its_delivery_is_published() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let (receiver, desk, endpoint) = desk_with_receiver(&app).await;
    let (fact, ce_id, note) = assign(&app, &desk, 0).await;

    let call = receiver.wait_calls(1).await.remove(0);
    let hook = app.wait_webhook(&note, "delivered", |d| d.status == DeliveryStatus::Delivered as i32).await;
    assert_eq!(call.header("X-Civicgrid-Delivery"), hook.id);
    assert_eq!(call.header("X-Civicgrid-Endpoint"), endpoint);
    assert_eq!(call.header("X-Civicgrid-Fact"), "task-assigned");
    assert_eq!(call.header("content-type"), "application/json");
    let timestamp: i64 = call.header("X-Civicgrid-Timestamp").parse().expect("unix seconds");
    let sig = call.header("X-Civicgrid-Signature");
    let now = Utc::now().timestamp();
    assert!(signature::verify(HOOK_SECRET.as_bytes(), sig, timestamp, &call.body, now, 300), "signature {sig}");
    assert!(!signature::verify(b"another-secret-0123456789", sig, timestamp, &call.body, now, 300));
    assert!(!signature::verify(HOOK_SECRET.as_bytes(), sig, timestamp + 1, &call.body, now, 300));

    let body = call.json();
    assert_eq!(body["delivery_id"], hook.id.as_str());
    assert_eq!(body["endpoint_id"], endpoint.as_str());
    assert_eq!(body["recipient"], desk.as_str());
    assert_eq!(body["digest"], false);
    let carried = body["notifications"].as_array().expect("notifications");
    assert_eq!(carried.len(), 1);
    assert_eq!(carried[0]["id"], note.as_str());
    assert_eq!(carried[0]["fact"], "task-assigned");
    assert_eq!(carried[0]["source_event_id"], ce_id.as_str());
    assert_eq!(carried[0]["data"]["tracking_number"], fact.tracking_number.as_str());

    assert_eq!((hook.attempt_count, hook.endpoint_id.as_str()), (1, endpoint.as_str()));
    assert_eq!(hook.attempts.len(), 1);
    assert_eq!((hook.attempts[0].outcome.as_str(), hook.attempts[0].http_status), ("delivered", 200));
    assert!(hook.delivered_at.is_some() && hook.last_error.is_empty());

    let delivered = app.wait_published("notify-delivered", |_, e| e.delivery_id == hook.id).await;
    assert_eq!(delivered.fact, "notify-delivered");
    assert_eq!(delivered.notification_id, note);
    assert_eq!((delivered.channel, delivered.endpoint_id.as_str()), (Channel::Webhook as i32, endpoint.as_str()));
    assert_eq!((delivered.source_fact.as_str(), delivered.source_event_id.as_str()), ("task-assigned", ce_id.as_str()));
    assert_eq!(delivered.attempts, 1);
    let subjects: Vec<String> =
        app.published().await.into_iter().filter(|(_, e)| e.delivery_id == hook.id).map(|(s, _)| s).collect();
    assert_eq!(subjects, [format!("civicgrid.notify.notify-delivered.{CITY}.{COUNTY}.{TOWNSHIP}.{VILLAGE}")]);
    assert_eq!(receiver.calls().len(), 1, "one call for one delivery");
}

#[tokio::test]
async fn failed_calls_are_retried_with_backoff_and_every_attempt_is_recorded() {
    let app = spawn_app_with(
        Clock::manual(monday_9am()),
        "[notify]\nwebhook_timeout_ms = 200\nretry_initial_ms = 1000\nretry_max_secs = 60\n",
    )
    .await;
    let (receiver, desk, _) = desk_with_receiver(&app).await;
    receiver.script(&[Answer::Status(500), Answer::Slow(Duration::from_millis(1500))]);
    let (_, _, note) = assign(&app, &desk, 0).await;

    // First attempt: HTTP 500; the next one 1–2 s later (1 s doubling, jitter up to the delay).
    let first = app.wait_webhook(&note, "first attempt", |d| d.attempt_count == 1).await;
    assert_eq!(first.status, DeliveryStatus::Pending as i32);
    let a = &first.attempts[0];
    assert_eq!((a.number, a.outcome.as_str(), a.http_status), (1, "failed", 500));
    assert!(a.error.contains("500"), "{}", a.error);
    assert_eq!(first.last_error, a.error);
    let wait = at(first.next_attempt_at.as_ref()) - at(a.at.as_ref());
    assert!(wait >= chrono::Duration::seconds(1) && wait <= chrono::Duration::seconds(2), "{wait}");
    assert_eq!(receiver.calls().len(), 1, "no retry before its time");

    // Second attempt, when the clock gets there: the receiver is too slow, the call times out.
    app.advance_to(at(first.next_attempt_at.as_ref()));
    let second = app.wait_webhook(&note, "second attempt", |d| d.attempt_count == 2).await;
    let b = &second.attempts[1];
    assert_eq!((b.number, b.outcome.as_str(), b.http_status), (2, "failed", 0));
    assert!(b.error.contains("timed out"), "{}", b.error);
    assert!(b.duration_ms >= 150, "{} ms", b.duration_ms);
    let wait = at(second.next_attempt_at.as_ref()) - at(b.at.as_ref());
    assert!(wait >= chrono::Duration::seconds(2) && wait <= chrono::Duration::seconds(4), "{wait}");

    // Third attempt succeeds; the record keeps all three.
    app.advance_to(at(second.next_attempt_at.as_ref()));
    let done = app.wait_webhook(&note, "delivered", |d| d.status == DeliveryStatus::Delivered as i32).await;
    let outcomes: Vec<(&str, i32)> = done.attempts.iter().map(|a| (a.outcome.as_str(), a.http_status)).collect();
    assert_eq!(outcomes, [("failed", 500), ("failed", 0), ("delivered", 200)]);
    assert_eq!(done.attempt_count, 3);
    assert!(done.next_attempt_at.is_none() && done.last_error.is_empty());
    let calls = receiver.wait_calls(3).await;
    assert!(calls.iter().all(|c| c.header("X-Civicgrid-Delivery") == done.id), "one delivery id on every retry");
    app.wait_published("notify-delivered after retries", |_, e| e.delivery_id == done.id && e.attempts == 3).await;
}

#[tokio::test]
async fn the_breaker_opens_holds_calls_and_closes_after_a_successful_trial() {
    let app = spawn_app_with(
        Clock::manual(monday_9am()),
        "[notify]\nbreaker_failures = 2\nbreaker_open_secs = 60\nretry_initial_ms = 1000\nmax_attempts = 10\n",
    )
    .await;
    let (receiver, desk, _) = desk_with_receiver(&app).await;
    // Two failures open the circuit; the first trial fails too.
    receiver.script(&[Answer::Status(500), Answer::Status(502), Answer::Status(503)]);
    let (_, _, first) = assign(&app, &desk, 0).await;
    let a1 = app.wait_webhook(&first, "first failure", |d| d.attempt_count == 1).await;
    let endpoint = app.wait_endpoint(&desk, "one failure", |e| e.consecutive_failures == 1).await;
    assert_eq!(endpoint.circuit, "closed");
    app.advance_to(at(a1.next_attempt_at.as_ref()));
    let a2 = app.wait_webhook(&first, "second failure", |d| d.attempt_count == 2).await;
    let opened_at = at(a2.attempts[1].at.as_ref());
    let endpoint = app.wait_endpoint(&desk, "open", |e| e.circuit == "open").await;
    assert_eq!(endpoint.consecutive_failures, 2);
    let open_until = at(endpoint.open_until.as_ref());
    assert_eq!(open_until, opened_at + chrono::Duration::seconds(60));

    // While open, nothing is called: the retry that falls due and a new notification both wait
    // for the end of the open time, and neither counts an attempt.
    app.advance_to(at(a2.next_attempt_at.as_ref()));
    let held =
        app.wait_webhook(&first, "held", |d| d.next_attempt_at.as_ref().map(|t| at(Some(t))) == Some(open_until)).await;
    assert_eq!((held.attempt_count, held.attempts.len()), (2, 2));
    assert_eq!(held.last_error, "circuit open");
    let (_, _, second) = assign(&app, &desk, 1).await;
    let waiting = app
        .wait_webhook(&second, "held", |d| d.next_attempt_at.as_ref().map(|t| at(Some(t))) == Some(open_until))
        .await;
    assert_eq!((waiting.attempt_count, waiting.status), (0, DeliveryStatus::Pending as i32));
    assert_eq!(receiver.calls().len(), 2);

    // Half-open: of the two due deliveries only one goes out as the trial. It fails: the circuit
    // opens again at once and the other one waits for the next trial.
    app.advance_to(open_until);
    let reopened = app.wait_endpoint(&desk, "re-opened", |e| e.consecutive_failures == 3).await;
    assert_eq!(reopened.circuit, "open");
    let open_again = at(reopened.open_until.as_ref());
    assert_eq!(open_again, open_until + chrono::Duration::seconds(60));
    // The trial's own retry comes before the circuit's end; the other one waits for that end.
    let tried = |d: &civicgrid_proto::v1::Delivery, before: i32| d.attempt_count == before + 1;
    let due = |d: &civicgrid_proto::v1::Delivery| d.next_attempt_at.as_ref().map(|t| at(Some(t)));
    eventually("one trial and one held", async || {
        let d1 = app.wait_webhook(&first, "pending", |_| true).await;
        let d2 = app.wait_webhook(&second, "pending", |_| true).await;
        let trial = if tried(&d1, 2) && d2.attempt_count == 0 && due(&d2) == Some(open_again) {
            d1
        } else if tried(&d2, 0) && d1.attempt_count == 2 && due(&d1) == Some(open_again) {
            d2
        } else {
            return Err(format!("{d1:#?} {d2:#?}"));
        };
        assert_eq!(trial.attempts.last().map(|a| a.http_status), Some(503));
        assert!(due(&trial).is_some_and(|t| t <= open_again), "the trial's retry is due before {open_again}");
        Ok(())
    })
    .await;
    assert_eq!(receiver.calls().len(), 3, "one trial call, the other held");

    // The next trial succeeds (the receiver answers 200 from now on): closed, and the held one follows.
    app.advance_to(open_again);
    for note in [&first, &second] {
        app.wait_webhook(note, "delivered", |d| d.status == DeliveryStatus::Delivered as i32).await;
    }
    let closed = app.wait_endpoint(&desk, "closed", |e| e.circuit == "closed").await;
    assert_eq!((closed.consecutive_failures, closed.open_until), (0, None));
    let calls = receiver.wait_calls(5).await;
    assert_eq!(calls.len(), 5);
    let first_attempts = app.wait_webhook(&first, "record", |_| true).await.attempts;
    let second_attempts = app.wait_webhook(&second, "record", |_| true).await.attempts;
    assert_eq!(first_attempts.len() + second_attempts.len(), 5, "an attempt recorded for every call, none for holds");
}

#[tokio::test]
async fn after_the_last_attempt_the_delivery_fails_and_notify_failed_is_published() {
    let app = spawn_app_with(
        Clock::manual(monday_9am()),
        "[notify]\nmax_attempts = 2\nbreaker_failures = 10\nretry_initial_ms = 1000\n",
    )
    .await;
    let (receiver, desk, endpoint) = desk_with_receiver(&app).await;
    receiver.script(&[Answer::Status(500), Answer::Status(503)]);
    let (_, ce_id, note) = assign(&app, &desk, 0).await;
    let first = app.wait_webhook(&note, "first attempt", |d| d.attempt_count == 1).await;
    app.advance_to(at(first.next_attempt_at.as_ref()));

    let failed = app.wait_webhook(&note, "failed", |d| d.status == DeliveryStatus::Failed as i32).await;
    let outcomes: Vec<(&str, i32)> = failed.attempts.iter().map(|a| (a.outcome.as_str(), a.http_status)).collect();
    assert_eq!(outcomes, [("failed", 500), ("gave-up", 503)]);
    assert_eq!(failed.attempt_count, 2);
    assert!(failed.next_attempt_at.is_none() && failed.delivered_at.is_none());
    assert!(failed.last_error.contains("503"), "{}", failed.last_error);

    // The dead-letter record: listed among the recipient's failed deliveries.
    let mut c = app.client.clone();
    let req =
        ListDeliveriesRequest { recipient: desk.clone(), status: DeliveryStatus::Failed as i32, ..Default::default() };
    let listed = c.list_deliveries(authed(req, &department(DEPT))).await.expect("failed deliveries").into_inner();
    assert_eq!(listed.deliveries.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(), [failed.id.as_str()]);

    let event = app.wait_published("notify-failed", |_, e| e.fact == "notify-failed").await;
    assert_eq!((event.delivery_id.as_str(), event.notification_id.as_str()), (failed.id.as_str(), note.as_str()));
    assert_eq!((event.endpoint_id.as_str(), event.source_event_id.as_str()), (endpoint.as_str(), ce_id.as_str()));
    assert_eq!(event.attempts, 2);
    assert!(event.error.contains("503"), "{}", event.error);
    let subjects: Vec<String> =
        app.published().await.into_iter().filter(|(_, e)| e.delivery_id == failed.id).map(|(s, _)| s).collect();
    assert_eq!(subjects, [format!("civicgrid.notify.notify-failed.{CITY}.{COUNTY}.{TOWNSHIP}.{VILLAGE}")]);

    // Given up means given up: time passing calls nobody.
    let probe = Probe;
    app.advance(chrono::Duration::hours(2));
    probe.pass(&app).await;
    assert_eq!(receiver.calls().len(), 2);
}

#[tokio::test]
async fn deleting_an_endpoint_fails_its_waiting_deliveries() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let (receiver, desk, endpoint) = desk_with_receiver(&app).await;
    receiver.script(&[Answer::Status(500)]);
    let (_, _, note) = assign(&app, &desk, 0).await;
    let waiting = app.wait_webhook(&note, "a failed attempt", |d| d.attempt_count == 1).await;
    assert_eq!(waiting.status, DeliveryStatus::Pending as i32);

    let mut c = app.client.clone();
    let err = c
        .delete_webhook(authed(DeleteWebhookRequest { endpoint_id: endpoint.clone() }, &department(OTHER_DEPT)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "another department's endpoint");
    let deleted = c
        .delete_webhook(authed(DeleteWebhookRequest { endpoint_id: endpoint.clone() }, &department(DEPT)))
        .await
        .expect("delete")
        .into_inner();
    assert!(!deleted.active);
    let failed = app.wait_webhook(&note, "failed", |d| d.status == DeliveryStatus::Failed as i32).await;
    assert_eq!(failed.last_error, "endpoint removed");
    assert!(failed.next_attempt_at.is_none());
    assert_eq!(failed.attempt_count, 1, "nothing more was tried");
    let event = app.wait_published("notify-failed", |_, e| e.delivery_id == failed.id).await;
    assert_eq!((event.fact.as_str(), event.error.as_str()), ("notify-failed", "endpoint removed"));
    assert_eq!(event.notification_id, note);

    assert!(app.webhooks(&desk, false).await.is_empty());
    assert_eq!(app.webhooks(&desk, true).await.len(), 1, "kept, inactive");
    // Later notifications have no webhook delivery, and the retry's time calls nobody.
    app.advance(chrono::Duration::minutes(10));
    let (_, _, later) = assign(&app, &desk, 1).await;
    let deliveries = app.deliveries_of(&later).await;
    assert_eq!(deliveries.iter().map(|d| d.channel).collect::<Vec<_>>(), [Channel::Inbox as i32]);
    let probe = Probe;
    probe.pass(&app).await;
    assert_eq!(receiver.calls().len(), 1);
}

#[tokio::test]
async fn deleting_an_endpoint_leaves_a_call_in_flight_to_finish() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let (receiver, desk, endpoint) = desk_with_receiver(&app).await;
    receiver.script(&[Answer::Slow(Duration::from_millis(500))]);
    let (_, _, note) = assign(&app, &desk, 0).await;
    receiver.wait_calls(1).await;
    // The receiver has the call and has not answered yet.
    let mut c = app.client.clone();
    c.delete_webhook(authed(DeleteWebhookRequest { endpoint_id: endpoint }, &admin())).await.expect("delete");
    let hook = app.wait_webhook(&note, "delivered", |d| d.status == DeliveryStatus::Delivered as i32).await;
    assert_eq!((hook.attempt_count, hook.last_error.as_str()), (1, ""));
    // Its one fact is notify-delivered: the delete did not also give it up.
    app.wait_published("notify-delivered", |_, e| e.delivery_id == hook.id).await;
    let probe = Probe;
    probe.pass(&app).await;
    let facts: Vec<String> =
        app.published().await.into_iter().filter(|(_, e)| e.delivery_id == hook.id).map(|(_, e)| e.fact).collect();
    assert_eq!(facts, ["notify-delivered"]);
}

#[tokio::test]
async fn registering_is_idempotent_and_checks_every_field() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let mut c = app.client.clone();
    let desk = format!("department:{DEPT}");
    let request = |recipient: &str, url: &str, secret: &str, request_id: &str| RegisterWebhookRequest {
        recipient: recipient.into(),
        url: url.into(),
        secret: secret.into(),
        description: "duty desk system".into(),
        request_id: request_id.into(),
    };
    let first = c
        .register_webhook(authed(
            request(&desk, "https://desk.example/hook", HOOK_SECRET, "register-1"),
            &department(DEPT),
        ))
        .await
        .expect("register")
        .into_inner();
    assert_eq!((first.circuit.as_str(), first.active), ("closed", true));
    app.advance(chrono::Duration::minutes(1));
    // A retry returns the first answer, even if the caller changed its mind in between.
    let again = c
        .register_webhook(authed(
            request(&desk, "https://other.example/hook", HOOK_SECRET, "register-1"),
            &department(DEPT),
        ))
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(again, first);
    assert_eq!(app.webhooks(&desk, true).await, std::slice::from_ref(&first));
    // The same request id from another recipient's caller is another request; it neither gets
    // nor changes this desk's endpoint.
    let other = c
        .register_webhook(authed(
            request(&format!("department:{OTHER_DEPT}"), "https://hb.example/hook", HOOK_SECRET, "register-1"),
            &department(OTHER_DEPT),
        ))
        .await
        .expect("another desk")
        .into_inner();
    assert_ne!(other.id, first.id);
    assert_eq!(other.recipient, format!("department:{OTHER_DEPT}"));
    assert_eq!(app.webhooks(&desk, true).await, [first]);

    // Every bad field at once, each named.
    let err = c
        .register_webhook(authed(request("reporter:rep-1", "ftp://desk.example/hook", "short", "x"), &admin()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let fields: Vec<String> = field_violations(&err).into_iter().map(|(f, _)| f).collect();
    assert_eq!(fields, ["recipient", "url", "secret", "request_id"]);
    for (recipient, url, why) in [
        ("grid-worker:gw-1", "https://desk.example/hook", "a person"),
        ("mayor:1", "https://desk.example/hook", "no such kind"),
        (desk.as_str(), "http://", "no host"),
        (desk.as_str(), "mailto:desk@example.org", "not http"),
        (desk.as_str(), "not a url", "not a URL"),
    ] {
        let err =
            c.register_webhook(authed(request(recipient, url, HOOK_SECRET, "register-2"), &admin())).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{why}");
        let field = if url.starts_with("https://") { "recipient" } else { "url" };
        assert_eq!(field_violations(&err).into_iter().map(|(f, _)| f).collect::<Vec<_>>(), [field], "{why}");
    }
    let long_secret = "s".repeat(257);
    let err = c
        .register_webhook(authed(request(&desk, "https://desk.example/hook", &long_secret, "register-3"), &admin()))
        .await
        .unwrap_err();
    assert_eq!(field_violations(&err)[0].0, "secret");
    let err = c
        .register_webhook(authed(
            request(&desk, "https://desk.example/hook", HOOK_SECRET, "register-4"),
            &department(OTHER_DEPT),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "another department's desk");
    assert_eq!(app.webhooks(&desk, true).await.len(), 1, "nothing refused was stored");
}

#[tokio::test]
async fn a_recipients_deliveries_list_the_inbox_entries_beside_the_pushes_in_pages() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let (receiver, desk, endpoint) = desk_with_receiver(&app).await;
    let mut notes = Vec::new();
    for seen in 0..3 {
        notes.push(assign(&app, &desk, seen).await.2);
    }
    receiver.wait_calls(3).await;
    for note in &notes {
        app.wait_webhook(note, "delivered", |d| d.status == DeliveryStatus::Delivered as i32).await;
    }
    let inbox = app.inbox(&desk, &admin()).await;

    // Pages of two, newest first, across both kinds: each notification's inbox delivery (its own
    // id, delivered when written, one attempt) and its webhook delivery.
    let mut c = app.client.clone();
    let (mut listed, mut token) = (Vec::new(), String::new());
    loop {
        let req =
            ListDeliveriesRequest { recipient: desk.clone(), page_size: 2, page_token: token, ..Default::default() };
        let page = c.list_deliveries(authed(req, &department(DEPT))).await.expect("a page").into_inner();
        assert!(page.deliveries.len() <= 2);
        listed.extend(page.deliveries);
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(listed.len(), 6, "{listed:#?}");
    let ids: Vec<uuid::Uuid> = listed.iter().map(|d| d.id.parse().expect("a uuid")).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first, no repeats: {ids:?}");
    for note in &notes {
        let of_note: Vec<&civicgrid_proto::v1::Delivery> =
            listed.iter().filter(|d| &d.notification_id == note).collect();
        let channels: Vec<i32> = of_note.iter().map(|d| d.channel).collect();
        assert_eq!(channels, [Channel::Webhook as i32, Channel::Inbox as i32], "{of_note:#?}");
        let entry = of_note[1];
        let written = inbox.iter().find(|n| &n.id == note).expect("in the inbox");
        assert_eq!((entry.id.as_str(), entry.endpoint_id.as_str()), (note.as_str(), ""));
        assert_eq!((entry.status, entry.attempt_count), (DeliveryStatus::Delivered as i32, 1));
        assert_eq!((&entry.delivered_at, &entry.created_at), (&written.created_at, &written.created_at));
        assert_eq!((entry.fact.as_str(), of_note[0].endpoint_id.as_str()), ("task-assigned", endpoint.as_str()));
        assert_eq!(app.deliveries_of(note).await, of_note.into_iter().cloned().collect::<Vec<_>>());
    }

    // A status filter applies to both kinds.
    for (status, n) in [(DeliveryStatus::Delivered, 6), (DeliveryStatus::Pending, 0)] {
        let req = ListDeliveriesRequest { recipient: desk.clone(), status: status as i32, ..Default::default() };
        let got = c.list_deliveries(authed(req, &department(DEPT))).await.expect("filtered").into_inner();
        assert_eq!(got.deliveries.len(), n, "{status:?}");
    }
}
