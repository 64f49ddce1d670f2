//! patrol's facts, published as patrol publishes them on `CIVICGRID_PATROL`, reach the team's
//! supervisors, its unit and the centers; an offline member nobody acknowledged reaches the
//! township center; nobody is told twice; shifts tell nobody.

use async_nats::jetstream::consumer::pull;
use civicgrid_kit::clock::Clock;
use civicgrid_proto::v1::{AcknowledgeRequest, ListInboxRequest, Priority};
use tonic::Code;

use crate::helpers::*;

fn supervisor(i: usize) -> String {
    format!("patrol-supervisor:{}", SUPERVISORS[i])
}

fn unit() -> String {
    format!("department:{PATROL_UNIT}")
}

#[tokio::test]
async fn a_missed_checkpoint_reaches_the_supervisors_and_the_unit_and_a_shift_nobody() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    // notify's durable reads the facts' subjects only, never the positions'.
    let filters = eventually("notify-patrol exists", async || {
        let mut c = app
            .js
            .get_consumer_from_stream::<pull::Config, _, _>("notify-patrol", "CIVICGRID_PATROL")
            .await
            .map_err(|e| e.to_string())?;
        Ok(c.info().await.map_err(|e| e.to_string())?.config.filter_subjects.clone())
    })
    .await;
    assert_eq!(filters, civicgrid_contracts::notify::PATROL.filter_subjects());
    assert_eq!(filters.len(), 12);
    assert!(!filters.iter().any(|s| s.starts_with("civicgrid.patrol.position")), "{filters:?}");

    let shift = new_id();
    app.publish_patrol(&patrol_fact("shift-started", &shift)).await;
    let missed = patrol_fact("checkpoint-missed", &shift);
    let ce_id = app.publish_patrol(&missed).await;
    for recipient in [supervisor(0), supervisor(1), unit()] {
        let n = app.wait_inbox(&recipient, 1).await;
        assert_eq!(n.len(), 1, "{recipient}: the shift's start told nobody");
        let n = &n[0];
        assert_eq!(
            (n.fact.as_str(), n.rule.as_str()),
            ("checkpoint-missed", "patrol-checkpoint-missed"),
            "{recipient}"
        );
        assert_eq!((n.subject_id.as_str(), n.source_event_id.as_str()), (shift.as_str(), ce_id.as_str()));
        assert_eq!((n.source_type.as_str(), n.priority), ("civicgrid.v1.PatrolEvent", Priority::High as i32));
        assert_eq!(n.title, "巡逻漏检 实验小学东门");
        assert!(n.body.contains("川汇区专职巡防一中队") && n.body.contains("人民路校园周边"), "{}", n.body);
        assert_eq!(n.data.get("fact_label").map(String::as_str), Some("巡逻漏检"));
        assert!(!n.ack_required, "a miss asks for no acknowledgement");
    }

    // Each supervisor reads their own inbox under their account, whatever their role; the unit's
    // desk reads its own. Nobody reads a supervisor's inbox under another account.
    let mut c = app.client.clone();
    let list = |recipient: String| ListInboxRequest { recipient, ..Default::default() };
    let own = c
        .list_inbox(authed(list(supervisor(0)), &patrol_member(SUPERVISORS[0])))
        .await
        .expect("a member's token reads its own supervisor inbox")
        .into_inner();
    assert_eq!(own.notifications.len(), 1);
    c.list_inbox(authed(list(supervisor(1)), &grid_worker(SUPERVISORS[1]))).await.expect("a grid worker supervises");
    c.list_inbox(authed(list(unit()), &department(PATROL_UNIT))).await.expect("the unit's desk");
    for (recipient, token) in [
        (supervisor(0), patrol_member(SUPERVISORS[1])),
        (supervisor(0), center(TOWNSHIP)),
        (supervisor(0), department(PATROL_UNIT)),
    ] {
        let err = c.list_inbox(authed(list(recipient.clone()), &token)).await.unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied, "{recipient}");
    }
    assert!(app.inbox(&format!("center:{TOWNSHIP}"), &admin()).await.is_empty(), "a miss is the team's business");
}

#[tokio::test]
async fn a_late_tour_reaches_the_township_center_too_and_a_finding_its_tracking_number() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let shift = new_id();
    let mut late = patrol_fact("tour-late", &shift);
    late.missed = 2;
    app.publish_patrol(&late).await;
    for recipient in [supervisor(0), supervisor(1), unit(), format!("center:{TOWNSHIP}")] {
        let n = app.wait_inbox(&recipient, 1).await.remove(0);
        assert_eq!((n.rule.as_str(), n.priority), ("patrol-tour-late", Priority::High as i32), "{recipient}");
        assert_eq!(n.title, "巡逻超时 人民路校园周边");
        assert!(n.body.contains("已漏检 2 个检查点"), "{}", n.body);
    }
    let mut finding = patrol_fact("finding-reported", &shift);
    finding.event_id = new_id();
    finding.tracking_number = "411602-20261116-000042".into();
    app.publish_patrol(&finding).await;
    let n = app.wait_inbox(&supervisor(1), 2).await.remove(1);
    assert_eq!((n.rule.as_str(), n.priority), ("patrol-finding", Priority::Low as i32));
    assert_eq!(n.title, "巡逻发现 411602-20261116-000042");
    assert_eq!(n.data.get("event_id"), Some(&finding.event_id));
    // The tour's end reaches the unit alone; the late tour is the only notice the center has.
    app.publish_patrol(&patrol_fact("tour-completed", &shift)).await;
    let done = app.wait_inbox(&unit(), 2).await.remove(1);
    assert_eq!((done.rule.as_str(), done.priority), ("patrol-tour-completed", Priority::Low as i32));
    assert_eq!(app.inbox(&format!("center:{TOWNSHIP}"), &admin()).await.len(), 1);
    assert_eq!(app.inbox(&supervisor(0), &admin()).await.len(), 2, "a finding, a late tour, no completion");
}

#[tokio::test]
async fn an_offline_member_nobody_acknowledged_in_15_minutes_reaches_the_township_center() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let probe = Probe;
    let shift = new_id();
    app.publish_patrol(&patrol_fact("member-offline", &shift)).await;
    let first = app.wait_inbox(&supervisor(0), 1).await.remove(0);
    let second = app.wait_inbox(&supervisor(1), 1).await.remove(0);
    for n in [&first, &second] {
        assert_eq!((n.rule.as_str(), n.priority), ("patrol-member-offline", Priority::High as i32));
        assert!(n.ack_required, "{} must acknowledge", n.recipient);
        assert_eq!(at(n.ack_due_at.as_ref()), monday_9am() + chrono::Duration::minutes(15));
        assert_eq!(n.title, "队员离线 王强");
        assert!(n.body.contains("最后定位时间 2026-11-16 09:00"), "{}", n.body);
    }
    assert!(app.inbox(&unit(), &admin()).await.is_empty(), "the supervisors act first");

    // The first supervisor acknowledges under their own account; the second does not.
    let mut c = app.client.clone();
    let ack = AcknowledgeRequest { notification_id: first.id.clone(), request_id: "ack-offline-sup-1".into() };
    let err = c.acknowledge(authed(ack.clone(), &patrol_member(SUPERVISORS[1]))).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "another supervisor's notice is not theirs to acknowledge");
    let acked = c.acknowledge(authed(ack, &patrol_member(SUPERVISORS[0]))).await.expect("acknowledged").into_inner();
    assert!(acked.acked_at.is_some());

    app.advance(chrono::Duration::minutes(16));
    let up = app.wait_inbox(&format!("center:{TOWNSHIP}"), 1).await.remove(0);
    assert_eq!((up.fact.as_str(), up.rule.as_str()), ("notify-unacknowledged", "patrol-offline-unacknowledged"));
    assert_eq!((up.priority, up.ack_required), (Priority::Critical as i32, false), "at once, and it stops there");
    assert_eq!(up.data.get("original_recipient"), Some(&supervisor(1)));
    assert_eq!(up.data.get("original_service").map(String::as_str), Some("patrol"));
    assert_eq!(up.title, "超时未确认 队员离线 王强");
    c.list_inbox(authed(
        ListInboxRequest { recipient: format!("center:{TOWNSHIP}"), ..Default::default() },
        &center(TOWNSHIP),
    ))
    .await
    .expect("the township center reads its own");

    // After a further pass: the acknowledged notice stayed put, and no leaders or county heard.
    probe.pass(&app).await;
    assert_eq!(app.inbox(&format!("center:{TOWNSHIP}"), &admin()).await.len(), 1);
    for nobody in [format!("leaders:{TOWNSHIP}"), format!("center:{COUNTY}"), format!("leaders:{COUNTY}")] {
        assert!(app.inbox(&nobody, &admin()).await.is_empty(), "{nobody} heard of it");
    }

    // The member is back: the supervisors hear, at low priority.
    app.publish_patrol(&patrol_fact("member-online", &shift)).await;
    let back = app.wait_inbox(&supervisor(1), 2).await.remove(1);
    assert_eq!(
        (back.rule.as_str(), back.priority, back.title.as_str()),
        ("patrol-member-online", Priority::Low as i32, "队员恢复在线 王强")
    );
}

#[tokio::test]
async fn a_redelivered_patrol_fact_notifies_nobody_twice() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let shift = new_id();
    let missed = patrol_fact("checkpoint-missed", &shift);
    let ce_id = uuid::Uuid::now_v7();
    app.publish_patrol_as(&missed, ce_id).await;
    app.wait_inbox(&unit(), 1).await;
    app.publish_patrol_as(&missed, ce_id).await;
    // A later fact for the unit proves the copy was consumed before we count.
    app.publish_patrol(&patrol_fact("tour-completed", &shift)).await;
    let unit_inbox = app.wait_inbox(&unit(), 2).await;
    assert_eq!(
        unit_inbox.iter().map(|n| n.fact.as_str()).collect::<Vec<_>>(),
        ["checkpoint-missed", "tour-completed"],
        "the unit was told twice"
    );
    for recipient in [supervisor(0), supervisor(1)] {
        assert_eq!(app.inbox(&recipient, &admin()).await.len(), 1, "{recipient} was told twice");
    }
}

#[tokio::test]
async fn the_days_presence_reaches_the_county_center() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let ce_id = app.publish_patrol(&presence_daily("2026-11-15", 240, 210)).await;
    let n = app.wait_inbox(&format!("center:{COUNTY}"), 1).await.remove(0);
    assert_eq!((n.fact.as_str(), n.rule.as_str()), ("presence-daily", "patrol-presence-daily"));
    assert_eq!(
        (n.priority, n.subject_id.as_str(), n.source_event_id.as_str()),
        (Priority::Low as i32, "2026-11-15", ce_id.as_str())
    );
    assert_eq!(n.title, "上线率 2026-11-15");
    assert_eq!(n.body, format!("{COUNTY} 2026-11-15 上线率 87.5%：应在线 240 人，实际在线 210 人。"));
    let mut c = app.client.clone();
    let req = ListInboxRequest { recipient: format!("center:{COUNTY}"), ..Default::default() };
    let seen = c.list_inbox(authed(req, &center(COUNTY))).await.expect("the county center's own").into_inner();
    assert_eq!(seen.notifications.len(), 1);
    assert!(app.inbox(&format!("leaders:{COUNTY}"), &admin()).await.is_empty());
}
