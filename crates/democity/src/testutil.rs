//! Shared by the tests: the cities (generated once per test binary) and exact lattice geometry.

use std::sync::OnceLock;

use crate::geom::{LatLng, Micro};
use crate::{City, Options};

/// The seed the tests use.
pub(crate) const SEED: u64 = 20_261_122;

/// The whole city from [`SEED`], generated once.
pub(crate) fn full() -> &'static City {
    static CITY: OnceLock<City> = OnceLock::new();
    CITY.get_or_init(|| City::generate(SEED))
}

/// 川汇区 and 扶沟县 only (the shipped demo's counties), generated once.
pub(crate) fn small() -> &'static City {
    static CITY: OnceLock<City> = OnceLock::new();
    CITY.get_or_init(|| City::generate_with(&Options::new(SEED).counties(&["411602", "411621"])).unwrap())
}

/// A published position on the lattice.
pub(crate) fn micro(p: LatLng) -> Micro {
    Micro { lat: (p.lat * 1e6).round() as i64, lng: (p.lng * 1e6).round() as i64 }
}

/// A published ring on the lattice.
pub(crate) fn ring(points: &[LatLng]) -> Vec<Micro> {
    points.iter().map(|&p| micro(p)).collect()
}

/// The sign of the turn a → b → c (exact).
fn orient(a: Micro, b: Micro, c: Micro) -> i128 {
    let (abx, aby) = (i128::from(b.lng - a.lng), i128::from(b.lat - a.lat));
    let (acx, acy) = (i128::from(c.lng - a.lng), i128::from(c.lat - a.lat));
    (abx * acy - aby * acx).signum()
}

/// Whether `p` lies on the closed segment a–b (exact).
fn on_segment(a: Micro, b: Micro, p: Micro) -> bool {
    orient(a, b, p) == 0
        && p.lng >= a.lng.min(b.lng)
        && p.lng <= a.lng.max(b.lng)
        && p.lat >= a.lat.min(b.lat)
        && p.lat <= a.lat.max(b.lat)
}

/// Whether the closed segments a–b and c–d share a point (exact).
fn segments_meet(a: Micro, b: Micro, c: Micro, d: Micro) -> bool {
    let (o1, o2, o3, o4) = (orient(a, b, c), orient(a, b, d), orient(c, d, a), orient(c, d, b));
    (o1 != o2 && o3 != o4)
        || (o1 == 0 && on_segment(a, b, c))
        || (o2 == 0 && on_segment(a, b, d))
        || (o3 == 0 && on_segment(c, d, a))
        || (o4 == 0 && on_segment(c, d, b))
}

/// Why a ring is not a simple polygon (repeated vertices, edges that meet other than at a
/// shared endpoint of neighbours), if it is not.
pub(crate) fn not_simple(ring: &[Micro]) -> Option<String> {
    let n = ring.len();
    if n < 3 {
        return Some(format!("{n} vertices"));
    }
    let mut sorted = ring.to_vec();
    sorted.sort();
    if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
        return Some(format!("vertex {:?} repeated", w[0]));
    }
    // Edges whose boxes overlap are compared; neighbours share exactly their common vertex.
    let boxes: Vec<(i64, i64, i64, i64)> = (0..n)
        .map(|i| {
            let (a, b) = (ring[i], ring[(i + 1) % n]);
            (a.lng.min(b.lng), a.lng.max(b.lng), a.lat.min(b.lat), a.lat.max(b.lat))
        })
        .collect();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| boxes[i].0);
    for (k, &i) in order.iter().enumerate() {
        for &j in &order[k + 1..] {
            if boxes[j].0 > boxes[i].1 {
                break;
            }
            if boxes[j].2 > boxes[i].3 || boxes[i].2 > boxes[j].3 {
                continue;
            }
            let adjacent = (i + 1) % n == j || (j + 1) % n == i;
            let (a, b, c, d) = (ring[i], ring[(i + 1) % n], ring[j], ring[(j + 1) % n]);
            if adjacent {
                // Only the shared vertex: not folded back along each other.
                let (p, q, r) = if (i + 1) % n == j { (a, b, d) } else { (c, d, b) };
                if orient(p, q, r) == 0 && on_segment(p, q, r) {
                    return Some(format!("edges {i} and {j} fold back"));
                }
            } else if segments_meet(a, b, c, d) {
                return Some(format!("edges {i} and {j} meet"));
            }
        }
    }
    None
}

/// Where a point is relative to a ring, exactly: inside, outside, or on its boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// Strictly inside.
    Inside,
    /// Strictly outside.
    Outside,
    /// On an edge or a vertex.
    Boundary,
}

/// The side of `p` (crossing number with exact arithmetic).
pub(crate) fn side(ring: &[Micro], p: Micro) -> Side {
    let n = ring.len();
    let mut inside = false;
    for i in 0..n {
        let (a, b) = (ring[i], ring[(i + 1) % n]);
        if on_segment(a, b, p) {
            return Side::Boundary;
        }
        if (a.lat > p.lat) != (b.lat > p.lat) {
            // p is left of the upward edge a→b (or right of a downward one) iff it crosses.
            let o = orient(a, b, p);
            if (b.lat > a.lat && o > 0) || (b.lat < a.lat && o < 0) {
                inside = !inside;
            }
        }
    }
    if inside { Side::Inside } else { Side::Outside }
}

/// Twice the signed area of a lattice ring, exactly, in square micro-degrees.
pub(crate) fn twice_area_micro(ring: &[Micro]) -> i128 {
    let n = ring.len();
    let mut sum: i128 = 0;
    for i in 0..n {
        let (a, b) = (ring[i], ring[(i + 1) % n]);
        sum += i128::from(a.lng) * i128::from(b.lat) - i128::from(b.lng) * i128::from(a.lat);
    }
    sum
}

/// Area of a lattice ring in square metres (equirectangular at 33.6° N).
pub(crate) fn area_m2(ring: &[Micro]) -> f64 {
    twice_area_micro(ring) as f64 / 2.0 * 1e-12 * crate::geom::M_PER_DEG_LAT * crate::geom::M_PER_DEG_LNG
}
