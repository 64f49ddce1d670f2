//! Patrol across the suite, through public gRPC and NATS only: a center sets up a key place, a
//! team and a route; a member starts the shift and their phone publishes positions on
//! `civicgrid.patrol.position.…` as a device would; the school checks in by itself, the
//! riverbank left out is missed when its window closes, and the team's supervisor is told
//! through notify; a finding reported on patrol becomes an intake event with source PATROL.
//! And patrol killed with SIGKILL in the middle of a stream of positions loses none of them and
//! checks in once.

use std::time::Duration;

use civicgrid_e2e::Suite;
use civicgrid_proto::v1::{
    CheckInMethod, Checkpoint, CheckpointState, CheckpointWindow, Circle, EventSource, GeoPoint, Geofence,
    GetEventRequest, GetShiftRequest, GetTrackRequest, PatrolEvent, Place, PlaceKind, PlaceRisk, PositionFix,
    PutPlaceRequest, PutRouteRequest, PutTeamRequest, ReportFindingRequest, Route, ScheduleShiftRequest, Shift,
    ShiftRequest, StartOffsetWindow, Team, TeamKind, TeamMember, checkpoint, checkpoint_window, geofence,
    intake_service_client::IntakeServiceClient, notify_service_client::NotifyServiceClient,
    patrol_service_client::PatrolServiceClient,
};
use futures::StreamExt;
use prost::Message;
use tonic::transport::Channel;

use crate::common::{as_, inbox_has, person_token, token};

const SCHOOL: (f64, f64) = (33.6262, 114.6428);
const RIVERBANK: (f64, f64) = (33.6138, 114.6467);

fn point((latitude, longitude): (f64, f64)) -> GeoPoint {
    GeoPoint { latitude, longitude }
}

fn circle(at: (f64, f64), radius_m: f64) -> Geofence {
    Geofence { shape: Some(geofence::Shape::Circle(Circle { center: Some(point(at)), radius_m })) }
}

/// The place, the team and the route, as a center enters them.
pub(crate) async fn set_up(patrol: &mut PatrolServiceClient<Channel>, center: &str) {
    let place = Place {
        id: "e2e-school".into(),
        name: "七一路小学".into(),
        kind: PlaceKind::School as i32,
        risk: PlaceRisk::High as i32,
        region_code: "411602001001".into(),
        fence: Some(circle(SCHOOL, 40.0)),
        ..Default::default()
    };
    patrol
        .put_place(as_(PutPlaceRequest { request_id: "e2e-put-place-1".into(), place: Some(place) }, center))
        .await
        .unwrap();
    let team = Team {
        id: "e2e-team".into(),
        name: "七一路社区志愿巡逻队".into(),
        kind: TeamKind::Volunteer as i32,
        region_code: "411602001001".into(),
        unit_id: "411602-gongan".into(),
        supervisor_ids: vec!["e2e-captain".into()],
        members: vec![TeamMember {
            member_id: "e2e-wang".into(),
            name: "王秀英".into(),
            leader: true,
            device_ids: vec![],
        }],
        ..Default::default()
    };
    patrol
        .put_team(as_(PutTeamRequest { request_id: "e2e-put-team-1".into(), team: Some(team) }, center))
        .await
        .unwrap();
    let one_minute = CheckpointWindow {
        window: Some(checkpoint_window::Window::FromStart(StartOffsetWindow { min_minutes: 0, max_minutes: 1 })),
    };
    let route = Route {
        id: "e2e-route".into(),
        name: "校园周边—沙颍河".into(),
        region_code: "411602001001".into(),
        ordered: false,
        checkpoints: vec![
            Checkpoint {
                id: "cp-school".into(),
                target: Some(checkpoint::Target::PlaceId("e2e-school".into())),
                ..Default::default()
            },
            Checkpoint {
                id: "cp-riverbank".into(),
                name: "沙颍河北岸".into(),
                target: Some(checkpoint::Target::Circle(Circle { center: Some(point(RIVERBANK)), radius_m: 50.0 })),
                window: Some(one_minute),
                dwell_seconds: 0,
            },
        ],
        tour_minutes: 1,
        ..Default::default()
    };
    patrol
        .put_route(as_(PutRouteRequest { request_id: "e2e-put-route-1".into(), route: Some(route) }, center))
        .await
        .unwrap();
}

/// Waits for a fact named `fact` on `facts`.
async fn next_fact(facts: &mut async_nats::Subscriber, fact: &str, within: Duration) -> PatrolEvent {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let msg = tokio::time::timeout_at(deadline, facts.next())
            .await
            .unwrap_or_else(|_| panic!("no {fact} within {within:?}"))
            .expect("subscription open");
        // The subscription takes the positions too; they are not facts.
        if msg.subject.starts_with("civicgrid.patrol.position.") {
            continue;
        }
        let event = PatrolEvent::decode(msg.payload).expect("a PatrolEvent");
        if event.fact == fact {
            assert!(msg.subject.starts_with(&format!("civicgrid.patrol.{fact}.411600.411602.")), "{}", msg.subject);
            return event;
        }
    }
}

async fn shift(patrol: &mut PatrolServiceClient<Channel>, id: &str) -> Shift {
    patrol.get_shift(as_(GetShiftRequest { shift_id: id.into() }, &token("admin", ""))).await.unwrap().into_inner()
}

/// The team's shift for the next hour, scheduled by the center and started by its member
/// e2e-wang; `tag` makes the request ids.
async fn shift_started(patrol: &mut PatrolServiceClient<Channel>, center: &str, tag: &str) -> (Shift, String) {
    let now = chrono::Utc::now();
    let scheduled = patrol
        .schedule_shift(as_(
            ScheduleShiftRequest {
                request_id: format!("e2e-{tag}-schedule"),
                team_id: "e2e-team".into(),
                route_id: "e2e-route".into(),
                starts_at: Some(civicgrid_kit::time::to_proto(now - chrono::Duration::minutes(1))),
                ends_at: Some(civicgrid_kit::time::to_proto(now + chrono::Duration::hours(1))),
            },
            center,
        ))
        .await
        .unwrap()
        .into_inner();
    let member = person_token("patrol_member", "e2e-wang");
    let start = ShiftRequest { request_id: format!("e2e-{tag}-start"), shift_id: scheduled.id.clone() };
    patrol.start_shift(as_(start, &member)).await.unwrap();
    (scheduled, member)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_patrol_checks_in_by_position_misses_a_checkpoint_alerts_its_supervisor_and_reports_a_finding() {
    let suite = tokio::task::spawn_blocking(|| Suite::up(&["--no-demo", "--quiet"])).await.unwrap();
    let mut patrol = PatrolServiceClient::connect(format!("http://{}", suite.patrol)).await.unwrap();
    let mut intake = IntakeServiceClient::connect(format!("http://{}", suite.intake)).await.unwrap();
    let mut notify = NotifyServiceClient::connect(format!("http://{}", suite.notify)).await.unwrap();
    let nats = suite.nats().await;
    let mut facts = nats.subscribe("civicgrid.patrol.*.411600.411602.>").await.unwrap();
    let center = token("center", "");
    set_up(&mut patrol, &center).await;

    let (scheduled, member) = shift_started(&mut patrol, &center, "flow").await;
    next_fact(&mut facts, "shift-started", Duration::from_secs(20)).await;

    // The member's phone: from 150 m west of the school to its gate, a fix every 2 s at 5 m/s.
    let started = chrono::Utc::now();
    let subject = "civicgrid.patrol.position.411600.411602.411602001.411602001001";
    let west = 150.0 / (111_320.0 * SCHOOL.0.to_radians().cos());
    for i in 0..=15 {
        let fix = PositionFix {
            member_id: "e2e-wang".into(),
            device_id: "e2e-wang-phone".into(),
            at: Some(civicgrid_kit::time::to_proto(started + chrono::Duration::seconds(2 * i))),
            point: Some(point((SCHOOL.0, SCHOOL.1 - west + west * i as f64 / 15.0))),
            accuracy_m: 8.0,
            speed_mps: 5.0,
        };
        nats.publish(subject, fix.encode_to_vec().into()).await.unwrap();
    }
    nats.flush().await.unwrap();
    let checked = next_fact(&mut facts, "checkpoint-checked-in", Duration::from_secs(30)).await;
    assert_eq!((checked.checkpoint_id.as_str(), checked.member_id.as_str()), ("cp-school", "e2e-wang"));
    assert_eq!(checked.method, CheckInMethod::Inside as i32);
    assert_eq!(
        (checked.team_name.as_str(), checked.supervisor_ids.as_slice()),
        ("七一路社区志愿巡逻队", &["e2e-captain".to_string()][..])
    );

    // Seen on the way: reported to intake as a patrol finding.
    let finding = patrol
        .report_finding(as_(
            ReportFindingRequest {
                request_id: "e2e-finding-1".into(),
                shift_id: scheduled.id.clone(),
                item_code: "01.02.003".into(),
                description: "校门口井盖缺失，学生上下学有跌落危险".into(),
                point: None,
                grid_code: "411602001001001".into(),
                evidence_urls: vec![],
            },
            &member,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(finding.tracking_number.starts_with("411602-"), "{finding:?}");
    let event = intake
        .get_event(as_(GetEventRequest { event_id: finding.event_id.clone() }, &token("admin", "")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(event.source, EventSource::Patrol as i32);
    let reported = next_fact(&mut facts, "finding-reported", Duration::from_secs(20)).await;
    assert_eq!(reported.tracking_number, finding.tracking_number);

    // The riverbank is never reached: missed when its one-minute window closes.
    let missed = next_fact(&mut facts, "checkpoint-missed", Duration::from_secs(120)).await;
    assert_eq!(missed.checkpoint_id, "cp-riverbank");
    let s = shift(&mut patrol, &scheduled.id).await;
    let states: Vec<i32> = s.checkpoints.iter().map(|c| c.state).collect();
    assert_eq!(states, [CheckpointState::CheckedIn as i32, CheckpointState::Missed as i32], "{s:?}");
    inbox_has(&mut notify, "patrol-supervisor:e2e-captain", &["checkpoint-missed"]).await;
}

/// Waits until patrol's durable on the positions feed has nothing pending or unacknowledged.
async fn feed_drained(js: &async_nats::jetstream::Context) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        if let Ok(mut c) = js
            .get_consumer_from_stream::<async_nats::jetstream::consumer::pull::Config, _, _>(
                "patrol-positions",
                "CIVICGRID_PATROL_POSITIONS",
            )
            .await
            && let Ok(info) = c.info().await
            && info.num_pending == 0
            && info.num_ack_pending == 0
        {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "patrol never caught up with the positions");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn killing_patrol_mid_ingest_loses_no_fix_and_checks_in_once() {
    let suite = tokio::task::spawn_blocking(|| Suite::up(&["--no-demo", "--quiet"])).await.unwrap();
    let mut patrol = PatrolServiceClient::connect(format!("http://{}", suite.patrol)).await.unwrap();
    let center = token("center", "");
    set_up(&mut patrol, &center).await;
    let (scheduled, _member) = shift_started(&mut patrol, &center, "kill").await;

    // 4,000 fixes, 20 ms apart (the last 80 s ahead: within patrol's 2 minutes), riding east
    // through the school; published with
    // JetStream acks (each acked fix is accepted), while patrol is killed and restarted.
    const N: i64 = 4_000;
    let nats = suite.nats().await;
    let js = async_nats::jetstream::new(nats);
    let first = chrono::Utc::now();
    let west = 300.0 / (111_320.0 * SCHOOL.0.to_radians().cos());
    let publisher = {
        let js = js.clone();
        tokio::spawn(async move {
            for i in 0..N {
                let fix = PositionFix {
                    member_id: "e2e-wang".into(),
                    device_id: "e2e-wang-phone".into(),
                    at: Some(civicgrid_kit::time::to_proto(first + chrono::Duration::milliseconds(20 * i))),
                    point: Some(point((SCHOOL.0, SCHOOL.1 - west + 2.0 * west * i as f64 / N as f64))),
                    accuracy_m: 5.0,
                    speed_mps: 1.5,
                };
                let subject = "civicgrid.patrol.position.411600.411602.411602001.411602001001";
                js.publish(subject, fix.encode_to_vec().into()).await.unwrap().await.unwrap();
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = suite.service_pid("patrol");
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    publisher.await.unwrap();
    feed_drained(&js).await;
    assert_ne!(suite.service_pid("patrol"), pid, "the supervisor restarted patrol");

    // Every fix is in the track once.
    let mut patrol = PatrolServiceClient::connect(format!("http://{}", suite.patrol)).await.unwrap();
    let period = civicgrid_proto::v1::TimeRange {
        from: Some(civicgrid_kit::time::to_proto(first - chrono::Duration::seconds(1))),
        to: Some(civicgrid_kit::time::to_proto(first + chrono::Duration::milliseconds(20 * N + 1000))),
    };
    let track = patrol
        .get_track(as_(
            GetTrackRequest {
                member_id: "e2e-wang".into(),
                period: Some(period),
                page_size: 20_000,
                ..Default::default()
            },
            &center,
        ))
        .await
        .unwrap()
        .into_inner();
    let mut times: Vec<_> = track
        .points
        .iter()
        .map(|p| p.at.unwrap_or_default().seconds * 1_000 + i64::from(p.at.unwrap_or_default().nanos / 1_000_000))
        .collect();
    times.dedup();
    assert_eq!((track.points.len(), times.len()), (N as usize, N as usize), "every fix stored once");

    // The school was checked in once, whatever was replayed.
    let s = shift(&mut patrol, &scheduled.id).await;
    assert_eq!(s.checkpoints[0].state, CheckpointState::CheckedIn as i32, "{s:?}");
    let stream = js.get_stream("CIVICGRID_PATROL").await.unwrap();
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            filter_subject: "civicgrid.patrol.checkpoint-checked-in.>".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut got = consumer.fetch().max_messages(10).expires(Duration::from_secs(2)).messages().await.unwrap();
    let mut check_ins = 0;
    while let Some(Ok(m)) = got.next().await {
        let e = PatrolEvent::decode(m.payload.clone()).unwrap();
        if e.shift_id == scheduled.id {
            check_ins += 1;
        }
    }
    assert_eq!(check_ins, 1, "one checkpoint-checked-in for the school");
}
