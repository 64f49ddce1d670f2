//! Plane geometry in the city's local projection, and positions on the output lattice.
//!
//! Cells are computed in metres in an equirectangular projection around 33.6° N, 114.9° E
//! ([`Xy`]), then converted to WGS-84 degrees rounded to 6 decimals (about 0.1 m), kept exactly
//! as integer micro-degrees ([`Micro`]) and published as [`LatLng`]. The projection is affine
//! in latitude and longitude, so straight edges stay straight and areas stay proportional; its
//! constants are written out (no trigonometry at run time), so conversions give the same bits on
//! every platform.

use serde::{Deserialize, Serialize};

/// Latitude of the projection's origin, degrees.
pub(crate) const LAT0: f64 = 33.6;
/// Longitude of the projection's origin, degrees.
pub(crate) const LNG0: f64 = 114.9;
/// Metres per degree of latitude (a sphere of the mean Earth radius, 6,371,008.8 m).
pub(crate) const M_PER_DEG_LAT: f64 = 111_195.080_233_532_92;
/// Metres per degree of longitude at [`LAT0`] (`M_PER_DEG_LAT · cos 33.6°`).
pub(crate) const M_PER_DEG_LNG: f64 = 92_616.744_188_973_29;

/// A WGS-84 position in degrees, rounded to 6 decimals.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatLng {
    /// Latitude, degrees north.
    pub lat: f64,
    /// Longitude, degrees east.
    pub lng: f64,
}

/// A position on the output lattice: integer micro-degrees (10⁻⁶°).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Micro {
    /// Latitude in micro-degrees.
    pub(crate) lat: i64,
    /// Longitude in micro-degrees.
    pub(crate) lng: i64,
}

impl Micro {
    /// The position in degrees (each the `f64` nearest to the 6-decimal value).
    pub(crate) fn lat_lng(self) -> LatLng {
        LatLng { lat: self.lat as f64 / 1e6, lng: self.lng as f64 / 1e6 }
    }

    /// The position in the local projection.
    pub(crate) fn xy(self) -> Xy {
        Xy::from_lat_lng(self.lat_lng())
    }
}

/// A position in the local projection: metres east (`x`) and north (`y`) of 33.6° N, 114.9° E.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct Xy {
    /// Metres east.
    pub(crate) x: f64,
    /// Metres north.
    pub(crate) y: f64,
}

impl Xy {
    /// A point.
    pub(crate) const fn new(x: f64, y: f64) -> Xy {
        Xy { x, y }
    }

    /// The projection of a position.
    pub(crate) fn from_lat_lng(p: LatLng) -> Xy {
        Xy { x: (p.lng - LNG0) * M_PER_DEG_LNG, y: (p.lat - LAT0) * M_PER_DEG_LAT }
    }

    /// The position on the output lattice nearest to this point.
    pub(crate) fn micro(self) -> Micro {
        let lat = LAT0 + self.y / M_PER_DEG_LAT;
        let lng = LNG0 + self.x / M_PER_DEG_LNG;
        Micro { lat: (lat * 1e6).round() as i64, lng: (lng * 1e6).round() as i64 }
    }

    /// `self − o`.
    pub(crate) fn sub(self, o: Xy) -> Xy {
        Xy { x: self.x - o.x, y: self.y - o.y }
    }

    /// `self + o`.
    pub(crate) fn add(self, o: Xy) -> Xy {
        Xy { x: self.x + o.x, y: self.y + o.y }
    }

    /// `self · k`.
    pub(crate) fn scale(self, k: f64) -> Xy {
        Xy { x: self.x * k, y: self.y * k }
    }

    /// The dot product.
    pub(crate) fn dot(self, o: Xy) -> f64 {
        self.x * o.x + self.y * o.y
    }

    /// The z component of the cross product.
    pub(crate) fn cross(self, o: Xy) -> f64 {
        self.x * o.y - self.y * o.x
    }

    /// The distance to `o`.
    pub(crate) fn dist(self, o: Xy) -> f64 {
        self.sub(o).dot(self.sub(o)).sqrt()
    }
}

/// The signed area of a ring (positive when counter-clockwise), square metres.
pub(crate) fn area(ring: &[Xy]) -> f64 {
    let Some(&o) = ring.first() else { return 0.0 };
    let mut twice = 0.0;
    for i in 1..ring.len().saturating_sub(1) {
        twice += ring[i].sub(o).cross(ring[i + 1].sub(o));
    }
    twice / 2.0
}

/// The area centroid of a ring (its first vertex when the area is zero).
pub(crate) fn centroid(ring: &[Xy]) -> Xy {
    let Some(&o) = ring.first() else { return Xy::default() };
    let (mut twice, mut cx, mut cy) = (0.0, 0.0, 0.0);
    for i in 1..ring.len().saturating_sub(1) {
        let (a, b) = (ring[i].sub(o), ring[i + 1].sub(o));
        let w = a.cross(b);
        twice += w;
        cx += (a.x + b.x) * w;
        cy += (a.y + b.y) * w;
    }
    if twice == 0.0 { o } else { o.add(Xy::new(cx / (3.0 * twice), cy / (3.0 * twice))) }
}

/// Whether `p` lies inside the ring (even–odd rule; points on an edge may go either way).
pub(crate) fn contains(ring: &[Xy], p: Xy) -> bool {
    let mut inside = false;
    let n = ring.len();
    for i in 0..n {
        let (a, b) = (ring[i], ring[(i + 1) % n]);
        if (a.y > p.y) != (b.y > p.y) {
            let x = a.x + (p.y - a.y) / (b.y - a.y) * (b.x - a.x);
            if p.x < x {
                inside = !inside;
            }
        }
    }
    inside
}

/// The distance from `p` to the nearest edge of the ring.
pub(crate) fn boundary_distance(ring: &[Xy], p: Xy) -> f64 {
    let n = ring.len();
    let mut best = f64::INFINITY;
    for i in 0..n {
        let (a, b) = (ring[i], ring[(i + 1) % n]);
        let d = b.sub(a);
        let len2 = d.dot(d);
        let t = if len2 > 0.0 { (p.sub(a).dot(d) / len2).clamp(0.0, 1.0) } else { 0.0 };
        best = best.min(p.dist(a.add(d.scale(t))));
    }
    best
}

/// The bounding box of a ring: (min, max).
pub(crate) fn bbox(ring: &[Xy]) -> (Xy, Xy) {
    let mut lo = Xy::new(f64::INFINITY, f64::INFINITY);
    let mut hi = Xy::new(f64::NEG_INFINITY, f64::NEG_INFINITY);
    for p in ring {
        lo = Xy::new(lo.x.min(p.x), lo.y.min(p.y));
        hi = Xy::new(hi.x.max(p.x), hi.y.max(p.y));
    }
    (lo, hi)
}

#[cfg(test)]
mod tests;
