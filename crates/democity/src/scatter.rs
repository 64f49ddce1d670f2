//! Seed points spread over a polygon by best-candidate sampling: each new point is the one, of
//! a dozen random candidates, farthest from the points already placed. The result is even
//! without being regular, so Voronoi cells come out of similar size and irregular shape.
//!
//! A candidate must also keep a margin from the polygon's boundary (so the cell around it has
//! room) and may be held near or away from a point (a town's built-up core). When candidates are
//! hard to find the margin is halved, and then the near/away rule dropped, so placing never
//! fails.

use crate::geom::{Xy, area, bbox, boundary_distance, centroid, contains};
use crate::rng::Rng;

/// Candidates drawn per point.
const CANDIDATES: usize = 12;

/// Where in the polygon points may go.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Zone {
    /// Anywhere.
    Anywhere,
    /// Within this distance (metres) of a point.
    Near(Xy, f64),
    /// At least this distance (metres) from a point.
    Away(Xy, f64),
}

impl Zone {
    fn admits(self, p: Xy) -> bool {
        match self {
            Zone::Anywhere => true,
            Zone::Near(c, r) => p.dist(c) <= r,
            Zone::Away(c, r) => p.dist(c) >= r,
        }
    }
}

/// The spacing of `n` evenly spread points over a polygon (the side of a square per point).
pub(crate) fn spacing(ring: &[Xy], n: usize) -> f64 {
    (area(ring).abs() / n.max(1) as f64).sqrt()
}

/// Places `n` points in `zone` of the polygon `ring`, each at least `margin` from its boundary
/// (relaxed if need be), spread away from `placed` and from each other; returns them in the
/// order placed. `scale` is the local spacing wanted, relative to the rest (1 in the
/// countryside, less in a built-up core): distances and the margin are measured in it.
pub(crate) fn scatter(
    rng: &mut Rng,
    ring: &[Xy],
    placed: &[Xy],
    n: usize,
    (zone, margin): (Zone, f64),
    scale: &dyn Fn(Xy) -> f64,
) -> Vec<Xy> {
    let (lo, hi) = bbox(ring);
    let mut out: Vec<Xy> = Vec::with_capacity(n);
    for k in 0..n {
        let mut best: Option<(f64, Xy)> = None;
        let mut valid = 0;
        for attempt in 0..8_000 {
            if valid >= CANDIDATES || (attempt >= 2_000 && valid > 0) {
                break;
            }
            let relax = 0.5f64.powi(attempt / 500);
            let p = Xy::new(lo.x + (hi.x - lo.x) * rng.unit(), lo.y + (hi.y - lo.y) * rng.unit());
            if (attempt < 2_000 && !zone.admits(p)) || !contains(ring, p) {
                continue;
            }
            let local = scale(p);
            if boundary_distance(ring, p) < margin * relax * local {
                continue;
            }
            valid += 1;
            let d = placed.iter().chain(out.iter()).map(|q| q.dist(p)).fold(f64::INFINITY, f64::min) / local;
            if best.is_none_or(|(bd, _)| d > bd) {
                best = Some((d, p));
            }
        }
        let p = best.map(|(_, p)| p).unwrap_or_else(|| {
            // Not reached for a polygon of positive area; a point inside it anyway.
            let c = centroid(ring);
            let v = ring.get(k % ring.len().max(1)).copied().unwrap_or(c);
            c.add(v.sub(c).scale(0.5 * rng.unit()))
        });
        out.push(p);
    }
    out
}

#[cfg(test)]
mod tests;
