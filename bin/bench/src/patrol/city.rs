//! The bench's patrol world, generated deterministically: `routes` routes laid out on a grid
//! about 1.1 km apart across 周口市 (county 411602's code space), each with `fences_per_route`
//! checkpoints (key places with circular geofences 45 m apart along the route), one team of
//! `members_per_team` members per route, and the members' positions riding along their route
//! from a little before its first checkpoint to past its last — so every fix is looked up in the
//! spatial index, and crossings and check-ins happen as they would on the street.

use std::time::Duration;

use anyhow::{Context, Result};
use civicgrid_kit::time::to_proto;
use civicgrid_proto::v1::{
    Checkpoint, Circle, GeoPoint, Geofence, Place, PlaceKind, PlaceRisk, PositionFix, PutPlaceRequest, PutRouteRequest,
    PutTeamRequest, Route, ScheduleShiftRequest, ShiftRequest, Team, TeamKind, TeamMember, checkpoint, geofence,
    patrol_service_client::PatrolServiceClient,
};
use futures::StreamExt;
use prost::Message;
use tonic::transport::Channel;

/// Seconds between two fixes of one device (their timestamps).
pub const FIX_EVERY_SECS: i64 = 1;
/// Metres between two checkpoints of a route.
const CHECKPOINT_SPACING_M: f64 = 45.0;
/// Radius of a checkpoint's geofence.
const FENCE_RADIUS_M: f64 = 12.0;
/// Metres per degree of latitude.
const M_PER_DEG: f64 = 111_320.0;

/// The shape of the world.
#[derive(Clone, Copy)]
pub struct Shape {
    /// Routes, teams and shifts.
    pub routes: usize,
    /// Checkpoints (places, geofences) per route.
    pub fences_per_route: usize,
    /// Members per team.
    pub members_per_team: usize,
    /// Fixes each member sends.
    pub fixes_per_member: usize,
}

impl Shape {
    /// Members in all.
    pub fn members(&self) -> usize {
        self.routes * self.members_per_team
    }

    /// Geofences in all.
    pub fn fences(&self) -> usize {
        self.routes * self.fences_per_route
    }

    /// Fixes in all.
    pub fn fixes(&self) -> usize {
        self.members() * self.fixes_per_member
    }
}

/// A route's village code: townships 001–010 of county 411602, communities 001–020.
pub fn village(route: usize) -> String {
    format!("411602{:03}{:03}", 1 + route % 10, 1 + (route / 10) % 20)
}

/// Where route `r` starts (lat, lng): a 50-column grid about 1.1 km apart.
fn origin(r: usize) -> (f64, f64) {
    (33.30 + (r / 50) as f64 * 0.01, 114.30 + (r % 50) as f64 * 0.012)
}

fn lng_per_m(lat: f64) -> f64 {
    1.0 / (M_PER_DEG * lat.to_radians().cos())
}

fn point((latitude, longitude): (f64, f64)) -> GeoPoint {
    GeoPoint { latitude, longitude }
}

/// The member id of member `m` of route `r`'s team.
pub fn member_id(r: usize, m: usize) -> String {
    format!("bm-{r:04}-{m:02}")
}

/// The index `r * members_per_team + m` of a member id made by [`member_id`].
pub fn member_index(id: &str, members_per_team: usize) -> Option<usize> {
    let mut parts = id.strip_prefix("bm-")?.split('-');
    let r: usize = parts.next()?.parse().ok()?;
    let m: usize = parts.next()?.parse().ok()?;
    Some(r * members_per_team + m)
}

/// Checkpoint `k` of route `r`: on a line running east from the route's origin.
fn checkpoint_at(r: usize, k: usize) -> (f64, f64) {
    let (lat, lng) = origin(r);
    (lat, lng + (k as f64 + 1.0) * CHECKPOINT_SPACING_M * lng_per_m(lat))
}

/// Every fix, encoded, with its subject, in the order a city's devices would send them: the
/// i-th fix of every member (a round), then the (i+1)-th. Fix `i` of member `n` is at index
/// `i * members + n`. Timestamps start at `start` (when publishing begins), `FIX_EVERY_SECS`
/// apart: the ride takes half a minute, which patrol takes as long as the last fix is within
/// its `fix_max_future_secs` of its clock when it arrives.
pub fn fixes(shape: Shape, start: chrono::DateTime<chrono::Utc>) -> Vec<(String, bytes::Bytes)> {
    let mut out = Vec::with_capacity(shape.fixes());
    // The ride: from one spacing before checkpoint 0 to one past the last, evenly.
    let length = (shape.fences_per_route as f64 + 1.0) * CHECKPOINT_SPACING_M;
    let step = length / shape.fixes_per_member.saturating_sub(1).max(1) as f64;
    let subjects: Vec<String> = (0..shape.routes)
        .map(|r| {
            let path = civicgrid_kit::region::path_of(&village(r)).unwrap_or_default();
            format!("civicgrid.patrol.position.{}", civicgrid_kit::region::subject_tokens(&path))
        })
        .collect();
    for i in 0..shape.fixes_per_member {
        let at = to_proto(start + chrono::Duration::seconds(i as i64 * FIX_EVERY_SECS));
        for (r, subject) in subjects.iter().enumerate() {
            let (lat, lng) = origin(r);
            for m in 0..shape.members_per_team {
                // Members ride abreast, 1.5 m apart, all within the fences' radius.
                let north = (m as f64 - shape.members_per_team as f64 / 2.0) * 1.5 / M_PER_DEG;
                let fix = PositionFix {
                    member_id: member_id(r, m),
                    device_id: String::new(),
                    at: Some(at),
                    point: Some(point((lat + north, lng + i as f64 * step * lng_per_m(lat)))),
                    accuracy_m: 6.0,
                    speed_mps: (step / FIX_EVERY_SECS as f64) as f32,
                };
                out.push((subject.clone(), bytes::Bytes::from(fix.encode_to_vec())));
            }
        }
    }
    out
}

/// `message` with a bearer token.
fn with_token<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Ok(v) = format!("Bearer {token}").parse() {
        request.metadata_mut().insert("authorization", v);
    }
    request
}

/// A token with these claims, signed with a throwaway secret: the bench's patrol checks no
/// signatures (no `auth` settings), so the claims are taken as given.
pub fn token(role: &str, sub: &str) -> String {
    let claims = civicgrid_kit::auth::Claims {
        sub: sub.into(),
        role: role.into(),
        department_id: String::new(),
        region_scope: String::new(),
        exp: civicgrid_kit::auth::expiry_in(Duration::from_secs(24 * 3600)),
        iss: None,
        aud: None,
    };
    civicgrid_kit::auth::issue_token("bench-unchecked", &claims).unwrap_or_default()
}

/// Loads places, teams and routes through the gRPC API, `concurrency` calls at a time, then
/// schedules and starts one shift per route; returns the seconds it took.
pub async fn load(
    client: &PatrolServiceClient<Channel>,
    shape: Shape,
    starts: chrono::DateTime<chrono::Utc>,
    concurrency: usize,
) -> Result<f64> {
    let started = std::time::Instant::now();
    let center = token("center", "bench-center");
    let results = futures::stream::iter(0..shape.routes)
        .map(|r| {
            let (mut client, center) = (client.clone(), center.clone());
            async move { load_route(&mut client, &center, shape, r, starts).await.with_context(|| format!("route {r}")) }
        })
        .buffer_unordered(concurrency)
        .collect::<Vec<_>>()
        .await;
    for r in results {
        r?;
    }
    Ok(started.elapsed().as_secs_f64())
}

async fn load_route(
    client: &mut PatrolServiceClient<Channel>,
    center: &str,
    shape: Shape,
    r: usize,
    starts: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    let mut checkpoints = Vec::with_capacity(shape.fences_per_route);
    for k in 0..shape.fences_per_route {
        let id = format!("bp-{r:04}-{k:03}");
        let place = Place {
            id: id.clone(),
            name: format!("bench place {r}/{k}"),
            kind: PlaceKind::Other as i32,
            risk: PlaceRisk::Low as i32,
            region_code: village(r),
            fence: Some(Geofence {
                shape: Some(geofence::Shape::Circle(Circle {
                    center: Some(point(checkpoint_at(r, k))),
                    radius_m: FENCE_RADIUS_M,
                })),
            }),
            ..Default::default()
        };
        client
            .put_place(with_token(
                PutPlaceRequest { request_id: format!("bench-place-{id}"), place: Some(place) },
                center,
            ))
            .await?;
        checkpoints.push(Checkpoint {
            id: format!("cp-{k:03}"),
            target: Some(checkpoint::Target::PlaceId(id)),
            ..Default::default()
        });
    }
    let team = Team {
        id: format!("bt-{r:04}"),
        name: format!("bench team {r}"),
        kind: TeamKind::Volunteer as i32,
        region_code: village(r),
        unit_id: "bench-unit".into(),
        members: (0..shape.members_per_team)
            .map(|m| TeamMember {
                member_id: member_id(r, m),
                name: format!("队员{m}"),
                leader: m == 0,
                device_ids: vec![],
            })
            .collect(),
        ..Default::default()
    };
    client
        .put_team(with_token(PutTeamRequest { request_id: format!("bench-team-{r:06}"), team: Some(team) }, center))
        .await?;
    let route = Route {
        id: format!("br-{r:04}"),
        name: format!("bench route {r}"),
        region_code: village(r),
        ordered: false,
        checkpoints,
        tour_minutes: 24 * 60,
        ..Default::default()
    };
    client
        .put_route(with_token(
            PutRouteRequest { request_id: format!("bench-route-{r:06}"), route: Some(route) },
            center,
        ))
        .await?;
    let shift = client
        .schedule_shift(with_token(
            ScheduleShiftRequest {
                request_id: format!("bench-shift-{r:06}"),
                team_id: format!("bt-{r:04}"),
                route_id: format!("br-{r:04}"),
                starts_at: Some(to_proto(starts)),
                ends_at: Some(to_proto(starts + chrono::Duration::hours(20))),
            },
            center,
        ))
        .await?
        .into_inner();
    let leader = token("patrol_member", &member_id(r, 0));
    client
        .start_shift(with_token(
            ShiftRequest { request_id: format!("bench-start-{r:06}"), shift_id: shift.id },
            &leader,
        ))
        .await?;
    Ok(())
}
