//! Alarms on the clock the test moves: a checkpoint missed at the end of its window, a member
//! silent past the threshold offline and then online again, a tour late, a shift ended by the
//! service at its end, positions deleted after their retention, presence published once a day
//! is over.

use chrono::Duration;
use civicgrid_dev::testing;
use civicgrid_kit::{clock::Clock, time::to_proto};
use civicgrid_proto::v1::{CheckpointState, ShiftState, TeamKind};

use crate::helpers::*;

#[tokio::test]
async fn a_skipped_checkpoint_is_missed_when_its_window_closes_and_the_tour_is_late() {
    let app = spawn_app(Clock::manual(monday_8am())).await;
    let r = route("r1", false, vec![within(cp("a", 0.0, 0.0, 30.0), 0, 10), cp("b", 500.0, 0.0, 30.0)]);
    app.setup(r).await;
    let t0 = monday_8am();
    let s = app.schedule("r1", t0, t0 + Duration::hours(4)).await;
    app.start(&s.id, &member("m1")).await;
    app.set_time(t0 + Duration::minutes(9));
    assert!(!app.fact_names(&s.id).await.contains(&"checkpoint-missed".to_string()), "not before the window closes");
    app.set_time(t0 + Duration::minutes(11));
    let missed = app.wait_for_fact(&s.id, "checkpoint-missed", "a's window closed at 08:10").await;
    assert_eq!((missed.checkpoint_id.as_str(), missed.checkpoint_name.as_str()), ("a", "检查点a"));
    assert_eq!(missed.occurred_at, Some(to_proto(t0 + Duration::minutes(10))));
    assert_eq!(missed.actor.unwrap().subject, "civicgrid-patrol");
    let shift = app.shift(&s.id).await;
    assert_eq!(shift.checkpoints[0].state, CheckpointState::Missed as i32);
    app.set_time(t0 + Duration::minutes(61));
    let late = app.wait_for_fact(&s.id, "tour-late", "the tour was due at 09:00").await;
    assert_eq!(late.missed, 1);
    assert!(app.shift(&s.id).await.late);
    app.stop().await;
}

#[tokio::test]
async fn a_silent_member_goes_offline_and_comes_back_online() {
    let app = spawn_app(Clock::manual(monday_8am())).await;
    app.setup(line_route("r1", false)).await;
    let t0 = monday_8am();
    let s = app.schedule("r1", t0, t0 + Duration::hours(4)).await;
    app.start(&s.id, &member("m1")).await;
    app.set_time(t0 + Duration::minutes(1));
    app.publish_fix(&fix("m1", t0 + Duration::minutes(1), at(-200.0, 0.0))).await;
    testing::eventually("the fix stored", || async { app.stored_positions().await == 1 }).await;
    // m2 never reported: offline 5 minutes after the start; m1 5 minutes after their fix.
    app.set_time(t0 + Duration::minutes(5) + Duration::seconds(30));
    let offline = app.wait_for_fact(&s.id, "member-offline", "m2 silent since the start").await;
    assert_eq!((offline.member_id.as_str(), offline.member_name.as_str()), ("m2", "队员m2"));
    assert_eq!(offline.occurred_at, Some(to_proto(t0)));
    assert_eq!(offline.region.as_ref().unwrap().township, TOWNSHIP, "member facts are on the team's region");
    app.set_time(t0 + Duration::minutes(6) + Duration::seconds(30));
    testing::eventually("m1 offline too", || async {
        app.facts_of(&s.id).await.iter().any(|f| f.fact == "member-offline" && f.member_id == "m1")
    })
    .await;
    app.publish_fix(&fix("m1", t0 + Duration::minutes(6) + Duration::seconds(20), at(-150.0, 0.0))).await;
    let online = app.wait_for_fact(&s.id, "member-online", "m1 reports again").await;
    assert_eq!(online.member_id, "m1");
    let offline_count = app.fact_names(&s.id).await.iter().filter(|f| *f == "member-offline").count();
    assert_eq!(offline_count, 2, "each member is said offline once");
    app.stop().await;
}

#[tokio::test]
async fn a_shift_still_running_at_its_end_is_ended_and_old_positions_are_deleted() {
    let app = spawn_app(Clock::manual(monday_8am())).await;
    app.setup(line_route("r1", false)).await;
    let t0 = monday_8am();
    let s = app.schedule("r1", t0, t0 + Duration::hours(1)).await;
    app.start(&s.id, &member("m1")).await;
    app.publish_fix(&fix("m1", t0, at(0.0, 0.0))).await;
    testing::eventually("the fix stored", || async { app.stored_positions().await == 1 }).await;
    app.set_time(t0 + Duration::hours(1) + Duration::seconds(1));
    let ended = app.wait_for_fact(&s.id, "shift-ended", "the shift's end passed").await;
    assert_eq!((ended.missed, ended.occurred_at), (2, Some(to_proto(t0 + Duration::hours(1)))));
    // The tour was due at the end too: b and c were still open then.
    let names = app.fact_names(&s.id).await;
    let tail: Vec<&str> = names.iter().skip(3).map(String::as_str).collect();
    assert_eq!(tail, vec!["tour-late", "checkpoint-missed", "checkpoint-missed", "shift-ended"], "{names:?}");
    let shift = app.shift(&s.id).await;
    assert_eq!((shift.state, shift.ended_at), (ShiftState::Ended as i32, Some(to_proto(t0 + Duration::hours(1)))));
    assert_eq!(shift.checkpoints[0].state, CheckpointState::CheckedIn as i32);
    // Retention is 720 hours by default.
    app.set_time(t0 + Duration::hours(721));
    testing::eventually("the old position deleted", || async { app.stored_positions().await == 0 }).await;
    app.stop().await;
}

#[tokio::test]
async fn the_grid_workers_presence_is_published_once_their_day_is_over() {
    let app = spawn_app(Clock::manual(monday_8am())).await;
    let mut t = team("gw", &["g1", "g2"]);
    t.kind = TeamKind::GridWorkers as i32;
    app.put_team(t, &center(COUNTY)).await;
    let t0 = monday_8am();
    // g1 reports every 5 minutes for 2 hours; g2 once.
    let mut fixes = walk("g1", t0, 300, 0.0, 240.0, 25);
    fixes.push(fix("g2", t0, at(900.0, 0.0)));
    app.set_time(t0 + Duration::hours(2));
    app.publish_all(&fixes).await;
    testing::eventually("the fixes stored", || async { app.stored_positions().await == 26 }).await;
    app.set_time(local("2026-11-17 00:00") + Duration::seconds(1));
    let daily = app.presence_daily("2026-11-16").await;
    assert_eq!((daily.date.as_str(), daily.members, daily.online), ("2026-11-16", 2, 1));
    assert!((daily.online_rate - 0.5).abs() < 1e-9);
    assert_eq!(daily.region.unwrap().township, TOWNSHIP);
    app.stop().await;
}
