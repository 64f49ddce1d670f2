//! Nested Voronoi tilings with shared vertices: a [`Plane`] of numbered vertices in which a
//! polygon is cut into the Voronoi cells of seed points, again and again, so that every cell of
//! every level lists exactly the vertices its neighbours list along a shared edge.
//!
//! **Cells.** [`Plane::subdivide`] cuts a convex polygon into one cell per seed: the polygon
//! clipped by the half-plane of each perpendicular bisector between the seed and another one
//! (Sutherland–Hodgman), which gives convex cells that tile the polygon. A vertex a clipping
//! creates is named by what defines it — a bisector crossing an edge of the parent, or the
//! meeting point (circumcentre) of three seeds' bisectors — and computed once from that name,
//! so the cells on both sides of an edge share the very same vertex.
//!
//! **No T-junctions.** A point where a cell boundary meets the parent's edge is recorded as a
//! *split* of that edge. Rings are stored with the edges they had when they were made;
//! [`Plane::expand`] inserts, recursively, every split recorded since, so a parent, its
//! neighbours and their children all run through the same vertices along a shared edge. A
//! polygon is expanded before it is cut, and every ring is expanded when the plane is finished.
//!
//! **The lattice.** [`Plane::finish`] merges vertices closer than [`MERGE_M`] (a sliver edge of
//! a near-degenerate Voronoi diagram would otherwise fold when rounded) and rounds each to the
//! output lattice (6 decimals of a degree). Since every edge is shared vertex for vertex, the
//! areas of a polygon's children add up to its own *exactly* on the lattice.

use crate::geom::{Micro, Xy};
use crate::hash::{FastMap, FastSet};

/// Vertices closer than this (metres) become one when the plane is finished.
pub(crate) const MERGE_M: f64 = 0.5;

/// What defines a vertex made by clipping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    /// The bisector of seeds `.1 < .2` crossing edge `.0` of the parent ring.
    OnEdge(u32, u32, u32),
    /// The meeting point of the bisectors of three seeds (sorted).
    Corner(u32, u32, u32),
}

/// What the edge that starts at a vertex of a cell being clipped lies on.
#[derive(Debug, Clone, Copy)]
enum Tag {
    /// Edge `.0` of the parent ring.
    Parent(u32),
    /// The bisector between the cell's seed and seed `.0`.
    Bisector(u32),
}

/// A vertex of a cell being clipped.
#[derive(Debug, Clone, Copy)]
struct Work {
    id: u32,
    p: Xy,
    tag: Tag,
}

/// The vertices made while cutting one polygon.
struct Cut<'a> {
    pts: &'a [Xy],
    seeds: &'a [Xy],
    made: FastMap<Key, u32>,
    on_edge: FastMap<u32, (usize, f64)>,
}

/// Numbered vertices and the splits recorded on their edges.
#[derive(Debug, Default)]
pub(crate) struct Plane {
    verts: Vec<Xy>,
    /// Per undirected edge (smaller id first): the points on it, by position from the smaller id.
    splits: FastMap<(u32, u32), Vec<(f64, u32)>>,
}

/// Which side of the bisector of seeds `lo < hi` a point is on: negative on `lo`'s side. Always
/// evaluated with the seeds in this order, so both cells see the same value.
fn side(seeds: &[Xy], lo: u32, hi: u32, p: Xy) -> f64 {
    let (a, b) = (seeds[lo as usize], seeds[hi as usize]);
    p.sub(a.add(b).scale(0.5)).dot(b.sub(a))
}

/// The centre of the circle through three points, if they are not (nearly) collinear.
fn circumcentre(a: Xy, b: Xy, c: Xy) -> Option<Xy> {
    let (b, c) = (b.sub(a), c.sub(a));
    let d = 2.0 * b.cross(c);
    if d.abs() <= 1e-12 * b.dot(b).max(c.dot(c)) {
        return None;
    }
    let (bb, cc) = (b.dot(b), c.dot(c));
    Some(a.add(Xy::new((c.y * bb - b.y * cc) / d, (b.x * cc - c.x * bb) / d)))
}

impl Plane {
    /// A new vertex.
    fn push(&mut self, p: Xy) -> u32 {
        self.verts.push(p);
        (self.verts.len() - 1) as u32
    }

    /// Adds a ring of new vertices (counter-clockwise) and returns their ids.
    pub(crate) fn add_ring(&mut self, pts: &[Xy]) -> Vec<u32> {
        pts.iter().map(|&p| self.push(p)).collect()
    }

    /// The positions of a ring's vertices.
    pub(crate) fn points(&self, ring: &[u32]) -> Vec<Xy> {
        ring.iter().map(|&v| self.verts[v as usize]).collect()
    }

    /// The ring with every split recorded on its edges inserted, recursively.
    pub(crate) fn expand(&self, ring: &[u32]) -> Vec<u32> {
        let mut out = Vec::with_capacity(ring.len());
        for (k, &u) in ring.iter().enumerate() {
            out.push(u);
            self.expand_edge(u, ring[(k + 1) % ring.len()], &mut out);
        }
        out
    }

    /// Pushes the points strictly between `u` and `v`, in order from `u`.
    fn expand_edge(&self, u: u32, v: u32, out: &mut Vec<u32>) {
        let Some(points) = self.splits.get(&(u.min(v), u.max(v))) else { return };
        let mut prev = u;
        let mut step = |w: u32, out: &mut Vec<u32>| {
            self.expand_edge(prev, w, out);
            out.push(w);
            prev = w;
        };
        if u < v {
            points.iter().for_each(|&(_, w)| step(w, out));
        } else {
            points.iter().rev().for_each(|&(_, w)| step(w, out));
        }
        self.expand_edge(prev, v, out);
    }

    /// Records `w` on the edge `u`–`v` at fraction `t` from `u`.
    fn add_split(&mut self, u: u32, v: u32, t: f64, w: u32) {
        let t = if u < v { t } else { 1.0 - t };
        let list = self.splits.entry((u.min(v), u.max(v))).or_default();
        let at = list.partition_point(|&(s, x)| (s, x) < (t, w));
        list.insert(at, (t, w));
    }

    /// Cuts the convex polygon `ring` (counter-clockwise) into the Voronoi cells of `seeds`
    /// (distinct points inside it) and returns one ring per seed, in the seeds' order.
    pub(crate) fn subdivide(&mut self, ring: &[u32], seeds: &[Xy]) -> Vec<Vec<u32>> {
        let ring = self.expand(ring);
        if seeds.len() <= 1 {
            return vec![ring; seeds.len()];
        }
        let pts = self.points(&ring);
        let mut cut = Cut { pts: &pts, seeds, made: FastMap::default(), on_edge: FastMap::default() };
        let mut cells = Vec::with_capacity(seeds.len());
        for i in 0..seeds.len() as u32 {
            let si = seeds[i as usize];
            let mut poly: Vec<Work> =
                (0..ring.len()).map(|e| Work { id: ring[e], p: pts[e], tag: Tag::Parent(e as u32) }).collect();
            let mut others: Vec<(f64, u32)> =
                (0..seeds.len() as u32).filter(|&j| j != i).map(|j| (si.dist(seeds[j as usize]), j)).collect();
            others.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let mut reach = poly.iter().map(|w| w.p.dist(si)).fold(0.0, f64::max);
            for (d, j) in others {
                // A seed farther than twice the cell's reach cannot cut it.
                if d > 2.0 * reach + 1e-6 || poly.is_empty() {
                    break;
                }
                poly = self.clip(&poly, i, j, &mut cut);
                reach = poly.iter().map(|w| w.p.dist(si)).fold(0.0, f64::max);
            }
            cells.push(poly.iter().map(|w| w.id).collect::<Vec<u32>>());
        }
        // Only the crossings some cell kept are points of the parent's edges.
        let mut recorded = FastSet::default();
        let n = ring.len();
        for cell in &cells {
            for v in cell {
                if let Some(&(e, t)) = cut.on_edge.get(v)
                    && recorded.insert(*v)
                {
                    self.add_split(ring[e], ring[(e + 1) % n], t, *v);
                }
            }
        }
        cells
    }

    /// Keeps the part of cell `i`'s polygon on `i`'s side of the bisector with `j`.
    fn clip(&mut self, poly: &[Work], i: u32, j: u32, cut: &mut Cut<'_>) -> Vec<Work> {
        let (lo, hi) = (i.min(j), i.max(j));
        let sign = if i == lo { 1.0 } else { -1.0 };
        let g: Vec<f64> = poly.iter().map(|w| sign * side(cut.seeds, lo, hi, w.p)).collect();
        let m = poly.len();
        let mut out = Vec::with_capacity(m + 2);
        for k in 0..m {
            let (a, b) = (poly[k], poly[(k + 1) % m]);
            let (a_in, b_in) = (g[k] < 0.0, g[(k + 1) % m] < 0.0);
            if a_in {
                out.push(a);
            }
            if a_in != b_in {
                let fallback = a.p.add(b.p.sub(a.p).scale(g[k] / (g[k] - g[(k + 1) % m])));
                let id = self.crossing(a.tag, lo, hi, fallback, cut);
                let p = self.verts[id as usize];
                out.push(Work { id, p, tag: if a_in { Tag::Bisector(j) } else { a.tag } });
            }
        }
        out
    }

    /// The vertex where the bisector of `lo`, `hi` crosses an edge lying on `tag`.
    fn crossing(&mut self, tag: Tag, lo: u32, hi: u32, fallback: Xy, cut: &mut Cut<'_>) -> u32 {
        let key = match tag {
            Tag::Parent(e) => Key::OnEdge(e, lo, hi),
            Tag::Bisector(m) => {
                let mut s = [lo, hi, m];
                s.sort_unstable();
                Key::Corner(s[0], s[1], s[2])
            }
        };
        if let Some(&id) = cut.made.get(&key) {
            return id;
        }
        let (p, edge) = match key {
            Key::OnEdge(e, lo, hi) => {
                let e = e as usize;
                let (a, b) = (cut.pts[e], cut.pts[(e + 1) % cut.pts.len()]);
                let (fa, fb) = (side(cut.seeds, lo, hi, a), side(cut.seeds, lo, hi, b));
                let t = if fa == fb { 0.5 } else { (fa / (fa - fb)).clamp(0.0, 1.0) };
                (a.add(b.sub(a).scale(t)), Some((e, t)))
            }
            Key::Corner(x, y, z) => {
                let s = |k: u32| cut.seeds[k as usize];
                (circumcentre(s(x), s(y), s(z)).unwrap_or(fallback), None)
            }
        };
        let id = self.push(p);
        cut.made.insert(key, id);
        if let Some(edge) = edge {
            cut.on_edge.insert(id, edge);
        }
        id
    }

    /// Expands every ring, merges vertices closer than [`MERGE_M`] and rounds them to the
    /// lattice: the rings in the same order, without repeated consecutive vertices.
    pub(crate) fn finish(&self, rings: &[Vec<u32>]) -> Vec<Vec<Micro>> {
        let expanded: Vec<Vec<u32>> = rings.iter().map(|r| self.expand(r)).collect();
        let mut used = vec![false; self.verts.len()];
        for v in expanded.iter().flatten() {
            used[*v as usize] = true;
        }
        let mut parent: Vec<u32> = (0..self.verts.len() as u32).collect();
        fn find(parent: &mut [u32], mut v: u32) -> u32 {
            while parent[v as usize] != v {
                let up = parent[parent[v as usize] as usize];
                parent[v as usize] = up;
                v = up;
            }
            v
        }
        let cell = |p: Xy| ((p.x / MERGE_M).floor() as i64, (p.y / MERGE_M).floor() as i64);
        let mut buckets: FastMap<(i64, i64), Vec<u32>> = FastMap::default();
        for v in (0..self.verts.len() as u32).filter(|v| used[*v as usize]) {
            let p = self.verts[v as usize];
            let (cx, cy) = cell(p);
            for dx in -1..=1 {
                for dy in -1..=1 {
                    let Some(near) = buckets.get(&(cx + dx, cy + dy)) else { continue };
                    for &w in near {
                        if self.verts[w as usize].dist(p) < MERGE_M {
                            let (a, b) = (find(&mut parent, v), find(&mut parent, w));
                            parent[a.max(b) as usize] = a.min(b);
                        }
                    }
                }
            }
            buckets.entry((cx, cy)).or_default().push(v);
        }
        expanded
            .iter()
            .map(|ring| {
                let mut out: Vec<Micro> = Vec::with_capacity(ring.len());
                for &v in ring {
                    let m = self.verts[find(&mut parent, v) as usize].micro();
                    if out.last() != Some(&m) {
                        out.push(m);
                    }
                }
                while out.len() > 1 && out.first() == out.last() {
                    out.pop();
                }
                out
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
