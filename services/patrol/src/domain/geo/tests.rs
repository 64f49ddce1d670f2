//! Distances and the projection against known figures.

use super::*;
use crate::domain::testutil::destination;

#[test]
fn haversine_matches_known_distances() {
    // One degree along a meridian is R·π/180.
    let d = distance_m(Point::new(34.0, 113.0), Point::new(35.0, 113.0));
    assert!((d - METRES_PER_DEGREE).abs() < 1e-6, "{d}");
    // One degree of longitude on the equator, the same.
    let d = distance_m(Point::new(0.0, 10.0), Point::new(0.0, 11.0));
    assert!((d - METRES_PER_DEGREE).abs() < 1e-6, "{d}");
    // Beijing (Tiananmen) to Shanghai (People's Square): about 1,067 km on this sphere.
    let d = distance_m(Point::new(39.9087, 116.3975), Point::new(31.2304, 121.4737));
    assert!((d - 1_067_300.0).abs() < 1_000.0, "{d}");
    // Symmetric, zero for one point, a quarter circumference pole to equator.
    let (a, b) = (Point::new(34.75, 113.62), Point::new(34.76, 113.65));
    assert_eq!(distance_m(a, b), distance_m(b, a));
    assert_eq!(distance_m(a, a), 0.0);
    let q = distance_m(Point::new(90.0, 0.0), Point::new(0.0, 45.0));
    assert!((q - EARTH_RADIUS_M * std::f64::consts::FRAC_PI_2).abs() < 1e-6);
}

#[test]
fn destination_helper_agrees_with_haversine() {
    let p = Point::new(34.75, 113.62);
    for bearing in [0.0, 45.0, 90.0, 200.0] {
        let q = destination(p, bearing, 1234.5);
        assert!((distance_m(p, q) - 1234.5).abs() < 1e-6);
    }
}

/// The projected distance against haversine, relative.
fn projection_error(lat: f64, span_m: f64, bearing: f64, reference_at_midpoint: bool) -> f64 {
    let a = Point::new(lat, 110.0);
    let b = destination(a, bearing, span_m);
    let origin = if reference_at_midpoint { Point::new((a.lat + b.lat) / 2.0, (a.lng + b.lng) / 2.0) } else { a };
    let proj = Projection::around(origin);
    let (pa, pb) = (proj.project(a), proj.project(b));
    let planar = (pb - pa).norm2().sqrt();
    (planar - span_m).abs() / span_m
}

#[test]
fn projection_stays_well_under_one_percent_at_chinas_latitudes() {
    for lat in [20.0, 34.0, 50.0] {
        for span in [500.0, 2_000.0, 5_000.0] {
            for bearing in [0.0, 30.0, 45.0, 90.0, 135.0, 180.0, 300.0] {
                // Around the midpoint (as a fence is projected around its centre): a few ppm.
                let e = projection_error(lat, span, bearing, true);
                assert!(e < 2e-5, "lat {lat} span {span} bearing {bearing}: {e}");
                // Around one end (the worst place for the reference): still under 0.1%.
                let e = projection_error(lat, span, bearing, false);
                assert!(e < 1e-3, "lat {lat} span {span} bearing {bearing}: {e}");
            }
        }
    }
}

#[test]
fn projection_round_trips() {
    let proj = Projection::around(Point::new(50.0, 127.5));
    let p = Point::new(50.01, 127.48);
    let back = proj.unproject(proj.project(p));
    assert!((back.lat - p.lat).abs() < 1e-12 && (back.lng - p.lng).abs() < 1e-12);
    // One degree of longitude at 50° is cos(50°) of one of latitude.
    let x = proj.project(Point::new(50.0, 128.5)).x;
    assert!((x - METRES_PER_DEGREE * 50f64.to_radians().cos()).abs() < 1e-6);
}

#[test]
fn point_validity() {
    assert!(Point::new(34.75, 113.62).is_valid());
    assert!(Point::new(-90.0, 180.0).is_valid());
    assert!(!Point::new(0.0, 0.0).is_valid());
    assert!(!Point::new(f64::NAN, 113.0).is_valid());
    assert!(!Point::new(34.0, f64::INFINITY).is_valid());
    assert!(!Point::new(90.01, 113.0).is_valid());
    assert!(!Point::new(34.0, -180.5).is_valid());
}

#[test]
fn segment_distance_and_boxes() {
    let (a, b) = (Xy { x: 0.0, y: 0.0 }, Xy { x: 10.0, y: 0.0 });
    assert_eq!(segment_distance2(Xy { x: 5.0, y: 3.0 }, a, b), (9.0, 0.5));
    assert_eq!(segment_distance2(Xy { x: -4.0, y: 3.0 }, a, b), (25.0, 0.0));
    assert_eq!(segment_distance2(Xy { x: 1.0, y: 1.0 }, a, a), (2.0, 0.0));
    let bb = BBox::of_segment(Point::new(35.0, 114.0), Point::new(34.0, 113.0));
    assert_eq!((bb.min_lat, bb.max_lat, bb.min_lng, bb.max_lng), (34.0, 35.0, 113.0, 114.0));
    assert!(bb.contains(Point::new(34.0, 114.0)));
    assert!(!bb.contains(Point::new(35.1, 114.0)));
    let other = BBox::of_segment(Point::new(35.0, 114.0), Point::new(36.0, 115.0));
    assert!(bb.intersects(&other) && other.intersects(&bb));
    assert!(!bb.intersects(&other.grown(-0.01, -0.01)));
}
