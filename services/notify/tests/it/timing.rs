//! Time, on the manual clock: quiet hours, digests, and re-escalation of notices nobody
//! acknowledged. Nothing here sleeps for a deadline; a [`Probe`] shows that the worker looked.

use civicgrid_kit::clock::Clock;
use civicgrid_proto::v1::{
    AcknowledgeRequest, Channel, DeliveryStatus, Preferences, Priority, QuietHours, WarningColour,
};

use crate::helpers::*;

const HOOK_SECRET: &str = "desk-secret-0123456789abcdef";
const DESK_PHONE: &str = "13800000001";

/// notify on a manual clock with the HTTP SMS gateway on a receiver, the desk's webhook on
/// another, the desk's preferences stored, and a probe.
struct Setup {
    app: TestApp,
    probe: Probe,
    hooks: Receiver,
    sms: Receiver,
    desk: String,
}

async fn setup(start: chrono::DateTime<chrono::Utc>, desk_prefs: Preferences) -> Setup {
    let sms = Receiver::start().await;
    let app =
        spawn_app_with(Clock::manual(start), &format!("[notify.sms]\nprovider = \"http\"\nurl = \"{}\"\n", sms.url))
            .await;
    let probe = Probe;
    let hooks = Receiver::start().await;
    let desk = format!("department:{DEPT}");
    register(&app, &desk, &hooks.url, HOOK_SECRET).await;
    app.set_prefs(Preferences { recipient: desk.clone(), locale: "zh-CN".into(), ..desk_prefs }).await;
    Setup { app, probe, hooks, sms, desk }
}

fn escalated(task: &str, event: &str) -> civicgrid_proto::v1::TaskEvent {
    let mut e = task_fact("task-escalated", task, event);
    e.escalated = true;
    e.escalated_to = COUNTY.into();
    e.colour = WarningColour::Red as i32;
    e.reason = "overdue".into();
    e
}

fn is_due(d: &civicgrid_proto::v1::Delivery, status: DeliveryStatus, when: chrono::DateTime<chrono::Utc>) -> bool {
    d.status == status as i32 && d.next_attempt_at.as_ref().map(|t| at(Some(t))) == Some(when)
}

#[tokio::test]
async fn quiet_hours_hold_normal_notices_until_they_end_but_not_critical_ones() {
    let Setup { app, probe, hooks, sms, desk } = setup(
        local("2026-11-16 23:00"),
        Preferences {
            channels: vec![Channel::Webhook as i32, Channel::Sms as i32],
            quiet_hours: Some(QuietHours { start: "22:00".into(), end: "07:00".into() }),
            sms_phone: DESK_PHONE.into(),
            ..Default::default()
        },
    )
    .await;

    // At 23:00 an extension answer (normal) and a new task (high) wait for the morning; an
    // escalation (critical) goes at once.
    let extended = task_fact("task-extended", &new_id(), &new_id());
    app.publish_task(&extended).await;
    let assigned = task_fact("task-assigned", &new_id(), &new_id());
    app.publish_task(&assigned).await;
    let held = app.wait_inbox(&desk, 2).await;
    assert_eq!(held.iter().map(|n| n.priority).collect::<Vec<_>>(), [Priority::Normal as i32, Priority::High as i32]);
    app.publish_task(&escalated(&new_id(), &new_id())).await;
    let urgent = app.wait_inbox(&desk, 3).await.remove(2);
    assert_eq!((urgent.fact.as_str(), urgent.priority), ("task-escalated", Priority::Critical as i32));
    for channel in [Channel::Webhook, Channel::Sms] {
        app.wait_channel(&urgent.id, channel, "sent at night", |d| d.status == DeliveryStatus::Delivered as i32).await;
    }
    let hook_calls = hooks.wait_calls(1).await;
    assert_eq!(hook_calls[0].header("X-Civicgrid-Fact"), "task-escalated");
    assert!(sms.wait_calls(1).await[0].json()["text"].as_str().is_some_and(|t| t.starts_with("督办")));

    let morning = local("2026-11-17 07:00");
    for (n, channel) in held.iter().flat_map(|n| [(n, Channel::Webhook), (n, Channel::Sms)]) {
        app.wait_channel(&n.id, channel, "deferred", |d| is_due(d, DeliveryStatus::Deferred, morning)).await;
        let inbox = app.wait_channel(&n.id, Channel::Inbox, "in the inbox", |_| true).await;
        assert_eq!(inbox.status, DeliveryStatus::Delivered as i32, "the inbox is not held");
    }

    // A minute before the end nothing has gone; at the end all of it goes.
    app.advance_to(local("2026-11-17 06:59"));
    probe.pass(&app).await;
    assert_eq!((hooks.calls().len(), sms.calls().len()), (1, 1));
    app.advance_to(morning);
    for (n, channel) in held.iter().flat_map(|n| [(n, Channel::Webhook), (n, Channel::Sms)]) {
        app.wait_channel(&n.id, channel, "sent in the morning", |d| d.status == DeliveryStatus::Delivered as i32).await;
    }
    let mut facts: Vec<String> =
        hooks.wait_calls(3).await[1..].iter().map(|c| c.header("X-Civicgrid-Fact").to_string()).collect();
    facts.sort();
    assert_eq!(facts, ["task-assigned", "task-extended"]);
    let texts: Vec<String> =
        sms.wait_calls(3).await[1..].iter().map(|c| c.json()["text"].as_str().unwrap_or("").to_string()).collect();
    for number in [&extended.tracking_number, &assigned.tracking_number] {
        assert!(texts.iter().any(|t| t.contains(number.as_str())), "{number} in {texts:?}");
    }
}

#[tokio::test]
async fn low_notices_go_out_together_in_one_digest() {
    let Setup { app, probe, hooks, sms, desk } = setup(
        monday_9am(),
        Preferences { channels: vec![Channel::Webhook as i32], digest_interval_minutes: 60, ..Default::default() },
    )
    .await;
    let reporter = "reporter:rep-1";
    app.set_prefs(Preferences {
        recipient: reporter.into(),
        channels: vec![Channel::Sms as i32],
        locale: "zh-CN".into(),
        digest_interval_minutes: 60,
        sms_phone: "13900000002".into(),
        ..Default::default()
    })
    .await;

    // Three low notices for the desk and two for the reporter; a high one for the desk goes
    // at once.
    let task = new_id();
    for fact in ["task-suspended", "task-resumed"] {
        app.publish_task(&task_fact(fact, &task, &new_id())).await;
    }
    app.publish_task(&task_fact("task-suspended", &new_id(), &new_id())).await;
    for _ in 0..2 {
        app.publish_merged(&merged(&new_id(), "rep-1", 2)).await;
    }
    let low = app.wait_inbox(&desk, 3).await;
    let joined = app.wait_inbox(reporter, 2).await;
    app.publish_task(&task_fact("task-assigned", &new_id(), &new_id())).await;
    let at_once = app.wait_inbox(&desk, 4).await.remove(3);
    assert_eq!(hooks.wait_calls(1).await[0].header("X-Civicgrid-Fact"), "task-assigned");
    app.wait_webhook(&at_once.id, "sent at once", |d| d.status == DeliveryStatus::Delivered as i32).await;

    let ten = local("2026-11-16 10:00");
    for n in &low {
        assert_eq!(n.priority, Priority::Low as i32);
        app.wait_webhook(&n.id, "collected", |d| is_due(d, DeliveryStatus::InDigest, ten)).await;
    }
    for n in &joined {
        app.wait_channel(&n.id, Channel::Sms, "collected", |d| is_due(d, DeliveryStatus::InDigest, ten)).await;
    }
    app.advance_to(local("2026-11-16 09:59"));
    probe.pass(&app).await;
    assert_eq!((hooks.calls().len(), sms.calls().len()), (1, 0), "nothing before the digest's time");

    // At 10:00: one call carrying the three, one text naming the two.
    app.advance_to(ten);
    let call = hooks.wait_calls(2).await.remove(1);
    assert_eq!(call.header("X-Civicgrid-Fact"), "digest");
    let body = call.json();
    assert_eq!(body["digest"], true);
    let carried: Vec<&str> =
        body["notifications"].as_array().expect("notifications").iter().filter_map(|n| n["id"].as_str()).collect();
    assert_eq!(carried, low.iter().map(|n| n.id.as_str()).collect::<Vec<_>>(), "all three, oldest first");
    let digest_id = call.header("X-Civicgrid-Delivery").to_string();
    assert_eq!(body["delivery_id"], digest_id.as_str());
    for n in &low {
        let d = app
            .wait_deliveries(&n.id, "digested", |d| {
                d.iter().any(|d| d.id == digest_id && d.status == DeliveryStatus::Delivered as i32)
            })
            .await;
        let member = d.iter().find(|m| m.channel == Channel::Webhook as i32 && m.id != digest_id).expect("member");
        assert_eq!((member.status, member.digest_id.as_str()), (DeliveryStatus::Digested as i32, digest_id.as_str()));
        let digest = d.iter().find(|d| d.id == digest_id).expect("the digest");
        assert_eq!((digest.fact.as_str(), digest.digest_size), ("digest", 3));
    }
    let text = sms.wait_calls(1).await.remove(0).json();
    assert_eq!(text["to"], "13900000002");
    let words = text["text"].as_str().expect("text");
    assert!(words.starts_with("您有2条新通知：已并案"), "{words}");
    let sms_digest = app.wait_channel(&joined[0].id, Channel::Sms, "digested", |d| d.digest_size == 2).await;
    assert_eq!(text["reference"], sms_digest.id.as_str());
    app.wait_published("the digest delivered", |_, e| e.delivery_id == digest_id && e.fact == "notify-delivered").await;

    probe.pass(&app).await;
    assert_eq!((hooks.calls().len(), sms.calls().len()), (2, 1), "each digest once");
}

#[tokio::test]
async fn an_unacknowledged_escalation_rises_one_level_once_and_an_acknowledged_one_not_at_all() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let probe = Probe;
    let fact = escalated(&new_id(), &new_id());
    app.publish_task(&fact).await;
    let county_center = app.wait_inbox(&format!("center:{COUNTY}"), 1).await.remove(0);
    let county_leaders = app.wait_inbox(&format!("leaders:{COUNTY}"), 1).await.remove(0);
    assert_eq!(at(county_center.ack_due_at.as_ref()), monday_9am() + chrono::Duration::minutes(30));
    // The leaders acknowledge; the center does not.
    let mut c = app.client.clone();
    let ack = AcknowledgeRequest { notification_id: county_leaders.id.clone(), request_id: "ack-leaders-1".into() };
    c.acknowledge(authed(ack, &center(COUNTY))).await.expect("acknowledge");

    let (city_center, city_leaders) = (format!("center:{CITY}"), format!("leaders:{CITY}"));
    app.advance(chrono::Duration::minutes(29));
    probe.pass(&app).await;
    assert!(app.inbox(&city_center, &admin()).await.is_empty(), "not before ack_due_at");

    app.advance(chrono::Duration::minutes(1));
    for recipient in [&city_center, &city_leaders] {
        let n = app.wait_inbox(recipient, 1).await.remove(0);
        assert_eq!((n.fact.as_str(), n.rule.as_str()), ("notify-unacknowledged", "unacknowledged-supervision"));
        assert_eq!(n.priority, Priority::Critical as i32);
        assert_eq!(n.source_event_id, county_center.id, "raised for the center's notice");
        assert_eq!(n.data.get("original_recipient"), Some(&format!("center:{COUNTY}")));
        assert_eq!(n.data.get("escalated_to").map(String::as_str), Some(CITY));
        assert!(n.title.contains(&fact.tracking_number), "{}", n.title);
        assert!(n.body.contains(&format!("center:{COUNTY}")) && n.body.contains("09:30"), "{}", n.body);
        assert!(!n.ack_required, "the re-escalation does not itself escalate");
    }

    // However long it stays unacknowledged: once.
    app.advance(chrono::Duration::days(1));
    probe.pass(&app).await;
    for recipient in [&city_center, &city_leaders] {
        assert_eq!(app.inbox(recipient, &admin()).await.len(), 1, "{recipient}");
    }
    let still = app.inbox(&format!("center:{COUNTY}"), &admin()).await;
    assert!(still[0].acked_at.is_none());
}
