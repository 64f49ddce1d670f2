//! Segments against circles and polygons: entries, exits, tangents, vertices, edges.

use super::*;
use crate::domain::testutil::{Frame, Rng, zz};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

fn spans(c: &Crossing) -> Vec<(f64, f64)> {
    c.spans().iter().map(|s| (s.from, s.to)).collect()
}

fn assert_spans(c: &Crossing, want: &[(f64, f64)]) {
    let got = spans(c);
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!(close(g.0, w.0) && close(g.1, w.1), "{got:?} vs {want:?}");
    }
}

fn square(f: &Frame, half: f64) -> Fence {
    Fence::polygon(vec![f.p(-half, -half), f.p(half, -half), f.p(half, half), f.p(-half, half)]).unwrap()
}

#[test]
fn segment_through_a_circle_enters_and_leaves() {
    let f = zz();
    let c = Fence::circle(f.p(0.0, 0.0), 50.0).unwrap();
    // 200 m west to east through the centre: the edge (+1 cm) at 49.99 m and 150.01 m.
    let x = c.crossing(f.p(-100.0, 0.0), f.p(100.0, 0.0));
    assert_spans(&x, &[(0.25 - 0.00005, 0.75 + 0.00005)]);
    assert!(!x.starts_inside() && !x.ends_inside());
    assert!(close(x.enter().unwrap(), 0.24995) && close(x.exit().unwrap(), 0.75005));
    assert_eq!(x.entries().count(), 1);
    assert_eq!(x.exits().count(), 1);
    // Reversed: the mirror image.
    let y = c.crossing(f.p(100.0, 0.0), f.p(-100.0, 0.0));
    assert!(close(y.enter().unwrap(), 0.24995));
}

#[test]
fn circle_start_inside_end_inside_and_miss() {
    let f = zz();
    let c = Fence::circle(f.p(0.0, 0.0), 50.0).unwrap();
    let out = c.crossing(f.p(0.0, 0.0), f.p(100.0, 0.0));
    assert!(out.starts_inside() && !out.ends_inside());
    assert_eq!(out.enter(), None, "starting inside is no entry");
    assert!(close(out.exit().unwrap(), 0.5001));
    let into = c.crossing(f.p(-100.0, 0.0), f.p(0.0, 0.0));
    assert!(!into.starts_inside() && into.ends_inside());
    assert!(close(into.enter().unwrap(), 0.4999));
    assert_eq!(into.exit(), None, "ending inside is no exit");
    let within = c.crossing(f.p(-10.0, 0.0), f.p(10.0, 5.0));
    assert_spans(&within, &[(0.0, 1.0)]);
    assert_eq!((within.enter(), within.exit()), (None, None));
    let miss = c.crossing(f.p(-100.0, 60.0), f.p(100.0, 60.0));
    assert!(miss.is_empty() && miss.enter().is_none());
    let far = c.crossing(f.p(500.0, 500.0), f.p(600.0, 600.0));
    assert!(far.is_empty(), "rejected by the boxes");
}

#[test]
fn tangent_touches_once() {
    let f = zz();
    let c = Fence::circle(f.p(0.0, 0.0), 50.0).unwrap();
    // Grazing the edge: inside within the tolerance for a stretch of 2·√(2·50·0.01) ≈ 2 m.
    let x = c.crossing(f.p(-100.0, 50.0), f.p(100.0, 50.0));
    assert_eq!(x.spans().len(), 1);
    let s = x.spans()[0];
    assert!(s.from < 0.5 && s.to > 0.5 && (s.to - s.from) * 200.0 < 2.1, "{s:?}");
    assert_eq!((x.entries().count(), x.exits().count()), (1, 1));
}

#[test]
fn segment_through_polygon_vertices_enters_once() {
    let f = zz();
    let sq = square(&f, 50.0);
    // Corner to corner along the diagonal, from outside to outside.
    let x = sq.crossing(f.p(-100.0, -100.0), f.p(100.0, 100.0));
    assert_spans(&x, &[(0.25, 0.75)]);
    // Touching only the corner (50, 50): entered and left there.
    let touch = sq.crossing(f.p(0.0, 100.0), f.p(100.0, 0.0));
    assert_eq!(touch.spans().len(), 1);
    let s = touch.spans()[0];
    assert!(close(s.from, 0.5) && close(s.to, 0.5), "{s:?}");
    assert_eq!((touch.entries().count(), touch.exits().count()), (1, 1));
    // Missing the corner by 1 m.
    assert!(sq.crossing(f.p(1.0, 101.0), f.p(101.0, 1.0)).is_empty());
}

#[test]
fn segment_along_an_edge_is_inside() {
    let f = zz();
    let sq = square(&f, 50.0);
    let x = sq.crossing(f.p(-100.0, 50.0), f.p(100.0, 50.0));
    assert_spans(&x, &[(0.25, 0.75)]);
    // Along the edge, entering through the vertex and leaving into the interior side.
    let y = sq.crossing(f.p(-100.0, 50.0), f.p(0.0, 50.0));
    assert!(y.ends_inside());
    assert!(close(y.enter().unwrap(), 0.5));
}

#[test]
fn endpoint_on_the_edge_is_inside() {
    let f = zz();
    let sq = square(&f, 50.0);
    let x = sq.crossing(f.p(-100.0, 0.0), f.p(-50.0, 0.0));
    assert!(x.ends_inside() && !x.starts_inside());
    assert_eq!(x.entries().collect::<Vec<_>>(), [1.0]);
    assert_eq!(x.exits().count(), 0);
    let y = sq.crossing(f.p(-50.0, 0.0), f.p(-100.0, 0.0));
    assert!(y.starts_inside());
    assert_eq!(y.exits().collect::<Vec<_>>(), [0.0]);
    assert_eq!(y.entries().count(), 0);
}

#[test]
fn concave_polygon_entered_twice() {
    let f = zz();
    let u = Fence::polygon(vec![
        f.p(0.0, 0.0),
        f.p(90.0, 0.0),
        f.p(90.0, 90.0),
        f.p(60.0, 90.0),
        f.p(60.0, 30.0),
        f.p(30.0, 30.0),
        f.p(30.0, 90.0),
        f.p(0.0, 90.0),
    ])
    .unwrap();
    // West to east across both arms at y = 60: in 0..30, out 30..60, in 60..90 (of -30..120).
    let x = u.crossing(f.p(-30.0, 60.0), f.p(120.0, 60.0));
    assert_spans(&x, &[(0.2, 0.4), (0.6, 0.8)]);
    assert_eq!(x.entries().count(), 2);
    assert_eq!(x.exits().count(), 2);
    // Starting in the left arm: one exit, one entry, one exit.
    let y = u.crossing(f.p(15.0, 60.0), f.p(120.0, 60.0));
    assert!(y.starts_inside());
    assert_eq!((y.entries().count(), y.exits().count()), (1, 2));
    // Through the notch's floor corners at y = 30: inside the whole way from x=0 to x=90.
    let z = u.crossing(f.p(-30.0, 30.0), f.p(120.0, 30.0));
    assert_spans(&z, &[(0.2, 0.8)]);
}

#[test]
fn zero_length_segments() {
    let f = zz();
    let sq = square(&f, 50.0);
    let inside = sq.crossing(f.p(1.0, 1.0), f.p(1.0, 1.0));
    assert!(inside.starts_inside() && inside.ends_inside());
    assert_eq!((inside.entries().count(), inside.exits().count()), (0, 0));
    assert!(sq.crossing(f.p(60.0, 1.0), f.p(60.0, 1.0)).is_empty());
}

#[test]
fn spans_agree_with_contains_along_random_segments() {
    let f = zz();
    let mut rng = Rng::new(7);
    let star: Vec<Point> = (0..14)
        .map(|i| {
            let a = std::f64::consts::TAU * i as f64 / 14.0;
            let r = if i % 2 == 0 { 120.0 } else { 45.0 };
            f.p(r * a.cos(), r * a.sin())
        })
        .collect();
    let fences = [Fence::polygon(star).unwrap(), Fence::circle(f.p(10.0, -5.0), 80.0).unwrap(), square(&f, 60.0)];
    for fence in &fences {
        for _ in 0..500 {
            let a = f.p(rng.range(-200.0, 200.0), rng.range(-200.0, 200.0));
            let b = f.p(rng.range(-200.0, 200.0), rng.range(-200.0, 200.0));
            let x = fence.crossing(a, b);
            assert_eq!(x.starts_inside(), fence.contains(a));
            assert_eq!(x.ends_inside(), fence.contains(b));
            for s in x.spans().windows(2) {
                assert!(s[0].to < s[1].from, "disjoint and ordered");
            }
            for k in 1..200 {
                let t = k as f64 / 200.0;
                let p = Point::new(a.lat + (b.lat - a.lat) * t, a.lng + (b.lng - a.lng) * t);
                let in_span = x.spans().iter().any(|s| s.from <= t && t <= s.to);
                // Cuts lie on the edge itself; `contains` reaches 1 cm beyond it.
                if boundary_distance(fence, p) > 0.02 {
                    assert_eq!(in_span, fence.contains(p), "t={t} spans={:?}", spans(&x));
                }
            }
        }
    }
}

fn boundary_distance(fence: &Fence, p: Point) -> f64 {
    let q = fence.projection().project(p);
    match fence {
        Fence::Circle(c) => (q.norm2().sqrt() - c.radius_m()).abs(),
        Fence::Polygon(g) => g.edges().map(|(a, b)| segment_distance2(q, a, b).0).fold(f64::INFINITY, f64::min).sqrt(),
    }
}
