use super::*;

fn square(side: f64) -> Vec<Xy> {
    vec![Xy::new(0.0, 0.0), Xy::new(side, 0.0), Xy::new(side, side), Xy::new(0.0, side)]
}

#[test]
fn the_projection_constants_are_the_sphere_at_33_6_degrees() {
    let r = 6_371_008.8_f64;
    assert!((M_PER_DEG_LAT - r * std::f64::consts::PI / 180.0).abs() < 1e-6);
    assert!((M_PER_DEG_LNG - M_PER_DEG_LAT * 33.6_f64.to_radians().cos()).abs() < 1e-6);
}

#[test]
fn positions_round_trip_through_the_lattice() {
    let p = LatLng { lat: 33.625_4, lng: 114.650_3 };
    let m = Xy::from_lat_lng(p).micro();
    assert_eq!(m, Micro { lat: 33_625_400, lng: 114_650_300 });
    assert_eq!(m.lat_lng(), p);
    assert_eq!(m.xy().micro(), m);
    // A tenth of a metre moves less than a lattice step (0.11 m north, 0.09 m east).
    let q = Xy::from_lat_lng(p).add(Xy::new(0.04, 0.05)).micro();
    assert_eq!(q, m);
    assert_eq!(Xy::new(0.0, 0.0).micro(), Micro { lat: 33_600_000, lng: 114_900_000 });
}

#[test]
fn areas_centroids_and_containment() {
    let sq = square(100.0);
    assert_eq!(area(&sq), 10_000.0);
    let mut cw = sq.clone();
    cw.reverse();
    assert_eq!(area(&cw), -10_000.0);
    assert_eq!(centroid(&sq), Xy::new(50.0, 50.0));
    assert!(contains(&sq, Xy::new(10.0, 90.0)));
    assert!(!contains(&sq, Xy::new(-1.0, 50.0)));
    assert!(!contains(&sq, Xy::new(50.0, 100.5)));
    assert_eq!(boundary_distance(&sq, Xy::new(30.0, 60.0)), 30.0);
    assert_eq!(boundary_distance(&sq, Xy::new(103.0, 104.0)), 5.0);
    assert_eq!(bbox(&sq), (Xy::new(0.0, 0.0), Xy::new(100.0, 100.0)));
    assert_eq!(area(&[]), 0.0);
    assert_eq!(centroid(&[Xy::new(1.0, 2.0)]), Xy::new(1.0, 2.0));
}
