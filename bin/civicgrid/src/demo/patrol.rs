//! The patrols, played for the demo: three teams of 川汇区 ride their routes past key places
//! (a school, a market, the bus station, the riverbank) on e-bikes, tour after tour, their
//! devices publishing a position every few seconds on `civicgrid.patrol.position.…` as real
//! devices do. The professional team keeps to its route and completes every tour; a
//! volunteer's phone goes silent for a stretch of each tour (member-offline once
//! `patrol.offline_after_secs` passes, member-online when it sends again); the grid workers
//! leave out the riverbank, so their tour is late when its ten minutes are up and the riverbank
//! is missed when they end the shift.

use std::time::Duration;

use civicgrid_kit::{Shutdown, region};
use civicgrid_proto::v1::{
    Checkpoint, CheckpointWindow, Circle, GeoPoint, Geofence, Place, PlaceKind, PlaceRisk, PositionFix,
    PutPlaceRequest, PutRouteRequest, PutTeamRequest, Route, ScheduleShiftRequest, ShiftRequest, StartOffsetWindow,
    Team, TeamKind, TeamMember, checkpoint, checkpoint_window, geofence, patrol_service_client::PatrolServiceClient,
};
use prost::Message;
use tonic::transport::Channel;

use super::{person_token, token, with_token};

/// Seconds between two positions of a device.
const FIX_EVERY_SECS: u64 = 5;
/// E-bike speed in m/s (about 15 km/h).
const SPEED_MPS: f64 = 4.0;

/// A key place: id, name, kind, centre (lat, lng), village.
type DemoPlace = (&'static str, &'static str, PlaceKind, (f64, f64), &'static str);

const PLACES: &[DemoPlace] = &[
    ("demo-school-qiyilu", "七一路小学", PlaceKind::School, (33.6262, 114.6428), "411602001001"),
    ("demo-market-renhe", "人和菜市场", PlaceKind::Market, (33.6183, 114.6598), "411602002001"),
    ("demo-station-bus", "周口汽车客运站", PlaceKind::Station, (33.6302, 114.6512), "411602001002"),
    ("demo-riverbank-shaying", "沙颍河北岸亲水平台", PlaceKind::Riverbank, (33.6138, 114.6467), "411602002003"),
];

/// How a team behaves on its tours.
#[derive(Clone, Copy, PartialEq)]
enum Habit {
    /// Rides the route and checks in everywhere.
    Diligent,
    /// One member's phone stops sending for a stretch of the tour.
    PhoneDies,
    /// Leaves out the last checkpoint.
    SkipsLast,
}

/// A demo team: id, name, kind, village, members (the first `riders` of them ride the tours;
/// the others stand by and send nothing, so a README example can send positions for one), the
/// places its route visits, its checkpoints' window (minutes from the start; none: the whole
/// shift), the minutes its tour may take, its habit.
struct DemoTeam {
    id: &'static str,
    name: &'static str,
    kind: TeamKind,
    village: &'static str,
    members: &'static [(&'static str, &'static str)],
    riders: usize,
    stops: &'static [usize],
    window_minutes: Option<i32>,
    tour_minutes: i32,
    habit: Habit,
}

const TEAMS: &[DemoTeam] = &[
    DemoTeam {
        id: "demo-pro-1",
        name: "川汇区专职巡防一中队",
        kind: TeamKind::Professional,
        village: "411602001001",
        members: &[("demo-patrol-zhang", "张建军"), ("demo-patrol-li", "李志强"), ("demo-patrol-chen", "陈卫东")],
        riders: 2,
        stops: &[0, 2, 1, 3],
        window_minutes: Some(30),
        tour_minutes: 40,
        habit: Habit::Diligent,
    },
    DemoTeam {
        id: "demo-vol-qiyilu",
        name: "七一路社区志愿巡逻队",
        kind: TeamKind::Volunteer,
        village: "411602001001",
        members: &[("demo-patrol-wang", "王秀英"), ("demo-patrol-zhao", "赵国庆")],
        riders: 2,
        stops: &[0, 2],
        window_minutes: Some(30),
        tour_minutes: 40,
        habit: Habit::PhoneDies,
    },
    DemoTeam {
        id: "demo-grid-renhe",
        name: "人和街道网格员巡查组",
        kind: TeamKind::GridWorkers,
        village: "411602002001",
        members: &[("demo-patrol-liu", "刘红梅")],
        riders: 1,
        stops: &[1, 2, 3],
        window_minutes: None,
        tour_minutes: 10,
        habit: Habit::SkipsLast,
    },
];

async fn connect(endpoint: &str, shutdown: &Shutdown) -> Option<PatrolServiceClient<Channel>> {
    loop {
        match PatrolServiceClient::connect(endpoint.to_string()).await {
            Ok(c) => return Some(c),
            Err(_) => tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = shutdown.cancelled() => return None,
            },
        }
    }
}

fn point((latitude, longitude): (f64, f64)) -> GeoPoint {
    GeoPoint { latitude, longitude }
}

/// Loads the places, teams and routes, then rides every team's tours until shutdown.
pub async fn ride_patrols(endpoint: String, nats_url: String, secret: String, shutdown: Shutdown) {
    let Some(mut client) = connect(&endpoint, &shutdown).await else { return };
    let Ok(nats) = super::connect_nats(&nats_url).await else { return };
    let center = token(&secret, "center", "411602");
    if let Err(e) = load(&mut client, &center).await {
        println!("[demo] patrol reference data: {} {}", e.code(), e.message());
        return;
    }
    let rides: Vec<_> = TEAMS
        .iter()
        .map(|team| {
            let (client, nats, secret, center, shutdown) =
                (client.clone(), nats.clone(), secret.clone(), center.clone(), shutdown.clone());
            tokio::spawn(async move {
                let mut tour = 0u64;
                loop {
                    tour += 1;
                    let ride = ride(client.clone(), &nats, &secret, &center, team, tour, &shutdown);
                    if let Err(e) = ride.await {
                        println!("[demo] patrol {}: {} {}", team.name, e.code(), e.message());
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(20)) => {}
                        _ = shutdown.cancelled() => return,
                    }
                }
            })
        })
        .collect();
    for r in rides {
        let _ = r.await;
    }
}

/// The key places, the teams and their routes, as a center enters them.
async fn load(client: &mut PatrolServiceClient<Channel>, center: &str) -> Result<(), tonic::Status> {
    for (id, name, kind, at, village) in PLACES {
        let place = Place {
            id: (*id).into(),
            name: (*name).into(),
            kind: *kind as i32,
            risk: if *kind == PlaceKind::Riverbank { PlaceRisk::High } else { PlaceRisk::Medium } as i32,
            region_code: (*village).into(),
            fence: Some(Geofence {
                shape: Some(geofence::Shape::Circle(Circle { center: Some(point(*at)), radius_m: 60.0 })),
            }),
            ..Default::default()
        };
        client
            .put_place(with_token(
                PutPlaceRequest { request_id: format!("demo-place-{id}"), place: Some(place) },
                center,
            ))
            .await?;
    }
    for t in TEAMS {
        let team = Team {
            id: t.id.into(),
            name: t.name.into(),
            kind: t.kind as i32,
            region_code: t.village.into(),
            unit_id: "411602-gongan".into(),
            supervisor_ids: vec!["demo-patrol-captain".into()],
            members: t
                .members
                .iter()
                .enumerate()
                .map(|(i, (id, name))| TeamMember {
                    member_id: (*id).into(),
                    name: (*name).into(),
                    leader: i == 0,
                    device_ids: vec![],
                })
                .collect(),
            ..Default::default()
        };
        client
            .put_team(with_token(
                PutTeamRequest { request_id: format!("demo-team-{}", t.id), team: Some(team) },
                center,
            ))
            .await?;
        let route = Route {
            id: format!("{}-route", t.id),
            name: format!("{} 巡逻路线", t.name),
            region_code: "411602".into(),
            ordered: false,
            checkpoints: t
                .stops
                .iter()
                .map(|&p| Checkpoint {
                    id: format!("cp-{}", PLACES[p].0),
                    name: String::new(),
                    target: Some(checkpoint::Target::PlaceId(PLACES[p].0.into())),
                    window: t.window_minutes.map(|max_minutes| CheckpointWindow {
                        window: Some(checkpoint_window::Window::FromStart(StartOffsetWindow {
                            min_minutes: 0,
                            max_minutes,
                        })),
                    }),
                    dwell_seconds: 0,
                })
                .collect(),
            tour_minutes: t.tour_minutes,
            ..Default::default()
        };
        client
            .put_route(with_token(
                PutRouteRequest { request_id: format!("demo-route-{}-v1", t.id), route: Some(route) },
                center,
            ))
            .await?;
    }
    Ok(())
}

/// The points a team rides through: from a little before its first place, through every place
/// of its route (but the last, for a team that skips it), back near the start.
fn path(team: &DemoTeam) -> Vec<(f64, f64)> {
    let mut stops: Vec<(f64, f64)> = team.stops.iter().map(|&p| PLACES[p].3).collect();
    if team.habit == Habit::SkipsLast {
        stops.pop();
    }
    let first = stops[0];
    let mut path = vec![(first.0 + 0.002, first.1 - 0.002)];
    path.extend(stops);
    path.push((first.0 + 0.002, first.1 - 0.002));
    path
}

/// Metres between two points (equirectangular: fine over a few kilometres).
fn metres(a: (f64, f64), b: (f64, f64)) -> f64 {
    let lat = (a.0 + b.0).to_radians() / 2.0;
    let dy = (b.0 - a.0).to_radians() * 6_371_000.0;
    let dx = (b.1 - a.1).to_radians() * 6_371_000.0 * lat.cos();
    (dx * dx + dy * dy).sqrt()
}

/// Points every `step` metres along `path`.
fn samples(path: &[(f64, f64)], step: f64) -> Vec<(f64, f64)> {
    let mut out = vec![path[0]];
    for w in path.windows(2) {
        let n = (metres(w[0], w[1]) / step).ceil().max(1.0) as usize;
        out.extend((1..=n).map(|i| {
            let f = i as f64 / n as f64;
            (w[0].0 + (w[1].0 - w[0].0) * f, w[0].1 + (w[1].1 - w[0].1) * f)
        }));
    }
    out
}

/// One tour: schedule a shift, start it as the team leader, ride the path publishing every
/// member's positions, end it.
async fn ride(
    mut client: PatrolServiceClient<Channel>,
    nats: &async_nats::Client,
    secret: &str,
    center: &str,
    team: &DemoTeam,
    tour: u64,
    shutdown: &Shutdown,
) -> Result<(), tonic::Status> {
    let run = std::process::id();
    let now = chrono::Utc::now();
    let shift = client
        .schedule_shift(with_token(
            ScheduleShiftRequest {
                request_id: format!("demo-{run}-{}-{tour}-schedule", team.id),
                team_id: team.id.into(),
                route_id: format!("{}-route", team.id),
                starts_at: Some(civicgrid_kit::time::to_proto(now)),
                ends_at: Some(civicgrid_kit::time::to_proto(now + chrono::Duration::minutes(60))),
            },
            center,
        ))
        .await?
        .into_inner();
    let leader = person_token(secret, "patrol_member", team.members[0].0);
    let shift_request = |step: &str| ShiftRequest {
        request_id: format!("demo-{run}-{}-{tour}-{step}", team.id),
        shift_id: shift.id.clone(),
    };
    client.start_shift(with_token(shift_request("start"), &leader)).await?;
    println!("[demo] patrol {} sets out on tour {tour}", team.name);
    let subject = format!(
        "civicgrid.patrol.position.{}",
        region::path_of(team.village).map(|p| region::subject_tokens(&p)).unwrap_or_default()
    );
    let points = samples(&path(team), SPEED_MPS * FIX_EVERY_SECS as f64);
    for (i, &at) in points.iter().enumerate() {
        for (m, (member, _)) in team.members.iter().take(team.riders).enumerate() {
            // The second volunteer's phone is silent from 30 % to 80 % of the tour: minutes,
            // longer than the demo's offline threshold (60 s).
            if team.habit == Habit::PhoneDies && m == 1 && (points.len() * 3 / 10..points.len() * 8 / 10).contains(&i) {
                continue;
            }
            // Members ride a few metres apart.
            let fix = PositionFix {
                member_id: (*member).into(),
                device_id: format!("{member}-phone"),
                at: Some(civicgrid_kit::time::to_proto(chrono::Utc::now())),
                point: Some(point((at.0 + m as f64 * 0.00003, at.1))),
                accuracy_m: 8.0,
                speed_mps: SPEED_MPS as f32,
            };
            let _ = nats.publish(subject.clone(), fix.encode_to_vec().into()).await;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(FIX_EVERY_SECS)) => {}
            _ = shutdown.cancelled() => return Ok(()),
        }
    }
    client.end_shift(with_token(shift_request("end"), &leader)).await?;
    println!("[demo] patrol {} is back from tour {tour}", team.name);
    Ok(())
}
