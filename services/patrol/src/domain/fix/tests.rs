//! Every reason a fix is refused, at and past its limit.

use super::*;
use crate::domain::testutil::{destination, utc};

const HOME: Point = Point::new(34.75, 113.62);

fn fix(at: DateTime<Utc>, point: Point) -> Fix {
    Fix { member_id: "m1".into(), device_id: "d1".into(), at, point, accuracy_m: Some(8.0) }
}

fn check(f: &Fix, last: Option<&LastFix>) -> Result<(), Reject> {
    validate(f, last, utc(10, 0, 0), &Limits::default())
}

#[test]
fn a_good_fix_passes() {
    let last = LastFix { at: utc(9, 59, 0), point: HOME };
    let f = fix(utc(9, 59, 30), destination(HOME, 40.0, 300.0)); // 10 m/s
    assert_eq!(check(&f, Some(&last)), Ok(()));
    assert_eq!(check(&f, None), Ok(()));
    assert_eq!(check(&Fix { accuracy_m: None, ..f.clone() }, None), Ok(()));
    assert_eq!(f.position(), LastFix { at: f.at, point: f.point });
}

#[test]
fn coordinates() {
    for p in [
        Point::new(0.0, 0.0),
        Point::new(f64::NAN, 113.0),
        Point::new(34.0, f64::NEG_INFINITY),
        Point::new(90.5, 113.0),
        Point::new(34.0, 180.5),
    ] {
        assert_eq!(check(&fix(utc(10, 0, 0), p), None), Err(Reject::Coordinates), "{p:?}");
    }
    // Exactly on the range limits is fine.
    assert_eq!(check(&fix(utc(10, 0, 0), Point::new(-90.0, -180.0)), None), Ok(()));
}

#[test]
fn future_and_stale() {
    assert_eq!(check(&fix(utc(10, 2, 0), HOME), None), Ok(()), "exactly 2 min ahead");
    assert_eq!(check(&fix(utc(10, 2, 1), HOME), None), Err(Reject::Future));
    let day_old = utc(10, 0, 0) - Duration::hours(24);
    assert_eq!(check(&fix(day_old, HOME), None), Ok(()), "exactly 24 h old");
    assert_eq!(check(&fix(day_old - Duration::seconds(1), HOME), None), Err(Reject::Stale));
}

#[test]
fn duplicate_and_out_of_order() {
    let last = LastFix { at: utc(9, 59, 0), point: HOME };
    assert_eq!(check(&fix(utc(9, 59, 0), HOME), Some(&last)), Err(Reject::Duplicate));
    let moved = destination(HOME, 0.0, 5.0);
    assert_eq!(check(&fix(utc(9, 59, 0), moved), Some(&last)), Err(Reject::OutOfOrder), "same time, elsewhere");
    assert_eq!(check(&fix(utc(9, 58, 0), moved), Some(&last)), Err(Reject::OutOfOrder), "older");
    assert_eq!(check(&fix(utc(9, 58, 0), HOME), Some(&last)), Err(Reject::OutOfOrder), "older, same place");
}

#[test]
fn speed() {
    let last = LastFix { at: utc(9, 59, 0), point: HOME };
    // 60 s after: 4,100 m is 68 m/s, 4,300 m is 72 m/s.
    assert_eq!(check(&fix(utc(10, 0, 0), destination(HOME, 90.0, 4_100.0)), Some(&last)), Ok(()));
    assert_eq!(check(&fix(utc(10, 0, 0), destination(HOME, 90.0, 4_300.0)), Some(&last)), Err(Reject::Speed));
    // 50 ms after with 3 m of jitter: 60 m/s over the raw gap, but the 1 s floor makes it 3.
    let close = LastFix { at: utc(9, 59, 59), point: HOME };
    let jitter =
        Fix { at: utc(9, 59, 59) + Duration::milliseconds(50), ..fix(utc(0, 0, 0), destination(HOME, 0.0, 3.0)) };
    assert_eq!(check(&jitter, Some(&close)), Ok(()));
    // The floor is not a loophole: 100 m in 50 ms is still 100 m/s.
    let jump = Fix { point: destination(HOME, 0.0, 100.0), ..jitter };
    assert_eq!(check(&jump, Some(&close)), Err(Reject::Speed));
}

#[test]
fn accuracy() {
    let f = |acc: f32| Fix { accuracy_m: Some(acc), ..fix(utc(10, 0, 0), HOME) };
    assert_eq!(check(&f(200.0), None), Ok(()));
    assert_eq!(check(&f(0.0), None), Ok(()));
    assert_eq!(check(&f(200.5), None), Err(Reject::Accuracy));
    assert_eq!(check(&f(-1.0), None), Err(Reject::Accuracy));
    assert_eq!(check(&f(f32::NAN), None), Err(Reject::Accuracy));
}

#[test]
fn labels_are_distinct_and_stable() {
    let labels: Vec<&str> = Reject::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(labels, ["coordinates", "future", "stale", "duplicate", "out_of_order", "speed", "accuracy"]);
}
