//! Geofences: a circle or a simple polygon, validated once and kept with what every query needs
//! precomputed (bounding box, projection, projected ring).

use serde::{Deserialize, Serialize};

use super::{BBox, METRES_PER_DEGREE, Point, Projection, Xy, distance_m, segment_distance2};

/// Points this close to a fence's edge (metres) count as inside it.
pub const EDGE_TOLERANCE_M: f64 = 0.01;

/// The largest circle radius, metres.
pub const MAX_RADIUS_M: f64 = 50_000.0;

/// The most vertices a polygon may have (the closing vertex not counted).
pub const MAX_POLYGON_VERTICES: usize = 1_000;

/// The largest north–south or east–west extent of a polygon, metres (a circle's is bounded by
/// [`MAX_RADIUS_M`]). Keeps the projection accurate and the spatial index small.
pub const MAX_EXTENT_M: f64 = 2.0 * MAX_RADIUS_M;

/// A grown box's margin against rounding, degrees (about 0.1 mm).
const BOX_MARGIN_DEG: f64 = 1e-9;

/// A fence as a client defines it; [`Fence::new`] checks it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FenceSpec {
    /// A point with a radius.
    Circle {
        /// The centre.
        center: Point,
        /// The radius, metres (0 < r ≤ 50 km).
        radius_m: f64,
    },
    /// A simple polygon; the closing vertex (equal to the first) is optional.
    Polygon {
        /// The vertices in order, either orientation.
        ring: Vec<Point>,
    },
}

/// Why a [`FenceSpec`] is not a fence. The service answers INVALID_ARGUMENT naming
/// [`FenceError::field`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FenceError {
    /// A coordinate is not finite, out of range or 0,0; `vertex` is `None` for a circle's centre.
    #[error("{}: not a valid WGS-84 position (finite, |lat| ≤ 90, |lng| ≤ 180, not 0,0)", self.field())]
    Coordinates {
        /// The vertex's index in the ring as given, or `None` for the centre.
        vertex: Option<usize>,
    },
    /// The radius is not positive, not finite, or over 50 km.
    #[error("radius_m: must be over 0 and at most {MAX_RADIUS_M} m, got {radius_m}")]
    Radius {
        /// The radius given.
        radius_m: f64,
    },
    /// Fewer than 3 distinct vertices.
    #[error("ring: a polygon needs at least 3 distinct vertices, got {distinct}")]
    TooFewVertices {
        /// Distinct vertices found.
        distinct: usize,
    },
    /// Over [`MAX_POLYGON_VERTICES`] vertices.
    #[error("ring: at most {MAX_POLYGON_VERTICES} vertices, got {count}")]
    TooManyVertices {
        /// Vertices given.
        count: usize,
    },
    /// Two edges cross or touch (other than neighbours at their shared vertex), or an edge
    /// doubles back on its neighbour.
    #[error("ring: edges {} and {} intersect; the polygon must be simple", .edges.0, .edges.1)]
    SelfIntersecting {
        /// The two edges, as the index of their first vertex (after dropping repeated vertices).
        edges: (usize, usize),
    },
    /// The polygon spans more than [`MAX_EXTENT_M`].
    #[error("ring: spans {extent_m:.0} m, at most {MAX_EXTENT_M} m")]
    TooLarge {
        /// The larger of the north–south and east–west extents.
        extent_m: f64,
    },
}

impl FenceError {
    /// The offending field, relative to the fence: `center`, `radius_m`, `ring` or `ring[i]`.
    pub fn field(&self) -> String {
        match self {
            FenceError::Coordinates { vertex: None } => "center".to_owned(),
            FenceError::Coordinates { vertex: Some(i) } => format!("ring[{i}]"),
            FenceError::Radius { .. } => "radius_m".to_owned(),
            _ => "ring".to_owned(),
        }
    }
}

/// A validated circle.
#[derive(Debug, Clone, PartialEq)]
pub struct Circle {
    center: Point,
    radius_m: f64,
    bbox: BBox,
    proj: Projection,
}

impl Circle {
    /// The centre.
    pub fn center(&self) -> Point {
        self.center
    }

    /// The radius, metres.
    pub fn radius_m(&self) -> f64 {
        self.radius_m
    }

    pub(super) fn contains_xy(&self, q: Xy) -> bool {
        let r = self.radius_m + EDGE_TOLERANCE_M;
        q.norm2() <= r * r
    }
}

/// A validated simple polygon.
#[derive(Debug, Clone, PartialEq)]
pub struct Polygon {
    ring: Vec<Point>,
    xy: Vec<Xy>,
    bbox: BBox,
    proj: Projection,
}

impl Polygon {
    /// The distinct vertices in order (no closing vertex).
    pub fn ring(&self) -> &[Point] {
        &self.ring
    }

    /// The edges as (start, end) pairs in the projection, the closing edge last.
    pub(super) fn edges(&self) -> impl Iterator<Item = (Xy, Xy)> + '_ {
        let n = self.xy.len();
        (0..n).map(move |i| (self.xy[i], self.xy[(i + 1) % n]))
    }

    pub(super) fn contains_xy(&self, q: Xy) -> bool {
        // Crossing number with the half-open rule (a vertex on the ray counts once), then the
        // edge tolerance for points on or just outside the boundary.
        let mut inside = false;
        for (p, r) in self.edges() {
            if (p.y > q.y) != (r.y > q.y) && q.x < p.x + (q.y - p.y) * (r.x - p.x) / (r.y - p.y) {
                inside = !inside;
            }
        }
        inside || self.near_edge(q)
    }

    fn near_edge(&self, q: Xy) -> bool {
        const E: f64 = EDGE_TOLERANCE_M;
        self.edges().any(|(p, r)| {
            q.x >= p.x.min(r.x) - E
                && q.x <= p.x.max(r.x) + E
                && q.y >= p.y.min(r.y) - E
                && q.y <= p.y.max(r.y) + E
                && segment_distance2(q, p, r).0 <= E * E
        })
    }
}

/// A validated geofence: a circle or a simple polygon with precomputed bounding box (grown by
/// the edge tolerance) and projection around its centre. Build it with [`Fence::new`],
/// [`Fence::circle`] or [`Fence::polygon`]; it (de)serializes as its [`FenceSpec`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "FenceSpec", into = "FenceSpec")]
pub enum Fence {
    /// A point with a radius.
    Circle(Circle),
    /// A simple polygon.
    Polygon(Polygon),
}

impl TryFrom<FenceSpec> for Fence {
    type Error = FenceError;

    fn try_from(spec: FenceSpec) -> Result<Self, FenceError> {
        Fence::new(spec)
    }
}

impl From<Fence> for FenceSpec {
    fn from(f: Fence) -> FenceSpec {
        f.spec()
    }
}

impl Fence {
    /// Checks `spec` and precomputes what queries need.
    pub fn new(spec: FenceSpec) -> Result<Fence, FenceError> {
        match spec {
            FenceSpec::Circle { center, radius_m } => Fence::circle(center, radius_m),
            FenceSpec::Polygon { ring } => Fence::polygon(ring),
        }
    }

    /// A circle of `radius_m` metres around `center`.
    pub fn circle(center: Point, radius_m: f64) -> Result<Fence, FenceError> {
        if !center.is_valid() {
            return Err(FenceError::Coordinates { vertex: None });
        }
        if !(radius_m.is_finite() && radius_m > 0.0 && radius_m <= MAX_RADIUS_M) {
            return Err(FenceError::Radius { radius_m });
        }
        let proj = Projection::around(center);
        let r = radius_m + EDGE_TOLERANCE_M;
        let bbox = BBox::of_segment(center, center)
            .grown(r / METRES_PER_DEGREE + BOX_MARGIN_DEG, r / proj.metres_per_degree_lng() + BOX_MARGIN_DEG);
        Ok(Fence::Circle(Circle { center, radius_m, bbox, proj }))
    }

    /// A simple polygon through `ring` (closing vertex optional; repeated consecutive vertices
    /// are dropped).
    pub fn polygon(ring: Vec<Point>) -> Result<Fence, FenceError> {
        if let Some(i) = ring.iter().position(|p| !p.is_valid()) {
            return Err(FenceError::Coordinates { vertex: Some(i) });
        }
        if ring.len() > MAX_POLYGON_VERTICES + 1 {
            return Err(FenceError::TooManyVertices { count: ring.len() });
        }
        let mut ring = ring;
        ring.dedup();
        while ring.len() > 1 && ring.first() == ring.last() {
            ring.pop();
        }
        if ring.len() > MAX_POLYGON_VERTICES {
            return Err(FenceError::TooManyVertices { count: ring.len() });
        }
        let bbox = match BBox::of_points(&ring) {
            Some(b) if ring.len() >= 3 => b,
            _ => return Err(FenceError::TooFewVertices { distinct: ring.len() }),
        };
        let proj = Projection::around(bbox.center());
        let ns = (bbox.max_lat - bbox.min_lat) * METRES_PER_DEGREE;
        let ew = (bbox.max_lng - bbox.min_lng) * proj.metres_per_degree_lng();
        if ns.max(ew) > MAX_EXTENT_M {
            return Err(FenceError::TooLarge { extent_m: ns.max(ew) });
        }
        let xy: Vec<Xy> = ring.iter().map(|p| proj.project(*p)).collect();
        if let Some(edges) = self_intersection(&xy) {
            return Err(FenceError::SelfIntersecting { edges });
        }
        let bbox = bbox.grown(
            EDGE_TOLERANCE_M / METRES_PER_DEGREE + BOX_MARGIN_DEG,
            EDGE_TOLERANCE_M / proj.metres_per_degree_lng() + BOX_MARGIN_DEG,
        );
        Ok(Fence::Polygon(Polygon { ring, xy, bbox, proj }))
    }

    /// The fence as a client would define it.
    pub fn spec(&self) -> FenceSpec {
        match self {
            Fence::Circle(c) => FenceSpec::Circle { center: c.center, radius_m: c.radius_m },
            Fence::Polygon(p) => FenceSpec::Polygon { ring: p.ring.clone() },
        }
    }

    /// The bounding box, grown by the edge tolerance: nothing outside it is inside the fence.
    pub fn bbox(&self) -> &BBox {
        match self {
            Fence::Circle(c) => &c.bbox,
            Fence::Polygon(p) => &p.bbox,
        }
    }

    /// The fence's projection (around the circle's centre or the polygon's box centre).
    pub fn projection(&self) -> &Projection {
        match self {
            Fence::Circle(c) => &c.proj,
            Fence::Polygon(p) => &p.proj,
        }
    }

    /// Whether `p` is inside; points on the edge (within [`EDGE_TOLERANCE_M`]) are.
    pub fn contains(&self, p: Point) -> bool {
        self.bbox().contains(p) && self.contains_xy(self.projection().project(p))
    }

    pub(super) fn contains_xy(&self, q: Xy) -> bool {
        match self {
            Fence::Circle(c) => c.contains_xy(q),
            Fence::Polygon(p) => p.contains_xy(q),
        }
    }

    /// The distance in metres from `p` to the fence: 0 inside, otherwise to the circle's edge
    /// (haversine from the centre less the radius) or to the polygon's nearest edge.
    pub fn distance_m(&self, p: Point) -> f64 {
        if self.contains(p) {
            return 0.0;
        }
        match self {
            Fence::Circle(c) => (distance_m(c.center, p) - c.radius_m).max(0.0),
            Fence::Polygon(g) => {
                let q = g.proj.project(p);
                g.edges().map(|(a, b)| segment_distance2(q, a, b).0).fold(f64::INFINITY, f64::min).sqrt()
            }
        }
    }
}

/// The first pair of edges that makes the ring not simple, if any: non-neighbouring edges that
/// share a point, or neighbours that double back along each other. O(n²) over at most 1,000
/// vertices, once per fence.
fn self_intersection(v: &[Xy]) -> Option<(usize, usize)> {
    let n = v.len();
    let edge = |i: usize| (v[i], v[(i + 1) % n]);
    for i in 0..n {
        // The neighbour edge i+1 shares vertex i+1: a spike if it heads back along edge i.
        let (p, q) = edge(i);
        let r = v[(i + 2) % n];
        let (u, w) = ((p - q), (r - q));
        if u.cross(w).abs() <= 1e-9 * u.norm2().sqrt() * w.norm2().sqrt() && u.dot(w) > 0.0 {
            return Some((i, (i + 1) % n));
        }
        for j in i + 2..n {
            if i == 0 && j == n - 1 {
                continue; // the closing edge neighbours the first
            }
            let (a, b) = edge(j);
            if segments_touch(p, q, a, b) {
                return Some((i, j));
            }
        }
    }
    None
}

/// Whether the closed segments p–q and a–b share a point.
fn segments_touch(p: Xy, q: Xy, a: Xy, b: Xy) -> bool {
    if p.x.max(q.x) < a.x.min(b.x) || a.x.max(b.x) < p.x.min(q.x) {
        return false;
    }
    if p.y.max(q.y) < a.y.min(b.y) || a.y.max(b.y) < p.y.min(q.y) {
        return false;
    }
    let o1 = orient(p, q, a);
    let o2 = orient(p, q, b);
    let o3 = orient(a, b, p);
    let o4 = orient(a, b, q);
    if o1 * o2 < 0.0 && o3 * o4 < 0.0 {
        return true;
    }
    // Touching or collinear: some endpoint lies on the other segment.
    const E2: f64 = 1e-12;
    segment_distance2(a, p, q).0 <= E2
        || segment_distance2(b, p, q).0 <= E2
        || segment_distance2(p, a, b).0 <= E2
        || segment_distance2(q, a, b).0 <= E2
}

fn orient(a: Xy, b: Xy, c: Xy) -> f64 {
    (b - a).cross(c - a)
}

#[cfg(test)]
mod tests;
