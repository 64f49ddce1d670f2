//! Where a straight segment is inside a fence.
//!
//! The segment a→b is cut at every fraction where it may change sides: where it meets an edge
//! (for a circle, where it meets the circle grown by the edge tolerance) and where it passes a
//! polygon vertex within the tolerance (which also covers running along an edge). The cut points
//! and the open pieces between them are then classified with [`Fence::contains`]'s own test, and
//! consecutive inside pieces merge into [`Span`]s. Because sides are classified, not crossings
//! counted, a segment through a vertex or along an edge enters once, and a segment that only
//! touches the fence (a tangent, a vertex) gives one span of zero length: it entered and left at
//! that fraction, as a fix there would be inside. The ends are classified exactly as
//! [`Fence::contains`] classifies `a` and `b`.

use super::fence::{EDGE_TOLERANCE_M, Polygon};
use super::{BBox, Fence, Point, Xy, segment_distance2};

/// The most spans a [`Crossing`] keeps; a segment weaving in and out of a polygon more often
/// has its last spans merged into the last one kept (never in practice: it would have to cross
/// the boundary 16 times between two fixes).
pub const MAX_SPANS: usize = 8;

/// Cut points kept on the stack before spilling to the heap.
const INLINE_CUTS: usize = 32;

/// Fractions closer than this are one cut.
const SAME_CUT: f64 = 1e-12;

/// A closed part `[from, to]` of a segment inside a fence, as fractions along it (0 ≤ from ≤ to
/// ≤ 1); `from == to` when the segment only touches the fence.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Span {
    /// Where the part begins.
    pub from: f64,
    /// Where it ends.
    pub to: f64,
}

/// How a segment a→b lies against a fence: the parts of it inside, in order. No allocation.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Crossing {
    spans: [Span; MAX_SPANS],
    len: u8,
    starts_inside: bool,
    ends_inside: bool,
}

impl Crossing {
    /// The parts inside, in order, disjoint.
    pub fn spans(&self) -> &[Span] {
        &self.spans[..usize::from(self.len)]
    }

    /// Whether no point of the segment is inside.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `a` is inside (then the first span starts at 0 and is no entry).
    pub fn starts_inside(&self) -> bool {
        self.starts_inside
    }

    /// Whether `b` is inside (then the last span ends at 1 and is no exit).
    pub fn ends_inside(&self) -> bool {
        self.ends_inside
    }

    /// The fractions at which the segment enters, in order.
    pub fn entries(&self) -> impl Iterator<Item = f64> + '_ {
        let skip = usize::from(self.starts_inside);
        self.spans().iter().skip(skip).map(|s| s.from)
    }

    /// The fractions at which the segment leaves, in order.
    pub fn exits(&self) -> impl Iterator<Item = f64> + '_ {
        let n = self.spans().len() - usize::from(self.ends_inside && !self.is_empty());
        self.spans()[..n].iter().map(|s| s.to)
    }

    /// The first entry.
    pub fn enter(&self) -> Option<f64> {
        self.entries().next()
    }

    /// The first exit.
    pub fn exit(&self) -> Option<f64> {
        self.exits().next()
    }

    fn push(&mut self, from: f64, to: f64) {
        let n = usize::from(self.len);
        if n < MAX_SPANS {
            self.spans[n] = Span { from, to };
            self.len += 1;
        } else {
            self.spans[MAX_SPANS - 1].to = to;
        }
    }
}

impl Fence {
    /// Where the straight segment `a`→`b` (straight in the fence's projection) is inside the
    /// fence. A segment whose box misses the fence's box is rejected first.
    pub fn crossing(&self, a: Point, b: Point) -> Crossing {
        if !self.bbox().intersects(&BBox::of_segment(a, b)) {
            return Crossing::default();
        }
        let proj = self.projection();
        let (pa, pb) = (proj.project(a), proj.project(b));
        let mut cuts = Cuts::default();
        match self {
            Fence::Circle(c) => circle_cuts(c.radius_m() + EDGE_TOLERANCE_M, pa, pb, &mut cuts),
            Fence::Polygon(p) => polygon_cuts(p, pa, pb, &mut cuts),
        }
        classify(cuts.sorted(), |t| self.contains_xy(if t >= 1.0 { pb } else { pa.lerp(pb, t) }))
    }
}

/// Cut fractions: on the stack unless there are many.
#[derive(Default)]
struct Cuts {
    inline: [f64; INLINE_CUTS],
    len: usize,
    spill: Vec<f64>,
}

impl Cuts {
    fn push(&mut self, t: f64) {
        if !(t > 0.0 && t < 1.0) {
            return; // the ends are always cuts; NaN is none
        }
        if self.len < INLINE_CUTS {
            self.inline[self.len] = t;
            self.len += 1;
        } else {
            if self.spill.is_empty() {
                self.spill.extend_from_slice(&self.inline);
            }
            self.spill.push(t);
        }
    }

    /// The cuts in order with 0 and 1 added and near-equal ones merged.
    fn sorted(&mut self) -> CutList<'_> {
        let v: &mut [f64] = if self.spill.is_empty() { &mut self.inline[..self.len] } else { &mut self.spill };
        v.sort_unstable_by(f64::total_cmp);
        CutList { inner: v }
    }
}

struct CutList<'a> {
    inner: &'a [f64],
}

impl CutList<'_> {
    /// 0, the inner cuts at least [`SAME_CUT`] apart and from the ends, then 1.
    fn iter(&self) -> impl Iterator<Item = f64> + '_ {
        let mut last = 0.0;
        let inner = self.inner.iter().copied().filter(move |&t| {
            let keep = t - last > SAME_CUT && 1.0 - t > SAME_CUT;
            if keep {
                last = t;
            }
            keep
        });
        std::iter::once(0.0).chain(inner).chain(std::iter::once(1.0))
    }
}

/// The fractions where a→b meets the circle of radius `r` around the projection's origin.
fn circle_cuts(r: f64, a: Xy, b: Xy, cuts: &mut Cuts) {
    let d = b - a;
    let qa = d.norm2();
    if qa == 0.0 {
        return;
    }
    let qb = 2.0 * a.dot(d);
    let qc = a.norm2() - r * r;
    let disc = qb * qb - 4.0 * qa * qc;
    if disc < 0.0 {
        return;
    }
    let s = disc.sqrt();
    cuts.push((-qb - s) / (2.0 * qa));
    cuts.push((-qb + s) / (2.0 * qa));
}

/// The fractions where a→b meets an edge, and where it passes a vertex within the tolerance.
fn polygon_cuts(poly: &Polygon, a: Xy, b: Xy, cuts: &mut Cuts) {
    const E: f64 = EDGE_TOLERANCE_M;
    let d = b - a;
    let dd = d.norm2();
    if dd == 0.0 {
        return;
    }
    let (min_x, max_x) = (a.x.min(b.x) - E, a.x.max(b.x) + E);
    let (min_y, max_y) = (a.y.min(b.y) - E, a.y.max(b.y) + E);
    for (p, q) in poly.edges() {
        if p.x.max(q.x) < min_x || p.x.min(q.x) > max_x || p.y.max(q.y) < min_y || p.y.min(q.y) > max_y {
            continue;
        }
        let s = q - p;
        let denom = d.cross(s);
        if denom != 0.0 {
            let w = p - a;
            let t = w.cross(s) / denom;
            let u = w.cross(d) / denom;
            if (-1e-12..=1.0 + 1e-12).contains(&u) {
                cuts.push(t);
            }
        }
        let (dist2, t) = segment_distance2(p, a, b);
        if dist2 <= E * E {
            cuts.push(t);
        }
    }
}

/// Classifies the cut points and the pieces between them and merges inside ones into spans.
fn classify(cuts: CutList<'_>, inside_at: impl Fn(f64) -> bool) -> Crossing {
    let mut out = Crossing::default();
    let mut start: Option<f64> = None; // the open span's start
    let mut last_in = 0.0; // the open span's last inside point
    let mut before: Option<bool> = None; // whether the piece before the cut is inside; None at 0
    let mut it = cuts.iter().peekable();
    while let Some(t) = it.next() {
        let next = it.peek().copied();
        let after = next.map(|n| inside_at((t + n) / 2.0));
        // The ends are classified exactly as `contains` does; an inner cut lies on the boundary,
        // where rounding may put it either side, so it is inside when a piece beside it is.
        let point_in = match (before, after) {
            (Some(b), Some(a)) => b || a || inside_at(t),
            _ => inside_at(t),
        };
        if before.is_none() {
            out.starts_inside = point_in;
        }
        if next.is_none() {
            out.ends_inside = point_in;
        }
        if point_in {
            start.get_or_insert(t);
            last_in = t;
        }
        if (!point_in || after == Some(false))
            && let Some(s) = start.take()
        {
            out.push(s, last_in);
        }
        before = after;
    }
    if let Some(s) = start {
        out.push(s, last_in);
    }
    out
}

#[cfg(test)]
mod tests;
