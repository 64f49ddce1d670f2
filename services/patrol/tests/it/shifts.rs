//! The shift lifecycle through gRPC: scheduled, listed, started (its route version fixed),
//! ended with misses, cancelled; retries answered the same; fields named; regions and teams
//! enforced.

use chrono::Duration;
use civicgrid_kit::{clock::Clock, time::to_proto};
use civicgrid_proto::v1::{
    CheckpointState, ListShiftsRequest, ScheduleShiftRequest, ShiftReasonRequest, ShiftRequest, ShiftState,
};
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn a_shift_is_scheduled_started_listed_and_ended_with_its_misses() {
    let app = spawn_app(Clock::manual(monday_8am())).await;
    app.setup(line_route("r1", true)).await;
    let t0 = monday_8am();
    let s = app.schedule("r1", t0, t0 + Duration::hours(4)).await;
    assert_eq!(s.state, ShiftState::Scheduled as i32);
    assert_eq!((s.route_version, s.checkpoints.len()), (1, 3));
    // The route changes before the start: the shift walks the version it starts with.
    app.put_route(route("r1", true, vec![cp("a", 0.0, 0.0, 30.0), cp("b", 500.0, 0.0, 30.0)]), &center(COUNTY)).await;
    let started = app.start(&s.id, &member("m1")).await;
    assert_eq!(started.state, ShiftState::Active as i32);
    assert_eq!((started.route_version, started.checkpoints.len(), started.started_by.as_str()), (2, 2, "m1"));
    assert_eq!(started.tour_due_at, Some(to_proto(t0 + Duration::minutes(60))));
    // … and keeps it when the route changes again.
    app.put_route(line_route("r1", true), &center(COUNTY)).await;
    assert_eq!(app.shift(&s.id).await.checkpoints.len(), 2);

    let mut client = app.client.clone();
    let mine = client
        .list_shifts(authed(
            ListShiftsRequest { states: vec![ShiftState::Active as i32], ..Default::default() },
            &member("m2"),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(mine.shifts.len(), 1);
    let theirs =
        client.list_shifts(authed(ListShiftsRequest::default(), &member("stranger"))).await.unwrap().into_inner();
    assert!(theirs.shifts.is_empty(), "a member sees only their teams' shifts");

    app.set_time(t0 + Duration::minutes(5));
    let request = ShiftRequest { request_id: rid(), shift_id: s.id.clone() };
    let ended = client.end_shift(authed(request.clone(), &member("m2"))).await.unwrap().into_inner();
    assert_eq!(ended.state, ShiftState::Ended as i32);
    assert!(ended.checkpoints.iter().all(|c| c.state == CheckpointState::Missed as i32));
    let again = client.end_shift(authed(request, &member("m2"))).await.unwrap().into_inner();
    assert_eq!(again, ended, "a retried EndShift answers the same");
    let facts = app.fact_names(&s.id).await;
    assert_eq!(
        facts,
        vec!["shift-scheduled", "shift-started", "checkpoint-missed", "checkpoint-missed", "shift-ended"]
    );
    let last = app.facts_of(&s.id).await.pop().unwrap();
    assert_eq!((last.missed, last.member_id.as_str(), last.member_name.as_str()), (2, "m2", "队员m2"));
    assert_eq!((last.team_name.as_str(), last.unit_id.as_str()), ("川汇区专职巡防t1", "411602-gongan"));
    assert_eq!(last.supervisor_ids, vec!["sup-1"]);
    assert_eq!(last.region.unwrap().township, TOWNSHIP);
    let alarms = client
        .list_shifts(authed(ListShiftsRequest { alarms_only: true, ..Default::default() }, &center(COUNTY)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(alarms.shifts.len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn shifts_are_cancelled_before_they_start_and_pages_follow_each_other() {
    let app = spawn_app(Clock::manual(monday_8am())).await;
    app.setup(line_route("r1", false)).await;
    let t0 = monday_8am();
    let mut ids = Vec::new();
    for h in 0..3 {
        ids.push(app.schedule("r1", t0 + Duration::hours(h), t0 + Duration::hours(h + 1)).await.id);
    }
    let mut client = app.client.clone();
    let c = center(COUNTY);
    let first = client
        .list_shifts(authed(ListShiftsRequest { page_size: 2, ..Default::default() }, &c))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.shifts.iter().map(|s| s.id.clone()).collect::<Vec<_>>(), vec![ids[2].clone(), ids[1].clone()]);
    let second = client
        .list_shifts(authed(
            ListShiftsRequest { page_size: 2, page_token: first.next_page_token, ..Default::default() },
            &c,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.shifts[0].id, ids[0]);
    assert!(second.next_page_token.is_empty());

    let cancel = ShiftReasonRequest { request_id: rid(), shift_id: ids[0].clone(), reason: "暴雨停巡".into() };
    let cancelled = client.cancel_shift(authed(cancel, &c)).await.unwrap().into_inner();
    assert_eq!((cancelled.state, cancelled.reason.as_str()), (ShiftState::Cancelled as i32, "暴雨停巡"));
    let r =
        client.start_shift(authed(ShiftRequest { request_id: rid(), shift_id: ids[0].clone() }, &member("m1"))).await;
    expect_code(r, Code::FailedPrecondition, "starting a cancelled shift");
    let r =
        client.start_shift(authed(ShiftRequest { request_id: rid(), shift_id: ids[2].clone() }, &member("m1"))).await;
    expect_code(r, Code::FailedPrecondition, "starting a shift before its window");
    let r = client
        .start_shift(authed(ShiftRequest { request_id: rid(), shift_id: ids[1].clone() }, &member("stranger")))
        .await;
    expect_code(r, Code::PermissionDenied, "a stranger starting a shift");
    app.stop().await;
}

#[tokio::test]
async fn bad_shift_requests_name_their_fields_and_other_regions_are_refused() {
    let app = spawn_app(Clock::manual(monday_8am())).await;
    app.setup(line_route("r1", false)).await;
    let t0 = monday_8am();
    let mut client = app.client.clone();
    let c = center(COUNTY);
    let good = ScheduleShiftRequest {
        request_id: rid(),
        team_id: "t1".into(),
        route_id: "r1".into(),
        starts_at: Some(to_proto(t0)),
        ends_at: Some(to_proto(t0 + Duration::hours(2))),
    };
    let mut r = good.clone();
    r.ends_at = Some(to_proto(t0 + Duration::hours(30)));
    expect_invalid(client.schedule_shift(authed(r, &c)).await, "ends_at", "a 30-hour shift");
    let mut r = good.clone();
    r.starts_at = None;
    expect_invalid(client.schedule_shift(authed(r, &c)).await, "starts_at", "no start");
    let mut r = good.clone();
    r.team_id = "nobody".into();
    expect_code(client.schedule_shift(authed(r, &c)).await, Code::NotFound, "an unknown team");
    expect_code(
        client.schedule_shift(authed(good.clone(), &center(OTHER_COUNTY))).await,
        Code::PermissionDenied,
        "another county",
    );
    let r = ShiftRequest { request_id: rid(), shift_id: "not-a-uuid".into() };
    expect_invalid(client.start_shift(authed(r, &member("m1"))).await, "shift_id", "a shift id that is no UUID");
    let r = ShiftReasonRequest { request_id: rid(), shift_id: uuid::Uuid::now_v7().to_string(), reason: "x".into() };
    expect_invalid(client.cancel_shift(authed(r, &c)).await, "reason", "a one-letter reason");
    let a = client.schedule_shift(authed(good.clone(), &c)).await.unwrap().into_inner();
    let b = client.schedule_shift(authed(good, &c)).await.unwrap().into_inner();
    assert_eq!(a, b, "a retried ScheduleShift answers the same");
    assert_eq!(app.fact_names(&a.id).await, vec!["shift-scheduled"], "and publishes nothing more");
    app.stop().await;
}
