//! Positions over NATS and through SendPositions: check-ins by entering and by crossing, a
//! malformed message dead-lettered with its reason while the rest goes on, a redelivered batch
//! applying nothing twice, bad fixes counted by reason, a manual check-in refused far away.

use chrono::Duration;
use civicgrid_dev::testing::{self, metrics};
use civicgrid_kit::clock::Clock;
use civicgrid_proto::v1::{CheckInMethod, CheckInRequest, CheckpointState, PositionBatch, PositionFix, ShiftState};
use tonic::Code;

use crate::helpers::*;

/// Waits until `n` positions are stored.
async fn stored(app: &TestApp, n: i64) {
    testing::eventually(&format!("{n} positions stored"), || async { app.stored_positions().await >= n }).await;
}

#[tokio::test]
async fn a_walk_published_on_nats_checks_in_every_checkpoint_even_crossed_between_fixes() {
    let app = spawn_app(Clock::manual(monday_8am())).await;
    app.setup(line_route("r1", true)).await;
    let t0 = monday_8am();
    let s = app.schedule("r1", t0, t0 + Duration::hours(4)).await;
    app.start(&s.id, &member("m1")).await;
    app.set_time(t0 + Duration::minutes(30));
    // Fixes every 20 s, 12.5 m/s east from -100 m to 1,150 m: 250 m apart, so no fix falls
    // inside any 30 m checkpoint: each is crossed between two fixes.
    let fixes = walk("m1", t0 + Duration::minutes(1), 20, -100.0, 1150.0, 6);
    app.publish_all(&fixes).await;
    let done = app.wait_for_fact(&s.id, "tour-completed", "the walk covers every checkpoint").await;
    assert_eq!(done.missed, 0);
    let shift = app.shift(&s.id).await;
    assert!(shift.tour_complete && !shift.late);
    for cp in &shift.checkpoints {
        assert_eq!(cp.state, CheckpointState::CheckedIn as i32, "{}", cp.checkpoint_id);
        assert_eq!((cp.method, cp.checked_in_by.as_str()), (CheckInMethod::Crossing as i32, "m1"));
    }
    let checked: Vec<_> = app.facts_of(&s.id).await.into_iter().filter(|f| f.fact == "checkpoint-checked-in").collect();
    assert_eq!(checked.iter().map(|f| f.checkpoint_id.as_str()).collect::<Vec<_>>(), vec!["a", "b", "c"]);
    assert_eq!((checked[1].member_name.as_str(), checked[1].checkpoint_name.as_str()), ("队员m1", "检查点b"));
    assert_eq!(checked[0].route_name, "巡逻路线r1");
    app.stop().await;
}

#[tokio::test]
async fn a_malformed_position_is_dead_lettered_with_its_reason_and_a_redelivery_changes_nothing() {
    let app = spawn_app(Clock::manual(monday_8am())).await;
    app.setup(line_route("r1", false)).await;
    let t0 = monday_8am();
    let s = app.schedule("r1", t0, t0 + Duration::hours(4)).await;
    app.start(&s.id, &member("m1")).await;
    app.set_time(t0 + Duration::minutes(30));
    app.publish_raw(vec![0xff, 0xff, 0xff]).await;
    // Fixes inside checkpoint a.
    let fixes = walk("m1", t0 + Duration::minutes(1), 10, -10.0, 10.0, 3);
    app.publish_all(&fixes).await;
    app.wait_for_fact(&s.id, "checkpoint-checked-in", "the fixes after the poison are applied").await;
    stored(&app, 3).await;
    testing::eventually("the dead letter", || async {
        testing::stream::messages(&app.js, "CIVICGRID_DEADLETTER").await.iter().any(|m| {
            m.subject == "civicgrid.deadletter.patrol.patrol-positions"
                && m.headers
                    .get("civicgrid-dlq-reason")
                    .is_some_and(|r| r.contains("undecodable civicgrid.v1.PositionFix"))
        })
    })
    .await;
    // The same messages again, as JetStream redelivers them after a crash before the ack: the
    // last one is a duplicate; the two before it are older than the last fix, so they go to
    // the track (where they are already) and move nothing.
    app.publish_all(&fixes).await;
    let seen = |m: &metrics::Scrape| {
        m.value("civicgrid_patrol_fixes_rejected_total", &[("reason", "duplicate")]).unwrap_or(0.0)
            + m.value("civicgrid_patrol_fixes_accepted_total", &[]).unwrap_or(0.0)
    };
    testing::eventually("the three repeats taken", || async { seen(&metrics::scrape(app.metrics_addr).await) >= 6.0 })
        .await;
    let m = metrics::scrape(app.metrics_addr).await;
    assert_eq!(app.stored_positions().await, 3);
    let names = app.fact_names(&s.id).await;
    assert_eq!(names.iter().filter(|f| *f == "checkpoint-checked-in").count(), 1, "{names:?}");
    assert_eq!(m.value("civicgrid_patrol_fixes_rejected_total", &[("reason", "duplicate")]), Some(1.0));
    assert_eq!(m.value("civicgrid_consumer_dead_letters_total", &[("durable", "patrol-positions")]), Some(1.0));
    app.stop().await;
}

#[tokio::test]
async fn send_positions_stores_before_it_answers_and_counts_rejections_by_reason() {
    let app = spawn_app(Clock::manual(monday_8am())).await;
    app.setup(line_route("r1", false)).await;
    let t0 = monday_8am();
    let s = app.schedule("r1", t0, t0 + Duration::hours(4)).await;
    app.start(&s.id, &member("m1")).await;
    app.set_time(t0 + Duration::minutes(30));
    let mut good = walk("m1", t0 + Duration::minutes(1), 10, -10.0, 10.0, 3);
    let mut far = fix("m1", t0 + Duration::minutes(2), at(50_000.0, 0.0));
    far.accuracy_m = 5.0;
    let future = fix("m1", t0 + Duration::hours(1), at(0.0, 0.0));
    let malformed = PositionFix { member_id: "m1".into(), ..Default::default() };
    good.extend([far, future, malformed]);
    let batches = vec![PositionBatch { fixes: good[..2].to_vec() }, PositionBatch { fixes: good[2..].to_vec() }];
    let mut client = app.client.clone();
    let summary = client.send_positions(authed(tokio_stream::iter(batches), &member("m1"))).await.unwrap().into_inner();
    assert_eq!(summary.accepted, 3);
    let mut reasons: Vec<(String, i64)> = summary.rejected.iter().map(|r| (r.reason.clone(), r.count)).collect();
    reasons.sort();
    assert_eq!(reasons, vec![("future".into(), 1), ("malformed".into(), 1), ("speed".into(), 1)]);
    assert_eq!(app.stored_positions().await, 3, "stored before the answer");
    assert_eq!(app.shift(&s.id).await.checkpoints[0].state, CheckpointState::CheckedIn as i32);

    let others = vec![PositionBatch { fixes: vec![fix("m2", t0 + Duration::minutes(4), at(0.0, 0.0))] }];
    let r = client.send_positions(authed(tokio_stream::iter(others), &member("m1"))).await;
    expect_code(r, Code::PermissionDenied, "a member sending another's positions");
    let strangers = vec![PositionBatch { fixes: vec![fix("stranger", t0 + Duration::minutes(4), at(0.0, 0.0))] }];
    let summary = client.send_positions(authed(tokio_stream::iter(strangers), &admin())).await.unwrap().into_inner();
    assert_eq!(summary.rejected[0].reason, "unknown_member");
    app.stop().await;
}

#[tokio::test]
async fn a_manual_check_in_counts_near_the_checkpoint_only() {
    let app = spawn_app(Clock::manual(monday_8am())).await;
    app.setup(line_route("r1", false)).await;
    let t0 = monday_8am();
    let s = app.schedule("r1", t0, t0 + Duration::hours(4)).await;
    app.start(&s.id, &member("m1")).await;
    app.set_time(t0 + Duration::minutes(10));
    // m1 stands 300 m from b, between a and b.
    app.publish_fix(&fix("m1", t0 + Duration::minutes(10), at(200.0, 0.0))).await;
    stored(&app, 1).await;
    let mut client = app.client.clone();
    let request = |cp: &str| CheckInRequest {
        request_id: rid(),
        shift_id: s.id.clone(),
        checkpoint_id: cp.into(),
        method: CheckInMethod::QrCode as i32,
        evidence: "QR:411602001-b".into(),
    };
    let r = client.check_in(authed(request("b"), &member("m1"))).await;
    let status = expect_code(r, Code::FailedPrecondition, "a QR check-in 300 m away");
    assert!(status.message().contains("too_far"), "{}", status.message());
    app.publish_fix(&fix("m1", t0 + Duration::minutes(10) + Duration::seconds(30), at(460.0, 0.0))).await;
    stored(&app, 2).await;
    let ok = request("b");
    let shift = client.check_in(authed(ok.clone(), &member("m1"))).await.unwrap().into_inner();
    let b = &shift.checkpoints[1];
    assert_eq!((b.state, b.method), (CheckpointState::CheckedIn as i32, CheckInMethod::QrCode as i32));
    let again = client.check_in(authed(ok, &member("m1"))).await.unwrap().into_inner();
    assert_eq!(again, shift, "a retried CheckIn answers the same");
    let r = client.check_in(authed(request("zz"), &member("m1"))).await;
    expect_code(r, Code::NotFound, "an unknown checkpoint");
    let mut bad = request("b");
    bad.method = CheckInMethod::Inside as i32;
    expect_invalid(client.check_in(authed(bad, &member("m1"))).await, "method", "a check-in by hand said to be inside");
    let r = client.check_in(authed(request("c"), &member("m2"))).await;
    expect_code(r, Code::FailedPrecondition, "m2 has sent no position");
    assert_eq!(app.shift(&s.id).await.state, ShiftState::Active as i32);
    app.stop().await;
}

#[tokio::test]
async fn a_fix_from_an_unlisted_device_is_rejected_and_changes_nothing() {
    let app = spawn_app(Clock::manual(monday_8am())).await;
    let mut t = team("t1", &["m1"]);
    t.members[0].device_ids = vec!["dev-m1".into()];
    app.put_team(t, &center(COUNTY)).await;
    let t0 = monday_8am();
    let mut stolen = fix("m1", t0, at(0.0, 0.0));
    stolen.device_id = "someone-elses-phone".into();
    let own = fix("m1", t0 + Duration::seconds(10), at(5.0, 0.0));
    let batch = vec![PositionBatch { fixes: vec![stolen, own] }];
    let summary =
        app.client.clone().send_positions(authed(tokio_stream::iter(batch), &member("m1"))).await.unwrap().into_inner();
    assert_eq!(summary.accepted, 1);
    assert_eq!(summary.rejected.iter().map(|r| (r.reason.as_str(), r.count)).collect::<Vec<_>>(), vec![("device", 1)]);
    assert_eq!(app.stored_positions().await, 1);
    app.stop().await;
}
