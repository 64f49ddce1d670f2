//! A micro-benchmark of the per-fix hot path: it prints figures and asserts nothing about time.
//!
//! `cargo test --release -p civicgrid-patrol -- --ignored --nocapture hot_path`
//!
//! 20,000 key-place fences (circles of 20–150 m and polygons of 6–12 vertices) over a 60 × 60 km
//! city, indexed; an ordered 20-checkpoint route; 20,000 members each walking their own tour,
//! a fifth of them along the route, fixes every 5 s (a tenth of the members in vehicles at
//! 15 m/s). Per fix: `validate` against the member's last fix, the key places the segment
//! touches (`FenceIndex::for_each_crossing`) and `advance` on the member's tour.

use std::time::Instant;

use chrono::Duration;

use super::fix::{Fix, LastFix, Limits, validate};
use super::geo::{Fence, Point};
use super::index::{FenceIndex, IndexConfig};
use super::route::{Checkpoint, Route, TourState, TourTimes, Window, advance};
use super::testutil::{Rng, utc, zz};

const FENCES: usize = 20_000;
const MEMBERS: usize = 20_000;
const ROUNDS: usize = 10;

#[test]
#[ignore = "a benchmark: run it in release with --ignored --nocapture"]
fn hot_path() {
    let f = zz();
    let mut rng = Rng::new(42);
    let fences: Vec<(u32, Fence)> = (0..FENCES as u32)
        .map(|i| {
            let (x, y) = (rng.range(-30_000.0, 30_000.0), rng.range(-30_000.0, 30_000.0));
            let fence = if i % 3 == 0 {
                let n = 6 + rng.below(7);
                let r = rng.range(30.0, 200.0);
                let ring = (0..n)
                    .map(|j| {
                        let a = std::f64::consts::TAU * j as f64 / n as f64;
                        f.p(x + r * a.cos(), y + r * a.sin())
                    })
                    .collect();
                Fence::polygon(ring).unwrap()
            } else {
                Fence::circle(f.p(x, y), rng.range(20.0, 150.0)).unwrap()
            };
            (i, fence)
        })
        .collect();
    let t = Instant::now();
    let index = FenceIndex::build(fences, IndexConfig::default());
    let build = t.elapsed();

    // The route: 20 checkpoints on a 2 km loop round the city centre, some with a dwell.
    let cps: Vec<Checkpoint> = (0..20)
        .map(|i| {
            let a = std::f64::consts::TAU * i as f64 / 20.0;
            Checkpoint {
                id: format!("cp{i}"),
                fence: Fence::circle(f.p(1_000.0 * a.cos(), 1_000.0 * a.sin()), rng.range(15.0, 40.0)).unwrap(),
                window: Window::Anytime,
                dwell: Duration::seconds(if i % 4 == 0 { 30 } else { 0 }),
            }
        })
        .collect();
    let route = Route::new("r1", true, cps).unwrap();
    let times = TourTimes { started_at: utc(0, 0, 0), shift_start: utc(0, 0, 0), shift_end: utc(12, 0, 0) };

    // Members' tracks, generated up front.
    let start = utc(1, 0, 0);
    let mut pos: Vec<(f64, f64, f64)> = (0..MEMBERS)
        .map(|m| {
            if m % 5 == 0 {
                let a = rng.range(0.0, std::f64::consts::TAU);
                (1_000.0 * a.cos(), 1_000.0 * a.sin(), a)
            } else {
                (rng.range(-30_000.0, 30_000.0), rng.range(-30_000.0, 30_000.0), rng.range(0.0, 7.0))
            }
        })
        .collect();
    let ids: Vec<String> = (0..MEMBERS).map(|m| format!("m{m}")).collect();
    let mut fixes: Vec<(usize, Fix)> = Vec::with_capacity(MEMBERS * ROUNDS);
    for round in 0..ROUNDS {
        let at = start + Duration::seconds(5 * round as i64);
        for (m, p) in pos.iter_mut().enumerate() {
            if m % 5 == 0 {
                p.2 += 1.4 * 5.0 / 1_000.0; // walking the loop
                (p.0, p.1) = (1_000.0 * p.2.cos() + rng.range(-3.0, 3.0), 1_000.0 * p.2.sin() + rng.range(-3.0, 3.0));
            } else {
                let step = if m % 10 == 1 { 75.0 } else { 7.0 };
                p.2 += rng.range(-0.3, 0.3);
                (p.0, p.1) = (p.0 + step * p.2.cos(), p.1 + step * p.2.sin());
            }
            let point: Point = f.p(p.0, p.1);
            let fix = Fix { member_id: ids[m].clone(), device_id: ids[m].clone(), at, point, accuracy_m: Some(8.0) };
            fixes.push((m, fix));
        }
    }

    let limits = Limits::default();
    let now = start + Duration::seconds(5 * ROUNDS as i64);
    let n = fixes.len() as f64;
    println!("index of {FENCES} fences built in {build:?}");

    // Untimed stages: the end-to-end figure.
    let mut last: Vec<Option<LastFix>> = vec![None; MEMBERS];
    let mut tours: Vec<TourState> = (0..MEMBERS).map(|_| TourState::new(&route)).collect();
    let mut scratch = Vec::new();
    let (mut rejected, mut places, mut events) = (0usize, 0usize, 0usize);
    let t_all = Instant::now();
    for (m, fix) in &fixes {
        if validate(fix, last[*m].as_ref(), now, &limits).is_err() {
            rejected += 1;
            continue;
        }
        let a = last[*m].map_or(fix.point, |l| l.point);
        index.for_each_crossing(a, fix.point, &mut scratch, |_, _, _, _| places += 1);
        events += advance(&mut tours[*m], &route, &times, &fix.member_id, last[*m].as_ref(), fix.position()).len();
        last[*m] = Some(fix.position());
    }
    let all = t_all.elapsed();
    println!(
        "{} fixes ({rejected} rejected): {:.0} ns/fix for validate + key places + advance, {:.0} fixes/s on one core",
        fixes.len(),
        all.as_nanos() as f64 / n,
        n / all.as_secs_f64()
    );
    let checked: usize = tours.iter().map(|t| t.checkpoints.iter().filter(|c| c.check_in.is_some()).count()).sum();
    println!("  {places} key-place touches, {events} tour events, {checked} check-ins");

    // Each stage on its own, same workload from fresh state.
    let mut last: Vec<Option<LastFix>> = vec![None; MEMBERS];
    let mut tours: Vec<TourState> = (0..MEMBERS).map(|_| TourState::new(&route)).collect();
    let t = Instant::now();
    let ok: Vec<bool> = fixes
        .iter()
        .map(|(m, fix)| {
            let ok = validate(fix, last[*m].as_ref(), now, &limits).is_ok();
            if ok {
                last[*m] = Some(fix.position());
            }
            ok
        })
        .collect();
    let t_validate = t.elapsed();
    let mut last: Vec<Option<LastFix>> = vec![None; MEMBERS];
    let t = Instant::now();
    for ((m, fix), ok) in fixes.iter().zip(&ok) {
        if *ok {
            let a = last[*m].map_or(fix.point, |l| l.point);
            index.for_each_crossing(a, fix.point, &mut scratch, |_, _, _, _| {});
            last[*m] = Some(fix.position());
        }
    }
    let t_places = t.elapsed();
    let mut last: Vec<Option<LastFix>> = vec![None; MEMBERS];
    let t = Instant::now();
    for ((m, fix), ok) in fixes.iter().zip(&ok) {
        if *ok {
            advance(&mut tours[*m], &route, &times, &fix.member_id, last[*m].as_ref(), fix.position());
            last[*m] = Some(fix.position());
        }
    }
    let t_advance = t.elapsed();
    let per = |d: std::time::Duration| d.as_nanos() as f64 / n;
    println!(
        "  alone: validate {:.0} ns, key places (index + crossings) {:.0} ns, advance (20 checkpoints) {:.0} ns",
        per(t_validate),
        per(t_places),
        per(t_advance)
    );
    assert!(events > 0 && places > 0, "the workload exercises both paths");
}
