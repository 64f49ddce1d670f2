//! The tests' city: a township of 周口市川汇区, its teams, key places and routes, and the calls
//! that put them. Places are given in metres east and north of a fixed origin.

use civicgrid_proto::v1::{
    Checkpoint, CheckpointWindow, Circle, GeoPoint, Geofence, Place, PlaceKind, PlaceRisk, PutPlaceRequest,
    PutRouteRequest, PutTeamRequest, Route, StartOffsetWindow, Team, TeamKind, TeamMember, checkpoint::Target,
    checkpoint_window, geofence::Shape,
};

use super::{TestApp, authed, rid};

pub const COUNTY: &str = "411602";
pub const OTHER_COUNTY: &str = "411603";
pub const TOWNSHIP: &str = "411602001";
pub const VILLAGE: &str = "411602001001";

/// The origin: 周口市川汇区.
pub const ORIGIN: (f64, f64) = (33.62, 114.65);

/// The point `east` and `north` metres from the origin.
pub fn at(east: f64, north: f64) -> GeoPoint {
    let lat = ORIGIN.0 + north / 111_195.0;
    let lng = ORIGIN.1 + east / (111_195.0 * ORIGIN.0.to_radians().cos());
    GeoPoint { latitude: lat, longitude: lng }
}

/// A circle of `radius` metres around (`east`, `north`).
pub fn circle(east: f64, north: f64, radius: f64) -> Circle {
    Circle { center: Some(at(east, north)), radius_m: radius }
}

/// A professional team of `members` (ids; names "队员<id>") in the township.
pub fn team(id: &str, members: &[&str]) -> Team {
    Team {
        id: id.into(),
        name: format!("川汇区专职巡防{id}"),
        kind: TeamKind::Professional as i32,
        region_code: TOWNSHIP.into(),
        unit_id: "411602-gongan".into(),
        supervisor_ids: vec!["sup-1".into()],
        members: members
            .iter()
            .map(|m| TeamMember {
                member_id: (*m).into(), name: format!("队员{m}"), leader: false, device_ids: vec![]
            })
            .collect(),
        ..Default::default()
    }
}

/// A key place: a circle of `radius` metres around (`east`, `north`) in the village.
pub fn place(id: &str, east: f64, north: f64, radius: f64) -> Place {
    Place {
        id: id.into(),
        name: format!("重点场所{id}"),
        kind: PlaceKind::School as i32,
        risk: PlaceRisk::High as i32,
        region_code: VILLAGE.into(),
        fence: Some(Geofence { shape: Some(Shape::Circle(circle(east, north, radius))) }),
        ..Default::default()
    }
}

/// A checkpoint: a circle anywhere during the shift.
pub fn cp(id: &str, east: f64, north: f64, radius: f64) -> Checkpoint {
    Checkpoint {
        id: id.into(),
        name: format!("检查点{id}"),
        target: Some(Target::Circle(circle(east, north, radius))),
        window: None,
        dwell_seconds: 0,
    }
}

/// A checkpoint at a key place.
pub fn cp_place(id: &str, place_id: &str) -> Checkpoint {
    Checkpoint {
        id: id.into(),
        name: String::new(),
        target: Some(Target::PlaceId(place_id.into())),
        window: None,
        dwell_seconds: 0,
    }
}

/// `checkpoint` with a window of `min`–`max` minutes from the start.
pub fn within(mut checkpoint: Checkpoint, min: i32, max: i32) -> Checkpoint {
    checkpoint.window = Some(CheckpointWindow {
        window: Some(checkpoint_window::Window::FromStart(StartOffsetWindow { min_minutes: min, max_minutes: max })),
    });
    checkpoint
}

/// A route of `checkpoints` in the township, 60 minutes a tour.
pub fn route(id: &str, ordered: bool, checkpoints: Vec<Checkpoint>) -> Route {
    Route {
        id: id.into(),
        name: format!("巡逻路线{id}"),
        region_code: TOWNSHIP.into(),
        ordered,
        checkpoints,
        tour_minutes: 60,
        ..Default::default()
    }
}

impl TestApp {
    pub async fn put_team(&self, t: Team, token: &str) -> Team {
        let r = PutTeamRequest { request_id: rid(), team: Some(t) };
        self.client.clone().put_team(authed(r, token)).await.expect("PutTeam").into_inner()
    }

    pub async fn put_place(&self, p: Place, token: &str) -> Place {
        let r = PutPlaceRequest { request_id: rid(), place: Some(p) };
        self.client.clone().put_place(authed(r, token)).await.expect("PutPlace").into_inner()
    }

    pub async fn put_route(&self, route: Route, token: &str) -> Route {
        let r = PutRouteRequest { request_id: rid(), route: Some(route) };
        self.client.clone().put_route(authed(r, token)).await.expect("PutRoute").into_inner()
    }
}
