//! What keeps notify from telling the wrong thing: old facts announce nothing, a closure that
//! overtakes its report still reaches the reporter, acknowledgement decides when a notice counts
//! as received, and webhooks cannot point into the cluster.

use civicgrid_kit::{clock::Clock, grpc::field_violations, time::to_proto};
use civicgrid_proto::v1::{
    AcknowledgeRequest, Channel, DeliveryStatus, Preferences, RegisterWebhookRequest, SetPreferencesRequest,
};
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn old_facts_notify_nobody_but_still_teach_the_reporters() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let event = new_id();
    // A report from a month ago (a replay, or notify's first start on an old stream).
    let mut old = reported(&event, "rep-old");
    if let Some(e) = old.event.as_mut() {
        e.reported_at = Some(to_proto(monday_9am() - chrono::Duration::days(30)));
    }
    app.publish_reported(&old).await;
    let mut stale = task_fact("task-assigned", &new_id(), &event);
    stale.occurred_at = Some(to_proto(monday_9am() - chrono::Duration::days(30)));
    app.publish_task(&stale).await;
    // A fresh closure of that event reaches its reporter: the old report was remembered.
    let mut closed = task_fact("task-closed", &new_id(), &event);
    closed.occurred_at = Some(to_proto(monday_9am()));
    app.publish_task(&closed).await;
    let inbox = app.wait_inbox("reporter:rep-old", 1).await;
    assert_eq!(inbox.iter().map(|n| n.fact.as_str()).collect::<Vec<_>>(), ["task-closed"]);
    assert!(app.inbox(&format!("department:{DEPT}"), &admin()).await.is_empty(), "the month-old assignment announced");
}

#[tokio::test]
async fn a_closure_that_overtakes_its_report_reaches_the_reporter_once_the_report_arrives() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let event = new_id();
    let closed = task_fact("task-closed", &new_id(), &event);
    let ce_id = uuid::Uuid::now_v7();
    let subject = civicgrid_kit::bus::subject("dispatch", "task-closed", &path());
    app.publish_as("dispatch", subject.clone(), &closed.task_id, &closed, ce_id).await;
    // Let the dispatch consumer apply it before the report exists.
    app.publish_task(&task_fact("task-assigned", &new_id(), &new_id())).await;
    app.wait_inbox(&format!("department:{DEPT}"), 1).await;
    assert!(app.inbox("reporter:rep-late", &admin()).await.is_empty());

    app.publish_reported(&reported(&event, "rep-late")).await;
    let inbox = app.wait_inbox("reporter:rep-late", 2).await;
    let mut facts: Vec<&str> = inbox.iter().map(|n| n.fact.as_str()).collect();
    facts.sort();
    assert_eq!(facts, ["event-reported", "task-closed"]);
    // The closure redelivered later does not tell the reporter twice.
    app.publish_as("dispatch", subject, &closed.task_id, &closed, ce_id).await;
    app.publish_reported(&reported(&new_id(), "rep-other")).await;
    app.wait_inbox("reporter:rep-other", 1).await;
    assert_eq!(app.inbox("reporter:rep-late", &admin()).await.len(), 2);
}

#[tokio::test]
async fn a_notice_that_asks_for_acknowledgement_is_received_when_acknowledged() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let mut escalated = task_fact("task-escalated", &new_id(), &new_id());
    escalated.escalated_to = COUNTY.into();
    app.publish_task(&escalated).await;
    let notice = app.wait_inbox(&format!("center:{COUNTY}"), 1).await.remove(0);
    app.wait_inbox(&format!("department:{DEPT}"), 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        !app.published().await.iter().any(|(_, e)| e.notification_id == notice.id),
        "an unacknowledged notice was reported delivered"
    );
    // Until acknowledged its inbox delivery waits, under the notification's id.
    let waiting = app.deliveries_of(&notice.id).await;
    let shape = |d: &[civicgrid_proto::v1::Delivery]| -> Vec<(String, i32, i32)> {
        d.iter().map(|d| (d.id.clone(), d.channel, d.status)).collect()
    };
    let inbox = Channel::Inbox as i32;
    assert_eq!(shape(&waiting), [(notice.id.clone(), inbox, DeliveryStatus::Pending as i32)]);
    assert!(waiting[0].delivered_at.is_none());
    let mut c = app.client.clone();
    let ack = AcknowledgeRequest { notification_id: notice.id.clone(), request_id: "ack-guards-0001".into() };
    let acked = c.acknowledge(authed(ack, &center(COUNTY))).await.expect("ack").into_inner();
    let delivered = app
        .wait_published("notify-delivered on acknowledgement", |_, e| {
            e.notification_id == notice.id && e.fact == "notify-delivered"
        })
        .await;
    assert_eq!(delivered.recipient, format!("center:{COUNTY}"));
    // The inbox delivery is the notification itself: listed, and reported, under its id,
    // delivered when acknowledged.
    assert_eq!((delivered.delivery_id.as_str(), delivered.channel), (notice.id.as_str(), inbox));
    let listed = app.deliveries_of(&notice.id).await;
    assert_eq!(shape(&listed), [(notice.id.clone(), inbox, DeliveryStatus::Delivered as i32)]);
    assert_eq!(listed[0].delivered_at, acked.acked_at);

    // The leaders never acknowledge: after 30 minutes their copy is reported failed.
    let leaders = app.wait_inbox(&format!("leaders:{COUNTY}"), 1).await.remove(0);
    app.advance(chrono::Duration::minutes(31));
    let failed = app
        .wait_published("notify-failed for the unacknowledged notice", |_, e| {
            e.notification_id == leaders.id && e.fact == "notify-failed"
        })
        .await;
    assert_eq!(failed.error, "not acknowledged in time");
    assert_eq!(failed.delivery_id, leaders.id);
    let listed = app.deliveries_of(&leaders.id).await;
    assert_eq!(shape(&listed), [(leaders.id.clone(), inbox, DeliveryStatus::Failed as i32)]);
    assert_eq!((listed[0].last_error.as_str(), listed[0].delivered_at.is_none()), ("not acknowledged in time", true));
}

#[tokio::test]
async fn webhooks_cannot_point_into_the_cluster_unless_allowed() {
    let app = spawn_app_with(Clock::manual(monday_9am()), "[notify]\nallow_private_webhooks = false\n").await;
    let mut c = app.client.clone();
    for url in ["http://127.0.0.1:9000/hook", "http://169.254.169.254/latest", "http://10.0.0.8/", "http://localhost/"]
    {
        let req = RegisterWebhookRequest {
            recipient: format!("department:{DEPT}"),
            url: url.into(),
            secret: "a-secret-of-16-chars".into(),
            description: String::new(),
            request_id: new_id(),
        };
        let err = c.register_webhook(authed(req, &admin())).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{url}");
        assert_eq!(field_violations(&err)[0].0, "url", "{url}");
    }
    let public = RegisterWebhookRequest {
        recipient: format!("department:{DEPT}"),
        url: "https://hooks.example.org/civicgrid".into(),
        secret: "a-secret-of-16-chars".into(),
        description: "bad\u{0}label".into(),
        request_id: new_id(),
    };
    let err = c.register_webhook(authed(public.clone(), &admin())).await.unwrap_err();
    assert_eq!(field_violations(&err)[0].0, "description", "a NUL is refused, not an INTERNAL");
    let ok = RegisterWebhookRequest { description: "ok".into(), ..public };
    c.register_webhook(authed(ok, &admin())).await.expect("a public URL is accepted");

    let odd = Preferences {
        recipient: format!("department:{DEPT}"),
        channels: vec![1],
        locale: "en".into(),
        digest_interval_minutes: 7,
        ..Default::default()
    };
    let err = c.set_preferences(authed(SetPreferencesRequest { preferences: Some(odd) }, &admin())).await.unwrap_err();
    assert_eq!(field_violations(&err)[0].0, "preferences.digest_interval_minutes", "7 does not divide a day");
}
