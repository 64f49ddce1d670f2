//! Findings reach intake; tracks, coverage and presence are recomputed from what was stored,
//! exactly for a known walk.

use chrono::Duration;
use civicgrid_dev::testing;
use civicgrid_kit::{clock::Clock, time::to_proto};
use civicgrid_proto::v1::{
    EventSource, GetCoverageRequest, GetEventRequest, GetPresenceRequest, GetShiftRequest, GetTrackRequest,
    ReportFindingRequest, ShiftRequest, TeamKind, TimeRange,
};
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn a_finding_is_submitted_to_intake_once_and_linked_to_the_shift() {
    let app = spawn_with_intake(Clock::manual(monday_8am())).await;
    app.setup(line_route("r1", false)).await;
    let t0 = monday_8am();
    let s = app.schedule("r1", t0, t0 + Duration::hours(4)).await;
    app.start(&s.id, &member("m1")).await;
    app.set_time(t0 + Duration::minutes(3));
    app.publish_fix(&fix("m1", t0 + Duration::minutes(3), at(250.0, 0.0))).await;
    testing::eventually("the fix stored", || async { app.stored_positions().await == 1 }).await;
    let request = ReportFindingRequest {
        request_id: rid(),
        shift_id: s.id.clone(),
        item_code: "01.02.003".into(),
        description: "井盖缺失，夜间行人易跌落".into(),
        point: None,
        grid_code: String::new(),
        evidence_urls: vec!["https://img.example.org/manhole.jpg".into()],
    };
    let mut client = app.client.clone();
    let finding = client.report_finding(authed(request.clone(), &member("m1"))).await.unwrap().into_inner();
    assert!(finding.tracking_number.starts_with("411602-20261116-"), "{}", finding.tracking_number);
    let again = client.report_finding(authed(request, &member("m1"))).await.unwrap().into_inner();
    assert_eq!(again, finding, "a retried ReportFinding answers the same");
    let intake = app.intake.as_ref().unwrap();
    let event = intake
        .client
        .clone()
        .get_event(authed(GetEventRequest { event_id: finding.event_id.clone() }, &center(COUNTY)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(event.source, EventSource::Patrol as i32);
    let point = event.location.unwrap().point.unwrap();
    assert!((point.longitude - at(250.0, 0.0).longitude).abs() < 1e-9, "the member's last position");
    let reported: Vec<_> = app.facts_of(&s.id).await.into_iter().filter(|f| f.fact == "finding-reported").collect();
    assert_eq!(reported.len(), 1);
    assert_eq!(
        (reported[0].event_id.as_str(), reported[0].member_name.as_str()),
        (finding.event_id.as_str(), "队员m1")
    );
    let r = client
        .report_finding(authed(
            ReportFindingRequest {
                request_id: rid(),
                shift_id: s.id.clone(),
                item_code: "1.2".into(),
                ..Default::default()
            },
            &member("m1"),
        ))
        .await;
    expect_invalid(r, "item_code", "a malformed item code");
    let r = client
        .report_finding(authed(
            ReportFindingRequest {
                request_id: rid(),
                shift_id: s.id.clone(),
                item_code: "01.02.003".into(),
                description: "路灯不亮了一整条街".into(),
                ..Default::default()
            },
            &member("stranger"),
        ))
        .await;
    expect_code(r, Code::PermissionDenied, "a stranger reporting from the shift");
    app.stop().await;
}

/// A grid in 411602001001 (the village of the helpers' places).
const GRID: &str = "411602001001003";

#[tokio::test]
async fn track_coverage_and_presence_of_a_known_walk_are_exact() {
    let app = spawn_app(Clock::manual(monday_8am())).await;
    let c = center(COUNTY);
    let mut t = team("t1", &["m1", "m2"]);
    t.kind = TeamKind::GridWorkers as i32;
    app.put_team(t, &c).await;
    app.put_place(place("school", 0.0, 0.0, 50.0), &c).await;
    // The grid worker's route through one grid (网格): it names the grid's code.
    let mut r1 =
        route("r1", false, vec![cp_place("a", "school"), cp("b", 500.0, 0.0, 30.0), cp("c", 2000.0, 0.0, 30.0)]);
    r1.region_code = GRID.into();
    app.put_route(r1, &c).await;
    let t0 = monday_8am();
    let s = app.schedule("r1", t0, t0 + Duration::hours(4)).await;
    app.start(&s.id, &member("m1")).await;
    // 10 m/s east from -100 m to 600 m, a fix every 10 s: 100 m apart, 10 s inside the school.
    let fixes = walk("m1", t0 + Duration::seconds(10), 10, -100.0, 600.0, 8);
    app.set_time(t0 + Duration::minutes(5));
    app.publish_all(&fixes).await;
    testing::eventually("the walk stored", || async { app.stored_positions().await == 8 }).await;
    let mut client = app.client.clone();
    client.end_shift(authed(ShiftRequest { request_id: rid(), shift_id: s.id.clone() }, &member("m1"))).await.unwrap();

    let track = client
        .get_track(authed(
            GetTrackRequest { member_id: "m1".into(), shift_id: s.id.clone(), page_size: 5, ..Default::default() },
            &c,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(track.points.len(), 5);
    assert!((track.distance_m - 700.0).abs() < 1.0, "{}", track.distance_m);
    assert_eq!((track.moving_seconds, track.stopped_seconds), (70, 0));
    let rest = client
        .get_track(authed(
            GetTrackRequest {
                member_id: "m1".into(),
                shift_id: s.id.clone(),
                page_token: track.next_page_token,
                ..Default::default()
            },
            &member("m1"),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((rest.points.len(), rest.next_page_token.as_str()), (3, ""));
    let r = client
        .get_track(authed(
            GetTrackRequest { member_id: "m1".into(), shift_id: s.id.clone(), ..Default::default() },
            &member("m2"),
        ))
        .await;
    expect_code(r, Code::PermissionDenied, "another member's track");

    let period =
        TimeRange { from: Some(to_proto(t0 - Duration::hours(1))), to: Some(to_proto(t0 + Duration::hours(1))) };
    let cov = client
        .get_coverage(authed(
            GetCoverageRequest { period: Some(period), group_by: "route".into(), ..Default::default() },
            &c,
        ))
        .await
        .unwrap()
        .into_inner();
    let row = &cov.rows[0];
    assert_eq!((row.key.as_str(), row.shifts, row.checkpoints, row.checked_in, row.missed), ("r1", 1, 3, 2, 1));
    assert!((row.share_on_time - 2.0 / 3.0).abs() < 1e-9);
    assert_eq!((row.late_tours, row.key_place_seconds), (0, 10));
    assert!((row.distance_m - 700.0).abs() < 1.0, "{}", row.distance_m);
    // Per grid, and within a township's scope the grid is found by its village.
    let cov = client
        .get_coverage(authed(
            GetCoverageRequest { period: Some(period), region_code: "411602001".into(), group_by: "grid".into() },
            &c,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(cov.rows.iter().map(|r| (r.key.as_str(), r.checked_in)).collect::<Vec<_>>(), [(GRID, 2)]);
    let shift = client.get_shift(authed(GetShiftRequest { shift_id: s.id.clone() }, &center("411602001"))).await;
    assert_eq!(shift.unwrap().into_inner().region.unwrap_or_default().village, "411602001001");
    let r = client
        .get_coverage(authed(
            GetCoverageRequest { period: Some(period), group_by: "bogus".into(), ..Default::default() },
            &c,
        ))
        .await;
    expect_invalid(r, "group_by", "an unknown grouping");

    let presence = client
        .get_presence(authed(
            GetPresenceRequest { date: "2026-11-16".into(), group_by: "township".into(), ..Default::default() },
            &c,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(presence.rows.len(), 1);
    assert_eq!((presence.rows[0].key.as_str(), presence.rows[0].members, presence.rows[0].online), (TOWNSHIP, 2, 0));
    let m1 = presence.members.iter().find(|m| m.member_id == "m1").unwrap();
    assert_eq!((m1.online_minutes, m1.online, m1.name.as_str()), (1, false, "队员m1"));
    let r =
        client.get_presence(authed(GetPresenceRequest { date: "2026-13-01".into(), ..Default::default() }, &c)).await;
    expect_invalid(r, "date", "no such day");
    let r = client
        .get_presence(authed(GetPresenceRequest { date: "2026-11-16".into(), ..Default::default() }, &member("m1")))
        .await;
    expect_code(r, Code::PermissionDenied, "a member reading presence");
    app.stop().await;
}
