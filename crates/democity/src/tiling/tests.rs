use std::collections::HashMap;

use super::*;
use crate::geom::{area, contains};
use crate::testutil::{not_simple, twice_area_micro};

fn rect(plane: &mut Plane, x0: f64, y0: f64, x1: f64, y1: f64) -> Vec<u32> {
    plane.add_ring(&[Xy::new(x0, y0), Xy::new(x1, y0), Xy::new(x1, y1), Xy::new(x0, y1)])
}

/// Points spread over a box by a small LCG (the tests' own, independent of the generator's).
fn points(n: usize, (x0, y0, x1, y1): (f64, f64, f64, f64), mut state: u64) -> Vec<Xy> {
    let mut next = || {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..n).map(|_| Xy::new(x0 + (x1 - x0) * (0.05 + 0.9 * next()), y0 + (y1 - y0) * (0.05 + 0.9 * next()))).collect()
}

/// Checks that `children` tile `parent` on the lattice: exact areas, simple counter-clockwise
/// rings, every edge shared with exactly one sibling (reversed) or on the parent's boundary.
fn assert_tiles(parent: &[Micro], children: &[Vec<Micro>]) {
    let sum: i128 = children.iter().map(|c| twice_area_micro(c)).sum();
    assert_eq!(sum, twice_area_micro(parent));
    let mut edges: HashMap<(Micro, Micro), usize> = HashMap::new();
    for c in children {
        assert_eq!(not_simple(c), None);
        assert!(twice_area_micro(c) > 0);
        for k in 0..c.len() {
            *edges.entry((c[k], c[(k + 1) % c.len()])).or_default() += 1;
        }
    }
    let outer: Vec<(Micro, Micro)> = (0..parent.len()).map(|k| (parent[k], parent[(k + 1) % parent.len()])).collect();
    for (&(a, b), &n) in &edges {
        assert_eq!(n, 1, "edge {a:?}→{b:?} twice");
        assert!(edges.contains_key(&(b, a)) || outer.contains(&(a, b)), "edge {a:?}→{b:?} has no twin");
    }
}

#[test]
fn cells_are_convex_contain_their_seeds_and_tile_the_polygon() {
    let mut plane = Plane::default();
    let square = rect(&mut plane, 0.0, 0.0, 1_000.0, 1_000.0);
    let seeds = points(25, (0.0, 0.0, 1_000.0, 1_000.0), 1);
    let cells = plane.subdivide(&square, &seeds);
    assert_eq!(cells.len(), 25);
    let mut total = 0.0;
    for (cell, seed) in cells.iter().zip(&seeds) {
        let pts = plane.points(cell);
        assert!(contains(&pts, *seed));
        for k in 0..pts.len() {
            let (a, b, c) = (pts[k], pts[(k + 1) % pts.len()], pts[(k + 2) % pts.len()]);
            assert!(b.sub(a).cross(c.sub(b)) >= -1e-6, "not convex");
        }
        total += area(&pts);
    }
    assert!((total - 1e6).abs() < 1e-6);
    let rings = plane.finish(&[vec![square], cells].concat());
    assert_tiles(&rings[0], &rings[1..]);
}

#[test]
fn neighbours_cut_apart_still_share_every_vertex() {
    // Two squares side by side, each cut, then their cells cut again: the shared edge carries
    // the split points of both sides, at every level.
    let mut plane = Plane::default();
    let outer = rect(&mut plane, 0.0, 0.0, 2_000.0, 1_000.0);
    let halves = plane.subdivide(&outer, &[Xy::new(500.0, 500.0), Xy::new(1_500.0, 500.0)]);
    let left = plane.subdivide(&halves[0], &points(9, (0.0, 0.0, 1_000.0, 1_000.0), 2));
    let right = plane.subdivide(&halves[1], &points(14, (1_000.0, 0.0, 2_000.0, 1_000.0), 3));
    let mut grand = Vec::new();
    for (k, cell) in left.iter().chain(&right).enumerate() {
        let pts = plane.points(cell);
        let (lo, hi) = crate::geom::bbox(&pts);
        let seeds: Vec<Xy> = points(6, (lo.x, lo.y, hi.x, hi.y), 10 + k as u64)
            .into_iter()
            .filter(|p| crate::geom::boundary_distance(&pts, *p) > 1.0 && contains(&pts, *p))
            .collect();
        grand.push(plane.subdivide(cell, &seeds));
    }
    let mut all = vec![outer];
    all.extend(halves.iter().cloned());
    all.extend(left.iter().cloned());
    all.extend(right.iter().cloned());
    all.extend(grand.iter().flatten().cloned());
    let rings = plane.finish(&all);
    let (halves_at, cells_at) = (1, 3);
    assert_tiles(&rings[0], &rings[halves_at..cells_at]);
    assert_tiles(&rings[1], &rings[cells_at..cells_at + left.len()]);
    assert_tiles(&rings[2], &rings[cells_at + left.len()..cells_at + left.len() + right.len()]);
    let mut at = cells_at + left.len() + right.len();
    let mut finest = Vec::new();
    for (k, family) in grand.iter().enumerate() {
        assert_tiles(&rings[cells_at + k], &rings[at..at + family.len()]);
        finest.extend_from_slice(&rings[at..at + family.len()]);
        at += family.len();
    }
    // Across the two halves too: the finest cells tile the outer rectangle.
    assert_tiles(&rings[0], &finest);
}

#[test]
fn degenerate_seeds_still_tile() {
    let mut plane = Plane::default();
    let square = rect(&mut plane, 0.0, 0.0, 100.0, 100.0);
    // Four co-circular seeds (their bisectors meet in one point), collinear seeds, and a seed
    // next to a corner.
    let cases = [
        vec![Xy::new(25.0, 25.0), Xy::new(75.0, 25.0), Xy::new(75.0, 75.0), Xy::new(25.0, 75.0)],
        vec![Xy::new(10.0, 50.0), Xy::new(30.0, 50.0), Xy::new(50.0, 50.0), Xy::new(90.0, 50.0)],
        vec![Xy::new(0.5, 0.5), Xy::new(50.0, 50.0), Xy::new(99.0, 1.0)],
        vec![Xy::new(50.0, 50.0)],
    ];
    for seeds in cases {
        let cells = plane.subdivide(&square, &seeds);
        assert_eq!(cells.len(), seeds.len());
        let rings = plane.finish(&[vec![square.clone()], cells].concat());
        assert_tiles(&rings[0], &rings[1..]);
    }
}

#[test]
fn close_vertices_merge() {
    let mut plane = Plane::default();
    let a = plane.add_ring(&[Xy::new(0.0, 0.0), Xy::new(100.0, 0.0), Xy::new(100.0, 0.3), Xy::new(0.0, 100.0)]);
    let rings = plane.finish(&[a]);
    assert_eq!(rings[0].len(), 3, "the vertices 0.3 m apart are one");
    const { assert!(MERGE_M > 0.3) };
}
