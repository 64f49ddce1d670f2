use super::*;
use crate::rng::Purpose;

fn square() -> Vec<Xy> {
    vec![Xy::new(0.0, 0.0), Xy::new(1_000.0, 0.0), Xy::new(1_000.0, 1_000.0), Xy::new(0.0, 1_000.0)]
}

fn min_gap(points: &[Xy]) -> f64 {
    let mut gap = f64::INFINITY;
    for (i, p) in points.iter().enumerate() {
        for q in &points[i + 1..] {
            gap = gap.min(p.dist(*q));
        }
    }
    gap
}

#[test]
fn points_are_inside_spread_and_repeatable() {
    let ring = square();
    let make = || {
        let mut rng = Rng::for_entity(5, Purpose::Geometry, 1);
        scatter(&mut rng, &ring, &[], 30, (Zone::Anywhere, 0.2 * spacing(&ring, 30)), &|_| 1.0)
    };
    let points = make();
    assert_eq!(points, make());
    assert_eq!(points.len(), 30);
    let margin = 0.2 * spacing(&ring, 30);
    for p in &points {
        assert!(contains(&ring, *p) && boundary_distance(&ring, *p) >= margin);
    }
    // Evenly spread: no two much closer than the spacing (~183 m) suggests.
    assert!(min_gap(&points) > 60.0, "{}", min_gap(&points));
}

#[test]
fn zones_and_density_are_respected() {
    let ring = square();
    let centre = Xy::new(500.0, 500.0);
    let mut rng = Rng::for_entity(6, Purpose::Geometry, 2);
    let near = scatter(&mut rng, &ring, &[centre], 8, (Zone::Near(centre, 200.0), 10.0), &|_| 1.0);
    assert!(near.iter().all(|p| p.dist(centre) <= 200.0));
    let away = scatter(&mut rng, &ring, &near, 8, (Zone::Away(centre, 300.0), 10.0), &|_| 1.0);
    assert!(away.iter().all(|p| p.dist(centre) >= 300.0));
    // Denser to the west: more points in the western half.
    let dense_west = |p: Xy| 0.3 + 0.7 * (p.x / 1_000.0);
    let points = scatter(&mut rng, &ring, &[], 60, (Zone::Anywhere, 5.0), &dense_west);
    let west = points.iter().filter(|p| p.x < 500.0).count();
    assert!(west > 36, "{west} of 60 in the west");
}

#[test]
fn an_impossible_zone_is_dropped_rather_than_failing() {
    let ring = square();
    let mut rng = Rng::for_entity(7, Purpose::Geometry, 3);
    let points = scatter(&mut rng, &ring, &[], 3, (Zone::Near(Xy::new(5_000.0, 5_000.0), 10.0), 1e9), &|_| 1.0);
    assert_eq!(points.len(), 3);
    assert!(points.iter().all(|p| contains(&ring, *p)));
}
