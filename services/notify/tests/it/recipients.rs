//! The right people hear of each fact, once, in their language; and nobody reads another's
//! notifications.

use civicgrid_kit::{clock::Clock, grpc::field_violations};
use civicgrid_proto::v1::{
    GetPreferencesRequest, ListInboxRequest, Preferences, Priority, SetPreferencesRequest, WarningColour,
};
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn each_fact_reaches_its_recipients() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let event = new_id();
    let task = new_id();

    // The reporter hears that the report was accepted; a second reporter that theirs joined it.
    app.publish_reported(&reported(&event, "rep-1")).await;
    let receipt = &app.wait_inbox("reporter:rep-1", 1).await[0];
    assert_eq!((receipt.fact.as_str(), receipt.rule.as_str()), ("event-reported", "reporter-receipt"));
    assert!(receipt.title.starts_with("已受理"), "{}", receipt.title);
    app.publish_merged(&merged(&event, "rep-2", 2)).await;
    let joined = &app.wait_inbox("reporter:rep-2", 1).await[0];
    assert_eq!((joined.fact.as_str(), joined.priority), ("event-merged", Priority::Low as i32));

    // The duty desk hears of the assignment.
    let assigned = task_fact("task-assigned", &task, &event);
    app.publish_task(&assigned).await;
    let n = &app.wait_inbox(&format!("department:{DEPT}"), 1).await[0];
    assert_eq!(n.fact, "task-assigned");
    assert_eq!(n.subject_id, task);
    assert_eq!(n.data.get("tracking_number"), Some(&assigned.tracking_number));
    assert!(n.title.contains(&assigned.tracking_number), "{}", n.title);
    assert!(n.cursor > 0);

    // The grid worker is asked to verify the fix of the lead task.
    let mut resolved = task_fact("task-resolved", &task, &event);
    resolved.tracking_number = assigned.tracking_number.clone();
    app.publish_task(&resolved).await;
    let verify = &app.wait_inbox(&format!("grid-worker:{GRID_WORKER}"), 1).await[0];
    assert_eq!(verify.rule, "grid-worker-verify");
    assert!(verify.body.contains(GRID), "{}", verify.body);

    // Closure reaches every reporter of the event, with the request to rate it.
    app.publish_task(&task_fact("task-closed", &task, &event)).await;
    for reporter in ["reporter:rep-1", "reporter:rep-2"] {
        let inbox = app.wait_inbox(reporter, 2).await;
        let closed = inbox.iter().find(|n| n.fact == "task-closed").expect("closure notice");
        assert!(closed.body.contains("评价"), "{}", closed.body);
    }

    // An assisting task's closure tells nobody: only the lead task speaks for the event.
    let mut assisting = task_fact("task-closed", &new_id(), &event);
    assisting.lead = false;
    app.publish_task(&assisting).await;

    // Escalation: the next level's center and its leaders must acknowledge; the desk is told.
    let mut escalated = task_fact("task-escalated", &task, &event);
    escalated.escalated = true;
    escalated.escalated_to = COUNTY.into();
    escalated.colour = WarningColour::Red as i32;
    escalated.reason = "overdue".into();
    app.publish_task(&escalated).await;
    for recipient in [format!("center:{COUNTY}"), format!("leaders:{COUNTY}")] {
        let n = &app.wait_inbox(&recipient, 1).await[0];
        assert_eq!(n.priority, Priority::Critical as i32);
        assert!(n.ack_required, "{recipient} must acknowledge");
        assert!(n.ack_due_at.is_some());
    }
    let desk = app.wait_inbox(&format!("department:{DEPT}"), 2).await;
    assert!(desk.iter().any(|n| n.fact == "task-escalated" && !n.ack_required));

    // Warnings: yellow to the desk only; orange also to the township's center.
    let mut yellow = task_fact("task-warning", &task, &event);
    yellow.colour = WarningColour::Yellow as i32;
    app.publish_task(&yellow).await;
    let mut orange = task_fact("task-warning", &task, &event);
    orange.colour = WarningColour::Orange as i32;
    app.publish_task(&orange).await;
    let township = app.wait_inbox(&format!("center:{TOWNSHIP}"), 1).await;
    assert_eq!(township.len(), 1);
    assert!(township[0].title.starts_with("橙色预警"), "{}", township[0].title);
    let desk = app.wait_inbox(&format!("department:{DEPT}"), 4).await;
    assert_eq!(desk.iter().filter(|n| n.fact == "task-warning").count(), 2);

    // Reporters got nothing for the assisting task's closure.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(app.inbox("reporter:rep-1", &admin()).await.len(), 2);
}

#[tokio::test]
async fn a_redelivered_fact_notifies_nobody_twice() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let fact = task_fact("task-assigned", &new_id(), &new_id());
    let ce_id = uuid::Uuid::now_v7();
    let region = fact.region.clone().unwrap_or_default();
    let subject = civicgrid_kit::bus::subject("dispatch", "task-assigned", &region);
    app.publish_as("dispatch", subject.clone(), &fact.task_id, &fact, ce_id).await;
    app.wait_inbox(&format!("department:{DEPT}"), 1).await;
    // The same ce-id again (a redelivery after the duplicate window, or a replay).
    app.publish_as("dispatch", subject, &fact.task_id, &fact, ce_id).await;
    // A later fact proves the copy was consumed before we look.
    app.publish_task(&task_fact("task-reworked", &fact.task_id, &fact.event_id)).await;
    let inbox = app.wait_inbox(&format!("department:{DEPT}"), 2).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let inbox_again = app.inbox(&format!("department:{DEPT}"), &admin()).await;
    assert_eq!(inbox.len(), 2);
    assert_eq!(inbox_again.len(), 2, "the redelivered fact notified twice");
}

#[tokio::test]
async fn callers_see_only_their_own_recipients() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    app.publish_task(&task_fact("task-assigned", &new_id(), &new_id())).await;
    app.wait_inbox(&format!("department:{DEPT}"), 1).await;
    let mut c = app.client.clone();
    let list = |recipient: &str| ListInboxRequest { recipient: recipient.into(), ..Default::default() };

    let own = c.list_inbox(authed(list(&format!("department:{DEPT}")), &department(DEPT))).await.expect("own inbox");
    assert_eq!(own.into_inner().notifications.len(), 1);
    let err = c.list_inbox(authed(list(&format!("department:{DEPT}")), &department(OTHER_DEPT))).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let err = c.list_inbox(authed(list(&format!("center:{COUNTY}")), &center("411621"))).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "a center outside the county");
    c.list_inbox(authed(list(&format!("center:{TOWNSHIP}")), &center(COUNTY)))
        .await
        .expect("a township inside the county");
    let err =
        c.list_inbox(authed(list(&format!("grid-worker:{GRID_WORKER}")), &grid_worker("gw-other"))).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let err = c.list_inbox(list("department:x")).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "no token");

    let err = c.list_inbox(authed(list("mayor:1"), &admin())).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(field_violations(&err)[0].0, "recipient");
    let bad_page = ListInboxRequest { recipient: "department:x".into(), page_size: 501, ..Default::default() };
    let err = c.list_inbox(authed(bad_page, &admin())).await.unwrap_err();
    assert_eq!(field_violations(&err)[0].0, "page_size");
}

#[tokio::test]
async fn preferences_choose_the_language_and_check_their_fields() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let mut c = app.client.clone();
    let desk = format!("department:{DEPT}");
    let defaults = c
        .get_preferences(authed(GetPreferencesRequest { recipient: desk.clone() }, &department(DEPT)))
        .await
        .expect("defaults")
        .into_inner();
    assert!(defaults.defaults);
    assert_eq!((defaults.locale.as_str(), defaults.channels.len()), ("zh-CN", 2), "inbox and webhook");

    let english = Preferences { recipient: desk.clone(), channels: vec![1], locale: "en".into(), ..Default::default() };
    let stored = c
        .set_preferences(authed(SetPreferencesRequest { preferences: Some(english) }, &department(DEPT)))
        .await
        .expect("set")
        .into_inner();
    assert!(!stored.defaults);
    app.publish_task(&task_fact("task-assigned", &new_id(), &new_id())).await;
    let n = &app.wait_inbox(&desk, 1).await[0];
    assert!(n.title.starts_with("New task"), "{}", n.title);
    assert_eq!(n.locale, "en");

    let bad = Preferences {
        recipient: desk.clone(),
        channels: vec![3, 9],
        locale: "fr".into(),
        quiet_hours: Some(civicgrid_proto::v1::QuietHours { start: "25:00".into(), end: "07:00".into() }),
        digest_interval_minutes: -1,
        sms_phone: "12345".into(),
        ..Default::default()
    };
    let err = c
        .set_preferences(authed(SetPreferencesRequest { preferences: Some(bad) }, &department(DEPT)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let fields: Vec<String> = field_violations(&err).into_iter().map(|(f, _)| f).collect();
    for f in [
        "preferences.channels[1]",
        "preferences.locale",
        "preferences.quiet_hours",
        "preferences.digest_interval_minutes",
        "preferences.sms_phone",
    ] {
        assert!(fields.iter().any(|g| g == f), "{f} missing from {fields:?}");
    }
    let sms_without_phone =
        Preferences { recipient: desk, channels: vec![3], locale: "en".into(), ..Default::default() };
    let err = c
        .set_preferences(authed(SetPreferencesRequest { preferences: Some(sms_without_phone) }, &department(DEPT)))
        .await
        .unwrap_err();
    assert_eq!(field_violations(&err)[0].0, "preferences.sms_phone");
}
