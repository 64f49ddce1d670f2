//! Tracks along a meridian, where haversine distances are exact metres.

use chrono::{DateTime, Duration, Utc};

use super::*;
use crate::domain::testutil::{destination, utc};

const BASE: Point = Point::new(34.75, 113.62);

fn t(s: i64) -> DateTime<Utc> {
    utc(1, 0, 0) + Duration::seconds(s)
}

/// A fix `north_m` metres north of BASE at `s` seconds.
fn fix(s: i64, north_m: f64) -> LastFix {
    LastFix { at: t(s), point: destination(BASE, 0.0, north_m) }
}

/// 300 m in 30 s; a 3-minute stop wandering ≤ 10 m; 200 m; a 30 s pause (too short); 100 m.
fn track() -> Vec<LastFix> {
    [
        (0, 0.0),
        (10, 100.0),
        (20, 200.0),
        (30, 300.0),
        (60, 305.0),
        (90, 300.0),
        (150, 310.0),
        (210, 302.0),
        (220, 402.0),
        (230, 502.0),
        (260, 510.0),
        (270, 610.0),
    ]
    .into_iter()
    .map(|(s, m)| fix(s, m))
    .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

#[test]
fn whole_track() {
    let tot = totals(&track(), &TripRule::default());
    // 300 + (5 + 5 + 10 + 8) + 200 + 8 + 100.
    assert!(close(tot.distance_m, 636.0), "{}", tot.distance_m);
    assert_eq!(tot.stops.len(), 1);
    let stop = tot.stops[0];
    assert_eq!((stop.start, stop.end, stop.duration), (t(30), t(210), Duration::seconds(180)));
    // The mean of 300, 305, 300, 310 and 302 m north.
    let c = destination(BASE, 0.0, 303.4);
    assert!((stop.center.lat - c.lat).abs() < 1e-9 && (stop.center.lng - BASE.lng).abs() < 1e-12);
    assert_eq!(tot.stopped, Duration::seconds(180));
    assert_eq!(tot.moving, Duration::seconds(90));
}

#[test]
fn restricted_to_a_range() {
    let rule = TripRule::default();
    let tot = totals_between(&track(), &rule, t(15), t(240));
    // Half of 10→20 s (50 m), 100, the stop's 28, 100, 100, a third of 230→260 s (8/3 m).
    assert!(close(tot.distance_m, 50.0 + 100.0 + 28.0 + 200.0 + 8.0 / 3.0), "{}", tot.distance_m);
    assert_eq!(tot.stopped, Duration::seconds(180));
    assert_eq!(tot.moving, Duration::seconds(45));
    // Cutting the stop: 100–210 s of it, and the track ends at 270 s.
    let tot = totals_between(&track(), &rule, t(100), t(400));
    assert_eq!(tot.stops.len(), 1);
    assert_eq!((tot.stops[0].start, tot.stops[0].duration), (t(100), Duration::seconds(110)));
    assert_eq!(tot.moving, Duration::seconds(60));
    assert!(close(tot.distance_m, 10.0 * 50.0 / 60.0 + 8.0 + 308.0), "{}", tot.distance_m);
    // A range without the track.
    let none = totals_between(&track(), &rule, t(1000), t(2000));
    assert_eq!(none, Totals::default());
}

#[test]
fn stops_need_the_minimum_time_and_radius() {
    // The 30 s pause becomes a stop with a 30 s minimum; with a 4 m radius the 3-minute stop
    // breaks up (no two consecutive fixes of it are within 4 m) into pieces that do not count.
    let short = TripRule { min_stop: Duration::seconds(30), ..TripRule::default() };
    let tot = totals(&track(), &short);
    assert_eq!(tot.stops.iter().map(|s| (s.start, s.end)).collect::<Vec<_>>(), [(t(30), t(210)), (t(230), t(260))]);
    assert_eq!(tot.stopped, Duration::seconds(210));
    let tight = TripRule { stop_radius_m: 4.0, ..TripRule::default() };
    let tot = totals(&track(), &tight);
    assert!(tot.stops.is_empty());
    assert_eq!((tot.moving, tot.stopped), (Duration::seconds(270), Duration::zero()));
}

#[test]
fn a_stop_at_the_end_and_odd_tracks() {
    let track = [fix(0, 0.0), fix(60, 600.0), fix(120, 601.0), fix(300, 600.0)];
    let tot = totals(&track, &TripRule::default());
    assert_eq!(tot.stops.len(), 1);
    assert_eq!((tot.stops[0].start, tot.stops[0].end), (t(60), t(300)));
    assert_eq!((tot.moving, tot.stopped), (Duration::seconds(60), Duration::seconds(240)));
    assert!(close(tot.distance_m, 602.0));
    // Empty, a single fix, and a fix out of order (skipped).
    assert_eq!(totals(&[], &TripRule::default()), Totals::default());
    let one = totals(&[fix(0, 0.0)], &TripRule::default());
    assert_eq!((one.distance_m, one.moving, one.stops.len()), (0.0, Duration::zero(), 0));
    let jumbled = [fix(0, 0.0), fix(10, 100.0), fix(5, 900.0), fix(20, 200.0)];
    assert!(close(totals(&jumbled, &TripRule::default()).distance_m, 200.0));
}
