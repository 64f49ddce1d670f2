//! The generated city's parts: regions and grids with their polygons, grid workers,
//! departments, mediation organisations and mediators. (Patrol is in [`crate::patrol`].)

use serde::{Deserialize, Serialize};

use crate::geom::LatLng;

/// The level of a region, from the length of its code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// 6 digits ending in `00`: the prefecture (地级市).
    City,
    /// 6 digits: a district, county or county-level city.
    County,
    /// 9 digits: a subdistrict, town or township.
    Township,
    /// 12 digits: a community or village.
    Village,
}

impl Level {
    /// Its name in the GeoJSON properties.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::City => "city",
            Level::County => "county",
            Level::Township => "township",
            Level::Village => "village",
        }
    }
}

/// What kind of administrative unit a region is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegionKind {
    /// 地级市: the prefecture.
    City,
    /// 市辖区: an urban district.
    District,
    /// 县.
    County,
    /// 县级市: a county-level city.
    CountyCity,
    /// 街道: a subdistrict (township segment 001–099).
    Subdistrict,
    /// 镇: a town (township segment 100–199).
    Town,
    /// 乡: a township (township segment 200–399).
    Township,
    /// 社区 (居委会): an urban community (village segment 001–199).
    Community,
    /// 村 (村委会): a village (village segment 200–399).
    Village,
}

impl RegionKind {
    /// The kind a township or village code's own segment stands for (`None` for 6-digit codes
    /// and segments outside the ranges).
    pub fn of_code(code: &str) -> Option<RegionKind> {
        let segment: u32 = code.get(code.len().checked_sub(3)?..)?.parse().ok()?;
        match (code.len(), segment) {
            (9, 1..=99) => Some(RegionKind::Subdistrict),
            (9, 100..=199) => Some(RegionKind::Town),
            (9, 200..=399) => Some(RegionKind::Township),
            (12, 1..=199) => Some(RegionKind::Community),
            (12, 200..=399) => Some(RegionKind::Village),
            _ => None,
        }
    }
}

/// A region (行政区划) with its polygon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Region {
    /// Its division code (6, 9 or 12 digits).
    pub code: String,
    /// Its name.
    pub name: String,
    /// Its level.
    pub level: Level,
    /// What kind of unit it is.
    pub kind: RegionKind,
    /// Its parent's code (`None` for the city).
    pub parent: Option<String>,
    /// Its seat, for the city and the counties.
    pub seat: Option<LatLng>,
    /// The centroid of its polygon.
    pub centroid: LatLng,
    /// Its polygon: a simple ring, counter-clockwise, not closed (the first vertex is not
    /// repeated), on the 6-decimal lattice.
    pub boundary: Vec<LatLng>,
}

/// A grid (网格) with its polygon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grid {
    /// Its code: the village's and a 3-digit sequence from 001.
    pub code: String,
    /// Its name (陈州街道七一路社区第1网格).
    pub name: String,
    /// Its village's code.
    pub village: String,
    /// Its grid worker's id (`gw-<grid code>`).
    pub grid_worker: String,
    /// The centroid of its polygon.
    pub centroid: LatLng,
    /// Its polygon, as a region's.
    pub boundary: Vec<LatLng>,
}

/// A grid worker (网格员): one per grid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GridWorker {
    /// Their account id, `gw-<grid code>`.
    pub id: String,
    /// Their name.
    pub name: String,
    /// The grid they walk.
    pub grid: String,
}

/// A kind of department (职能部门类别), as catalog items name them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepartmentKind {
    /// Its code (`chengguan`).
    pub code: String,
    /// Its name (城市管理与综合执法).
    pub name: String,
    /// Whether every township has one (otherwise only counties do).
    pub in_townships: bool,
}

/// A department serving a county or a township.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Department {
    /// `<region>-<kind>`.
    pub id: String,
    /// Its name (川汇区城市管理局, 陈州街道综合行政执法中队).
    pub name: String,
    /// Its kind's code.
    pub kind: String,
    /// The region it serves.
    pub region: String,
}

/// What kind of committee a mediation organisation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrgKind {
    /// A village or community committee (`<village>-cw`).
    Village,
    /// A township or subdistrict committee (`<township>-tw`).
    Township,
    /// A county's professional committee (`<county>-labour` …).
    Professional,
}

impl OrgKind {
    /// Its name in organisations.toml.
    pub fn as_str(self) -> &'static str {
        match self {
            OrgKind::Village => "village",
            OrgKind::Township => "township",
            OrgKind::Professional => "professional",
        }
    }
}

/// A people's mediation committee (人民调解委员会).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organisation {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its kind.
    pub kind: OrgKind,
    /// The region it serves.
    pub region: String,
    /// The dispute types a professional committee takes (empty for the others).
    pub specialties: Vec<String>,
}

/// A people's mediator (人民调解员).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mediator {
    /// `med-<organisation id>-NN`.
    pub id: String,
    /// Their name.
    pub name: String,
    /// Their organisation's id.
    pub organisation: String,
    /// The dispute types they take (`neighbour`, `family` …).
    pub specialties: Vec<String>,
    /// Whether they take new cases.
    pub available: bool,
}
