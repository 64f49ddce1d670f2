//! The prefecture 周口市 (411600) and its ten counties and districts: real codes, names and
//! approximate seats, the outline the counties tile, and how many townships of each kind each
//! one gets.

use crate::geom::LatLng;
use crate::model::RegionKind;

/// The city's code.
pub const CITY_CODE: &str = "411600";

/// The city's name.
pub const CITY_NAME: &str = "周口市";

/// One county or district and what it is made of.
#[derive(Debug, Clone, Copy)]
pub struct CountySpec {
    /// Its division code.
    pub code: &'static str,
    /// Its name.
    pub name: &'static str,
    /// District, county or county-level city.
    pub kind: RegionKind,
    /// Its seat (the government's approximate position).
    pub seat: LatLng,
    /// How many subdistricts (街道, codes 001…) it has, clustered around the seat.
    pub subdistricts: usize,
    /// How many towns (镇, codes 100…); a county without subdistricts has its seat town 城关镇
    /// as 100.
    pub towns: usize,
    /// How many townships (乡, codes 200…).
    pub townships: usize,
    /// The radius (metres) around the seat within which its subdistricts lie.
    pub urban_radius_m: f64,
    /// How much closer together places are at the seat than in the countryside (the spacing
    /// of seed points there, as a fraction of the rural spacing).
    pub core_scale: f64,
    /// How far from the seat (metres) the spacing grows back to the rural one.
    pub core_extent_m: f64,
}

const fn at(lat: f64, lng: f64) -> LatLng {
    LatLng { lat, lng }
}

/// The ten counties and districts, in code order.
pub const COUNTIES: [CountySpec; 10] = [
    county("411602", "川汇区", RegionKind::District, at(33.6254, 114.6503), (10, 0, 2), (4_500.0, 0.2, 10_000.0)),
    county("411603", "淮阳区", RegionKind::District, at(33.7319, 114.8862), (3, 7, 4), (3_000.0, 0.35, 5_000.0)),
    county("411621", "扶沟县", RegionKind::County, at(34.0600, 114.3949), (0, 8, 4), RURAL),
    county("411622", "西华县", RegionKind::County, at(33.7674, 114.5298), (0, 7, 5), RURAL),
    county("411623", "商水县", RegionKind::County, at(33.5425, 114.6116), (0, 8, 5), RURAL),
    county("411624", "沈丘县", RegionKind::County, at(33.4094, 115.0982), (0, 8, 4), RURAL),
    county("411625", "郸城县", RegionKind::County, at(33.6444, 115.1773), (0, 8, 5), RURAL),
    county("411627", "太康县", RegionKind::County, at(34.0643, 114.8377), (0, 9, 5), RURAL),
    county("411628", "鹿邑县", RegionKind::County, at(33.8600, 115.4843), (0, 8, 4), RURAL),
    county("411681", "项城市", RegionKind::CountyCity, at(33.4672, 114.8754), (3, 7, 3), (3_000.0, 0.35, 5_000.0)),
];

const fn county(
    code: &'static str,
    name: &'static str,
    kind: RegionKind,
    seat: LatLng,
    (subdistricts, towns, townships): (usize, usize, usize),
    (urban_radius_m, core_scale, core_extent_m): (f64, f64, f64),
) -> CountySpec {
    CountySpec { code, name, kind, seat, subdistricts, towns, townships, urban_radius_m, core_scale, core_extent_m }
}

/// A county whose seat is a town (城关镇): no subdistricts, a small dense core.
const RURAL: (f64, f64, f64) = (0.0, 0.3, 4_000.0);

/// The subdistricts of 川汇区 (001…010; the first four are the shipped ones).
pub(crate) const CHUANHUI_SUBDISTRICTS: [&str; 10] = [
    "陈州街道",
    "人和街道",
    "小桥街道",
    "荷花路街道",
    "七一路街道",
    "城北街道",
    "文昌街道",
    "搬口街道",
    "华耀城街道",
    "金海路街道",
];

/// The townships of 川汇区 (200, 201; the first is the shipped one).
pub(crate) const CHUANHUI_TOWNSHIPS: [&str; 2] = ["许湾乡", "李埠口乡"];

/// The city's outline: a convex polygon, counter-clockwise, roughly the prefecture's shape
/// (about 33.1–34.25° N, 114.2–115.6° E, 12,700 km²) around every seat.
pub(crate) const OUTLINE: [LatLng; 12] = [
    at(33.467, 114.300),
    at(33.218, 114.549),
    at(33.071, 114.917),
    at(33.108, 115.174),
    at(33.356, 115.404),
    at(33.678, 115.598),
    at(33.927, 115.579),
    at(34.065, 115.266),
    at(34.230, 114.944),
    at(34.249, 114.438),
    at(34.111, 114.208),
    at(33.835, 114.172),
];

/// The county with this code.
pub fn county_spec(code: &str) -> Option<&'static CountySpec> {
    COUNTIES.iter().find(|c| c.code == code)
}
