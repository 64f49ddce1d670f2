//! Positions on the WGS-84 sphere: points, great-circle distances, a local planar projection for
//! segment geometry, and bounding boxes. The geofences are in [`Fence`]; where a straight segment
//! enters and leaves one is a [`Crossing`].
//!
//! Distances between two positions are haversine distances on a sphere of the mean Earth radius.
//! Geometry that needs straight lines (a fence's edges, the segment between two fixes) is done in
//! a [`Projection`]: an equirectangular projection around a reference point, in metres. It is
//! affine in latitude and longitude, so a segment that is straight in one such projection is
//! straight in every other one (and in the spatial index's grid); its error against the sphere
//! is about `Δlat · tan(lat)` relative, under 0.2% for spans of a few kilometres at China's
//! latitudes (18°–53°). Longitudes are not wrapped: fences across the antimeridian are not
//! supported.

use serde::{Deserialize, Serialize};

mod crossing;
mod fence;

pub use crossing::{Crossing, MAX_SPANS, Span};
pub use fence::{
    Circle, EDGE_TOLERANCE_M, Fence, FenceError, FenceSpec, MAX_EXTENT_M, MAX_POLYGON_VERTICES, MAX_RADIUS_M, Polygon,
};

/// The mean Earth radius (IUGG), in metres.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// Metres along a meridian per degree of latitude on that sphere (≈ 111,195 m).
pub const METRES_PER_DEGREE: f64 = EARTH_RADIUS_M * std::f64::consts::PI / 180.0;

/// A WGS-84 position in degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Latitude, degrees north (−90 to 90).
    pub lat: f64,
    /// Longitude, degrees east (−180 to 180).
    pub lng: f64,
}

impl Point {
    /// A point at `lat`, `lng` (degrees), unchecked.
    pub const fn new(lat: f64, lng: f64) -> Self {
        Point { lat, lng }
    }

    /// Both coordinates finite and in range, and not the 0,0 "null island" a device reports when
    /// it has no position.
    pub fn is_valid(self) -> bool {
        self.lat.is_finite()
            && self.lng.is_finite()
            && self.lat.abs() <= 90.0
            && self.lng.abs() <= 180.0
            && !(self.lat == 0.0 && self.lng == 0.0)
    }
}

/// The great-circle (haversine) distance between `a` and `b` in metres, on a sphere of
/// [`EARTH_RADIUS_M`].
pub fn distance_m(a: Point, b: Point) -> f64 {
    let (lat1, lat2) = (a.lat.to_radians(), b.lat.to_radians());
    let dlat = lat2 - lat1;
    let dlng = (b.lng - a.lng).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlng / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.clamp(0.0, 1.0).sqrt().asin()
}

/// A position in a [`Projection`]: metres east (`x`) and north (`y`) of its origin.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Xy {
    /// Metres east of the origin.
    pub x: f64,
    /// Metres north of the origin.
    pub y: f64,
}

impl std::ops::Sub for Xy {
    type Output = Xy;

    fn sub(self, o: Xy) -> Xy {
        Xy { x: self.x - o.x, y: self.y - o.y }
    }
}

impl Xy {
    /// The dot product.
    pub fn dot(self, o: Xy) -> f64 {
        self.x * o.x + self.y * o.y
    }

    /// The z component of the cross product (positive when `o` is counter-clockwise of `self`).
    pub fn cross(self, o: Xy) -> f64 {
        self.x * o.y - self.y * o.x
    }

    /// The squared length.
    pub fn norm2(self) -> f64 {
        self.dot(self)
    }

    /// The point at fraction `t` from `self` to `o`.
    pub fn lerp(self, o: Xy, t: f64) -> Xy {
        Xy { x: self.x + (o.x - self.x) * t, y: self.y + (o.y - self.y) * t }
    }
}

/// The squared distance from `q` to the segment `a`–`b`, and the fraction along it of the
/// nearest point.
pub fn segment_distance2(q: Xy, a: Xy, b: Xy) -> (f64, f64) {
    let d = b - a;
    let len2 = d.norm2();
    let t = if len2 > 0.0 { ((q - a).dot(d) / len2).clamp(0.0, 1.0) } else { 0.0 };
    ((q - a.lerp(b, t)).norm2(), t)
}

/// An equirectangular projection around an origin, in metres: `x = Δlng · cos(lat₀) · m/°`,
/// `y = Δlat · m/°`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Projection {
    origin: Point,
    kx: f64,
    ky: f64,
}

impl Projection {
    /// The projection around `origin` (its latitude is the reference latitude).
    pub fn around(origin: Point) -> Self {
        let cos = origin.lat.to_radians().cos().max(1e-6);
        Projection { origin, kx: METRES_PER_DEGREE * cos, ky: METRES_PER_DEGREE }
    }

    /// The origin.
    pub fn origin(&self) -> Point {
        self.origin
    }

    /// Metres per degree of longitude at the reference latitude.
    pub fn metres_per_degree_lng(&self) -> f64 {
        self.kx
    }

    /// `p` in metres from the origin.
    pub fn project(&self, p: Point) -> Xy {
        Xy { x: (p.lng - self.origin.lng) * self.kx, y: (p.lat - self.origin.lat) * self.ky }
    }

    /// The position of `xy`.
    pub fn unproject(&self, xy: Xy) -> Point {
        Point { lat: self.origin.lat + xy.y / self.ky, lng: self.origin.lng + xy.x / self.kx }
    }
}

/// A latitude/longitude box (closed), for quick rejection.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BBox {
    /// Southern edge.
    pub min_lat: f64,
    /// Western edge.
    pub min_lng: f64,
    /// Northern edge.
    pub max_lat: f64,
    /// Eastern edge.
    pub max_lng: f64,
}

impl BBox {
    /// The box of the segment `a`–`b` (or of one point when `a == b`).
    pub fn of_segment(a: Point, b: Point) -> Self {
        BBox {
            min_lat: a.lat.min(b.lat),
            min_lng: a.lng.min(b.lng),
            max_lat: a.lat.max(b.lat),
            max_lng: a.lng.max(b.lng),
        }
    }

    /// The box of `points`; `None` when there are none.
    pub fn of_points(points: &[Point]) -> Option<Self> {
        let (first, rest) = points.split_first()?;
        Some(rest.iter().fold(BBox::of_segment(*first, *first), |b, p| BBox {
            min_lat: b.min_lat.min(p.lat),
            min_lng: b.min_lng.min(p.lng),
            max_lat: b.max_lat.max(p.lat),
            max_lng: b.max_lng.max(p.lng),
        }))
    }

    /// Whether `p` is in the box (edges included).
    pub fn contains(&self, p: Point) -> bool {
        p.lat >= self.min_lat && p.lat <= self.max_lat && p.lng >= self.min_lng && p.lng <= self.max_lng
    }

    /// Whether the boxes share at least one point.
    pub fn intersects(&self, o: &BBox) -> bool {
        self.min_lat <= o.max_lat && o.min_lat <= self.max_lat && self.min_lng <= o.max_lng && o.min_lng <= self.max_lng
    }

    /// The centre of the box.
    pub fn center(&self) -> Point {
        Point { lat: (self.min_lat + self.max_lat) / 2.0, lng: (self.min_lng + self.max_lng) / 2.0 }
    }

    /// The box grown by `dlat` degrees north and south and `dlng` degrees east and west.
    pub fn grown(self, dlat: f64, dlng: f64) -> Self {
        BBox {
            min_lat: self.min_lat - dlat,
            min_lng: self.min_lng - dlng,
            max_lat: self.max_lat + dlat,
            max_lng: self.max_lng + dlng,
        }
    }
}

#[cfg(test)]
mod tests;
