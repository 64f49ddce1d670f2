//! Fence validation, containment and distance.

use super::*;
use crate::domain::testutil::{destination, zz};

fn square(half: f64) -> Fence {
    let f = zz();
    Fence::polygon(vec![f.p(-half, -half), f.p(half, -half), f.p(half, half), f.p(-half, half)]).unwrap()
}

#[test]
fn circle_validation() {
    let c = Point::new(34.75, 113.62);
    assert!(Fence::circle(c, 50_000.0).is_ok());
    assert!(Fence::circle(c, 0.5).is_ok());
    for r in [0.0, -1.0, 50_000.1, f64::NAN, f64::INFINITY] {
        let e = Fence::circle(c, r).unwrap_err();
        assert!(matches!(e, FenceError::Radius { .. }), "{r}");
        assert_eq!(e.field(), "radius_m");
    }
    for bad in [Point::new(0.0, 0.0), Point::new(f64::NAN, 1.0), Point::new(91.0, 1.0), Point::new(1.0, 181.0)] {
        let e = Fence::circle(bad, 10.0).unwrap_err();
        assert_eq!(e, FenceError::Coordinates { vertex: None });
        assert_eq!(e.field(), "center");
    }
}

#[test]
fn polygon_validation() {
    let f = zz();
    let (a, b, c, d) = (f.p(0.0, 0.0), f.p(100.0, 0.0), f.p(100.0, 100.0), f.p(0.0, 100.0));
    // Closing vertex optional, repeats dropped.
    let open = Fence::polygon(vec![a, b, c]).unwrap();
    let closed = Fence::polygon(vec![a, b, b, c, a]).unwrap();
    assert_eq!(open, closed);
    let Fence::Polygon(p) = &closed else { panic!() };
    assert_eq!(p.ring(), [a, b, c]);

    assert_eq!(Fence::polygon(vec![a, b]).unwrap_err(), FenceError::TooFewVertices { distinct: 2 });
    assert_eq!(Fence::polygon(vec![a, a, b, b, a]).unwrap_err(), FenceError::TooFewVertices { distinct: 2 });
    assert_eq!(Fence::polygon(vec![]).unwrap_err(), FenceError::TooFewVertices { distinct: 0 });

    let e = Fence::polygon(vec![a, b, Point::new(f64::NAN, 1.0), d]).unwrap_err();
    assert_eq!(e, FenceError::Coordinates { vertex: Some(2) });
    assert_eq!(e.field(), "ring[2]");
    assert!(e.to_string().starts_with("ring[2]: "));

    // A bow tie: edges 0 (a→c) and 2 (b→d) cross.
    assert_eq!(Fence::polygon(vec![a, c, b, d]).unwrap_err(), FenceError::SelfIntersecting { edges: (0, 2) });
    // Collinear vertices double back: no area.
    let mid = f.p(50.0, 0.0);
    assert!(matches!(Fence::polygon(vec![a, mid, b]).unwrap_err(), FenceError::SelfIntersecting { .. }));
    // A vertex visited twice (two squares touching at a corner) is not simple.
    let figure8 = vec![a, b, c, f.p(200.0, 100.0), f.p(200.0, 200.0), f.p(100.0, 200.0), c, d];
    assert!(matches!(Fence::polygon(figure8).unwrap_err(), FenceError::SelfIntersecting { .. }));
    // A concave polygon is fine.
    assert!(Fence::polygon(vec![a, b, c, f.p(50.0, 20.0), d]).is_ok());

    // 1,000 vertices on a circle are fine, 1,001 are not.
    let ring = |n: usize| -> Vec<Point> {
        (0..n).map(|i| destination(f.p(0.0, 0.0), 360.0 * i as f64 / n as f64, 500.0)).collect()
    };
    assert!(Fence::polygon(ring(1_000)).is_ok());
    assert_eq!(Fence::polygon(ring(1_001)).unwrap_err(), FenceError::TooManyVertices { count: 1_001 });
    assert!(matches!(Fence::polygon(ring(5_000)).unwrap_err(), FenceError::TooManyVertices { .. }));

    let huge = vec![f.p(0.0, 0.0), f.p(120_000.0, 0.0), f.p(0.0, 10.0)];
    assert!(matches!(Fence::polygon(huge).unwrap_err(), FenceError::TooLarge { .. }));
}

#[test]
fn circle_contains_with_edge_tolerance() {
    let center = Point::new(34.75, 113.62);
    let fence = Fence::circle(center, 100.0).unwrap();
    // Due north the projection is exact: 100 m is the edge.
    for (d, inside) in [(0.0, true), (99.9, true), (100.0, true), (100.009, true), (100.02, false), (150.0, false)] {
        assert_eq!(fence.contains(destination(center, 0.0, d)), inside, "{d} m north");
    }
    for bearing in [45.0, 90.0, 250.0] {
        assert!(fence.contains(destination(center, bearing, 99.99)));
        assert!(!fence.contains(destination(center, bearing, 100.03)));
    }
}

#[test]
fn polygon_contains_edges_vertices_and_notches() {
    let f = zz();
    let sq = square(50.0);
    assert!(sq.contains(f.p(0.0, 0.0)));
    assert!(sq.contains(f.p(50.0, 50.0)), "a vertex");
    assert!(sq.contains(f.p(50.0, 0.0)), "on an edge");
    assert!(sq.contains(f.p(-50.005, 10.0)), "5 mm outside an edge");
    assert!(sq.contains(f.p(50.005, 50.005)), "7 mm off a vertex");
    assert!(!sq.contains(f.p(-50.02, 10.0)), "2 cm outside");
    assert!(!sq.contains(f.p(50.01, 50.01)), "14 mm off a vertex");
    assert!(!sq.contains(f.p(0.0, 300.0)));
    // A U: the notch between the arms is outside.
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
    assert!(u.contains(f.p(15.0, 60.0)));
    assert!(u.contains(f.p(75.0, 60.0)));
    assert!(!u.contains(f.p(45.0, 60.0)));
    assert!(u.contains(f.p(45.0, 15.0)));
    // Vertex on the crossing ray: the point level with the notch's floor corners.
    assert!(!u.contains(f.p(-10.0, 30.0)));
    assert!(u.contains(f.p(10.0, 30.0)));
    assert!(!u.contains(f.p(45.0, 30.01 + 0.02)));
}

#[test]
fn distance_to_fences() {
    let f = zz();
    let sq = square(50.0);
    assert_eq!(sq.distance_m(f.p(10.0, 10.0)), 0.0);
    assert!((sq.distance_m(f.p(100.0, 0.0)) - 50.0).abs() < 1e-6);
    assert!((sq.distance_m(f.p(80.0, 90.0)) - 50.0).abs() < 1e-6, "to the corner: 30-40-50");
    let c = Fence::circle(f.p(0.0, 0.0), 30.0).unwrap();
    assert_eq!(c.distance_m(f.p(0.0, 29.0)), 0.0);
    assert!((c.distance_m(destination(f.p(0.0, 0.0), 77.0, 130.0)) - 100.0).abs() < 1e-6);
}

#[test]
fn boxes_cover_the_fence() {
    let f = zz();
    let c = Fence::circle(f.p(0.0, 0.0), 100.0).unwrap();
    let bb = c.bbox();
    assert!(bb.contains(f.p(0.0, 100.005)) && bb.contains(f.p(100.005, 0.0)) && bb.contains(f.p(-100.005, 0.0)));
    assert!(!bb.contains(f.p(0.0, 100.5)));
    let sq = square(50.0);
    assert!(sq.bbox().contains(f.p(50.005, 50.005)));
}

#[test]
fn serde_round_trip_validates() {
    let f = zz();
    let fence = Fence::circle(f.p(0.0, 0.0), 20.0).unwrap();
    let json = serde_json::to_string(&fence).unwrap();
    assert!(json.starts_with(r#"{"kind":"circle","center":{"lat":"#), "{json}");
    assert_eq!(serde_json::from_str::<Fence>(&json).unwrap(), fence);
    let sq = square(50.0);
    assert_eq!(serde_json::from_str::<Fence>(&serde_json::to_string(&sq).unwrap()).unwrap(), sq);
    let bad = r#"{"kind":"circle","center":{"lat":34.75,"lng":113.62},"radius_m":-1}"#;
    let err = serde_json::from_str::<Fence>(bad).unwrap_err().to_string();
    assert!(err.contains("radius_m"), "{err}");
}
