//! Patrol (巡逻防控): teams, key places and routes, as plain serde structs (the patrol service's
//! input format is not settled; these carry what it needs).
//!
//! - Teams: per county a professional team of the public security bureau (unit
//!   `<county>-gongan`), per township a volunteer team (unit: the township's police station) and
//!   a team of its grid workers (unit: its grid station).
//! - Key places (重点场所): schools, markets, stations, hospitals, riverbanks and squares, each
//!   with a fence — a circle of 30–150 m or a small rectangle — lying inside its village. A
//!   township has a school, a health centre and a station at its centre; each community two
//!   places more, a rural village one now and then.
//! - Routes: two or three per township, each past 5–15 of its key places (in nearest-neighbour
//!   order) with local clock windows that follow each other through the shift.

use serde::{Deserialize, Serialize};

use crate::geom::{LatLng, Xy};
use crate::model::{GridWorker, Level, Region};
use crate::names;
use crate::rng::{Purpose, Rng};

mod places;
mod routes;

/// Everything patrol needs.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Patrol {
    /// The teams.
    pub teams: Vec<PatrolTeam>,
    /// The key places.
    pub key_places: Vec<KeyPlace>,
    /// The routes.
    pub routes: Vec<PatrolRoute>,
}

/// What a team is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TeamKind {
    /// Police patrol officers (专业巡逻队), one team per county.
    Professional,
    /// Volunteers (群防群治志愿者), one team per township.
    Volunteer,
    /// The township's grid workers.
    GridWorkers,
}

/// A member of a team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatrolMember {
    /// Their account id (a grid worker's is `gw-<grid code>`).
    pub id: String,
    /// Their name.
    pub name: String,
}

/// A patrol team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatrolTeam {
    /// `<county>-patrol`, `<township>-volunteers` or `<township>-gridworkers`.
    pub id: String,
    /// Its name.
    pub name: String,
    /// What it is made of.
    pub kind: TeamKind,
    /// The region it patrols (a county or a township).
    pub region: String,
    /// The department it belongs to (`411602-gongan`).
    pub unit: String,
    /// Its members.
    pub members: Vec<PatrolMember>,
}

/// What a key place is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyPlaceKind {
    /// 学校.
    School,
    /// 市场.
    Market,
    /// 车站.
    Station,
    /// 医院, 卫生院, 卫生室.
    Hospital,
    /// 河道堤岸.
    Riverbank,
    /// 广场.
    Square,
}

/// A key place's geofence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "shape", rename_all = "snake_case")]
pub enum Fence {
    /// A point with a radius.
    Circle {
        /// The centre.
        center: LatLng,
        /// The radius, metres (30–150).
        radius_m: f64,
    },
    /// A small polygon: a simple ring, counter-clockwise, not closed.
    Polygon {
        /// The vertices.
        ring: Vec<LatLng>,
    },
}

/// A key place (重点场所).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyPlace {
    /// `kp-<village code>-NN`.
    pub id: String,
    /// Its name (王庄小学, 沙颍河七一路段).
    pub name: String,
    /// What it is.
    pub kind: KeyPlaceKind,
    /// The village or community it lies in.
    pub village: String,
    /// Its fence, inside the village.
    pub fence: Fence,
}

/// A local (UTC+08:00) clock window, `from` inclusive, `to` exclusive; `to` before `from` runs
/// past midnight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockWindow {
    /// Opening time, `HH:MM`.
    pub from: String,
    /// Closing time, `HH:MM`.
    pub to: String,
}

/// A checkpoint of a route: a key place, when and how long.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The key place's id.
    pub key_place: String,
    /// When it may be checked in.
    pub window: ClockWindow,
    /// How long a member must stay inside, seconds (0: passing through is enough).
    pub dwell_s: u32,
}

/// A patrol route (巡逻路线).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatrolRoute {
    /// `<township>-route-NN`.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The team that walks it.
    pub team: String,
    /// The township it covers.
    pub township: String,
    /// Whether the checkpoints must be visited in order.
    pub ordered: bool,
    /// The shift it is walked in.
    pub shift: ClockWindow,
    /// Its checkpoints, in walking order.
    pub checkpoints: Vec<Checkpoint>,
}

/// Teams, key places and routes of the generated regions.
pub(crate) fn generate(seed: u64, regions: &[Region], workers: &[GridWorker]) -> Patrol {
    let mut patrol = Patrol::default();
    let mut county_team: Option<String> = None;
    for (t, township) in regions.iter().enumerate() {
        match township.level {
            Level::County => {
                let team = county_team_of(seed, township);
                county_team = Some(team.id.clone());
                patrol.teams.push(team);
                continue;
            }
            Level::Township => {}
            Level::City | Level::Village => continue,
        }
        let villages: Vec<&Region> = regions[t + 1..].iter().take_while(|r| r.level == Level::Village).collect();
        // Grid workers are in code order: the township's are one run.
        let prefix = format!("gw-{}", township.code);
        let first = workers.partition_point(|w| w.id < prefix);
        let members = workers[first..]
            .iter()
            .take_while(|w| w.id.starts_with(&prefix))
            .map(|w| PatrolMember { id: w.id.clone(), name: w.name.clone() });
        let teams = township_teams(seed, township, members.collect());
        let mut rng = Rng::for_code(seed, Purpose::Patrol, &township.code);
        let places = places::key_places(&mut rng, township, &villages);
        let team_ids = [teams[1].id.clone(), teams[0].id.clone(), county_team.clone().unwrap_or_default()];
        patrol.routes.extend(routes::routes(&mut rng, township, &places, &team_ids));
        patrol.teams.extend(teams);
        patrol.key_places.extend(places);
    }
    patrol
}

/// A county's professional team.
fn county_team_of(seed: u64, county: &Region) -> PatrolTeam {
    let mut rng = Rng::for_code(seed, Purpose::People, &format!("pp-{}", county.code));
    let n = rng.between(12, 24);
    PatrolTeam {
        id: format!("{}-patrol", county.code),
        name: format!("周口市公安局{}分局巡逻防控大队", county.name),
        kind: TeamKind::Professional,
        region: county.code.clone(),
        unit: format!("{}-gongan", county.code),
        members: (1..=n)
            .map(|k| PatrolMember { id: format!("pp-{}-{k:02}", county.code), name: names::person(&mut rng) })
            .collect(),
    }
}

/// A township's volunteer team and its grid workers' team.
fn township_teams(seed: u64, township: &Region, grid_workers: Vec<PatrolMember>) -> [PatrolTeam; 2] {
    let mut rng = Rng::for_code(seed, Purpose::People, &format!("pv-{}", township.code));
    let n = rng.between(8, 20);
    [
        PatrolTeam {
            id: format!("{}-volunteers", township.code),
            name: format!("{}平安志愿者巡逻队", township.name),
            kind: TeamKind::Volunteer,
            region: township.code.clone(),
            unit: format!("{}-gongan", township.code),
            members: (1..=n)
                .map(|k| PatrolMember { id: format!("pv-{}-{k:02}", township.code), name: names::person(&mut rng) })
                .collect(),
        },
        PatrolTeam {
            id: format!("{}-gridworkers", township.code),
            name: format!("{}网格员巡逻队", township.name),
            kind: TeamKind::GridWorkers,
            region: township.code.clone(),
            unit: format!("{}-grid", township.code),
            members: grid_workers,
        },
    ]
}

/// A village's polygon in the local projection.
fn ring_xy(region: &Region) -> Vec<Xy> {
    region.boundary.iter().map(|&p| Xy::from_lat_lng(p)).collect()
}

#[cfg(test)]
mod tests;
