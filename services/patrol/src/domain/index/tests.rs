//! The grid against brute force on random fences, points and segments.

use super::*;
use crate::domain::testutil::{Frame, Rng, zz};

/// `n` random fences in a `span` m square around Zhengzhou: circles of 10–300 m and polygons
/// (random convex-ish stars) of 20–800 m, plus two large ones that go on the large list.
fn random_fences(rng: &mut Rng, f: &Frame, n: usize, span: f64) -> Vec<(usize, Fence)> {
    let mut out = Vec::with_capacity(n + 2);
    for i in 0..n {
        let (x, y) = (rng.range(-span / 2.0, span / 2.0), rng.range(-span / 2.0, span / 2.0));
        let fence = if i % 3 == 0 {
            let k = 3 + rng.below(6);
            let r = rng.range(20.0, 800.0);
            let ring = (0..k)
                .map(|j| {
                    let a = std::f64::consts::TAU * j as f64 / k as f64;
                    let rr = r * rng.range(0.5, 1.0);
                    f.p(x + rr * a.cos(), y + rr * a.sin())
                })
                .collect();
            Fence::polygon(ring).unwrap()
        } else {
            Fence::circle(f.p(x, y), rng.range(10.0, 300.0)).unwrap()
        };
        out.push((i, fence));
    }
    out.push((n, Fence::circle(f.p(0.0, 0.0), 20_000.0).unwrap()));
    out.push((n + 1, Fence::polygon(vec![f.p(-9e3, -9e3), f.p(9e3, -9e3), f.p(0.0, 9e3)]).unwrap()));
    out
}

#[test]
fn points_match_brute_force() {
    let f = zz();
    let mut rng = Rng::new(1);
    let fences = random_fences(&mut rng, &f, 3_000, 30_000.0);
    let index = FenceIndex::build(fences.clone(), IndexConfig::default());
    assert_eq!(index.len(), 3_002);
    assert_eq!(index.large.len(), 2, "the two large fences are listed apart");
    assert_eq!(index.get(5).map(|(k, g)| (*k, g.clone())), Some(fences[5].clone()));
    for _ in 0..3_000 {
        let p = f.p(rng.range(-16_000.0, 16_000.0), rng.range(-16_000.0, 16_000.0));
        let mut want: Vec<usize> = fences.iter().filter(|(_, g)| g.contains(p)).map(|(k, _)| *k).collect();
        let mut got: Vec<usize> = index.containing(p).map(|(k, _)| *k).collect();
        want.sort_unstable();
        got.sort_unstable();
        assert_eq!(got, want);
    }
}

#[test]
fn segments_match_brute_force() {
    let f = zz();
    let mut rng = Rng::new(2);
    let fences = random_fences(&mut rng, &f, 3_000, 30_000.0);
    for cell_m in [100.0, 500.0, 2_000.0] {
        let index = FenceIndex::build(fences.clone(), IndexConfig { cell_m, ..IndexConfig::default() });
        let mut scratch = Vec::new();
        for i in 0..2_000 {
            let a = f.p(rng.range(-16_000.0, 16_000.0), rng.range(-16_000.0, 16_000.0));
            // Short hops mostly, some long, some axis-aligned.
            let len = [30.0, 200.0, 1_500.0, 12_000.0][i % 4];
            let ang = if i % 7 == 0 {
                0.0
            } else if i % 11 == 0 {
                std::f64::consts::FRAC_PI_2
            } else {
                rng.range(0.0, 7.0)
            };
            let b = Point::new(
                a.lat + len * ang.sin() / METRES_PER_DEGREE,
                a.lng + len * ang.cos() / (METRES_PER_DEGREE * a.lat.to_radians().cos()),
            );
            let want: Vec<usize> =
                fences.iter().filter(|(_, g)| !g.crossing(a, b).is_empty()).map(|(k, _)| *k).collect();
            let mut got = Vec::new();
            let scan = index.for_each_crossing(a, b, &mut scratch, |slot, k, _, x| {
                assert!(!x.is_empty());
                assert_eq!(slot as usize, *k);
                got.push(*k);
            });
            assert_eq!(scan, Scan::Complete);
            assert_eq!(got, want, "cell {cell_m} segment {i} of {len} m");
            assert!(scratch.windows(2).all(|w| w[0] < w[1]), "sorted, no repeats");
        }
    }
}

#[test]
fn segment_along_a_grid_line_finds_fences_beside_it() {
    let index_cfg = IndexConfig { cell_m: 500.0, ..IndexConfig::default() };
    let f = zz();
    let probe = FenceIndex::<u8>::build([(0, Fence::circle(f.p(0.0, 0.0), 5.0).unwrap())], index_cfg);
    // A latitude exactly on a row boundary, and small fences just north and just south of it.
    let lat = (f.p(0.0, 0.0).lat / probe.lat_step).round() * probe.lat_step;
    let west = Point::new(lat, 113.55);
    let east = Point::new(lat, 113.70);
    let north = Fence::circle(Point::new(lat + 0.2 / METRES_PER_DEGREE, 113.62), 0.5).unwrap();
    let south = Fence::circle(Point::new(lat - 0.2 / METRES_PER_DEGREE, 113.63), 0.5).unwrap();
    let index = FenceIndex::build([(1, north), (2, south)], index_cfg);
    let mut got = Vec::new();
    index.for_each_crossing(west, east, &mut Vec::new(), |_, k, _, _| got.push(*k));
    assert_eq!(got, [1, 2]);
}

#[test]
fn teleport_is_capped_not_scanned() {
    let f = zz();
    let mut rng = Rng::new(3);
    let index = FenceIndex::build(random_fences(&mut rng, &f, 500, 10_000.0), IndexConfig::default());
    let mut out = Vec::new();
    // Zhengzhou to Urumqi, 2,400 km.
    let scan = index.candidates_segment(f.p(0.0, 0.0), Point::new(43.8, 87.6), &mut out);
    assert_eq!(scan, Scan::Capped);
    // Only the start cell's fences and the large ones.
    let start_cell: Vec<u32> = {
        let (r, c) = index.cell(f.p(0.0, 0.0));
        index.cell_slots(r, c).to_vec()
    };
    assert!(out.len() <= start_cell.len() + index.large.len());
    for s in start_cell {
        assert!(out.contains(&s));
    }
    // Bad input does not panic.
    let _ = index.candidates_segment(Point::new(f64::NAN, 1.0), Point::new(f64::INFINITY, 2.0), &mut out);
    assert_eq!(index.candidates_point(Point::new(f64::NAN, f64::NAN)).count(), index.large.len());
}

#[test]
fn empty_index_and_odd_configs() {
    let index: FenceIndex<u8> = FenceIndex::build([], IndexConfig { cell_m: f64::NAN, ..IndexConfig::default() });
    assert!(index.is_empty());
    assert_eq!(index.candidates_point(Point::new(34.0, 113.0)).count(), 0);
    let mut out = vec![7];
    assert_eq!(index.candidates_segment(Point::new(34.0, 113.0), Point::new(34.1, 113.1), &mut out), Scan::Complete);
    assert!(out.is_empty());
    assert!(index.get(0).is_none());
}
