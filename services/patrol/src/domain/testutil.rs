//! Helpers shared by the domain's tests: a deterministic PRNG, a local metric frame, instants.

use chrono::{DateTime, TimeZone, Utc};

use super::geo::{EARTH_RADIUS_M, Point, Projection};

/// SplitMix64: small, deterministic, good enough for test data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        let u = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        lo + (hi - lo) * u
    }

    /// Uniform in 0..n.
    #[allow(dead_code)]
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// Metres east/north of an origin, through the same projection fences use (so a fence centred
/// on the origin sees exactly these coordinates).
pub struct Frame(Projection);

impl Frame {
    pub fn at(lat: f64, lng: f64) -> Self {
        Frame(Projection::around(Point::new(lat, lng)))
    }

    /// The point `x` m east and `y` m north of the origin.
    pub fn p(&self, x: f64, y: f64) -> Point {
        self.0.unproject(super::geo::Xy { x, y })
    }
}

/// Zhengzhou, 34.75° N: the frame most tests use.
pub fn zz() -> Frame {
    Frame::at(34.75, 113.62)
}

/// The point `dist_m` from `p` along the great circle at `bearing_deg` (spherical formula).
pub fn destination(p: Point, bearing_deg: f64, dist_m: f64) -> Point {
    let (lat1, lng1) = (p.lat.to_radians(), p.lng.to_radians());
    let (b, d) = (bearing_deg.to_radians(), dist_m / EARTH_RADIUS_M);
    let lat2 = (lat1.sin() * d.cos() + lat1.cos() * d.sin() * b.cos()).asin();
    let lng2 = lng1 + (b.sin() * d.sin() * lat1.cos()).atan2(d.cos() - lat1.sin() * lat2.sin());
    Point::new(lat2.to_degrees(), lng2.to_degrees())
}

/// 2026-11-22 at `h:m:s` UTC.
#[allow(dead_code)]
pub fn utc(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, h, m, s).unwrap()
}
