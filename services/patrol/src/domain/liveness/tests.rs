//! Offline once, online again, and when to look.

use chrono::Duration;

use super::*;
use crate::domain::testutil::utc;

const T: Duration = Duration::minutes(10);

fn shift() -> Shift {
    Shift { start: utc(0, 0, 0), end: utc(12, 0, 0) }
}

#[test]
fn offline_after_the_threshold_during_the_shift() {
    let last = Some(utc(1, 0, 0));
    assert_eq!(decide(last, utc(1, 9, 59), T, false, &shift()), None);
    assert_eq!(decide(last, utc(1, 10, 0), T, false, &shift()), Some(Change::Offline));
    // Once marked, no second Offline however long the silence.
    assert_eq!(decide(last, utc(3, 0, 0), T, true, &shift()), None);
    // Not outside the shift.
    assert_eq!(decide(Some(utc(11, 55, 0)), utc(12, 5, 0), T, false, &shift()), None);
    assert_eq!(decide(None, utc(23, 0, 0) - Duration::days(1), T, false, &shift()), None, "before it");
}

#[test]
fn silence_counts_from_the_shift_start() {
    // Last heard yesterday: silent since the shift began, offline 10 minutes in.
    let yesterday = Some(utc(0, 0, 0) - Duration::hours(15));
    assert_eq!(decide(yesterday, utc(0, 9, 0), T, false, &shift()), None);
    assert_eq!(decide(yesterday, utc(0, 10, 0), T, false, &shift()), Some(Change::Offline));
    assert_eq!(decide(None, utc(0, 10, 0), T, false, &shift()), Some(Change::Offline), "never heard");
    assert_eq!(next_check(yesterday, T, false, &shift()), Some(utc(0, 10, 0)));
    assert_eq!(next_check(None, T, false, &shift()), Some(utc(0, 10, 0)));
}

#[test]
fn online_when_fixes_resume() {
    // Marked offline; a fix at 02:00 arrives.
    assert_eq!(decide(Some(utc(2, 0, 0)), utc(2, 0, 5), T, true, &shift()), Some(Change::Online));
    // A buffered old fix arriving late does not bring the member back.
    assert_eq!(decide(Some(utc(1, 0, 0)), utc(2, 0, 5), T, true, &shift()), None);
    assert_eq!(decide(None, utc(2, 0, 5), T, true, &shift()), None);
    // After the shift the mark is still cleared by a fresh fix.
    assert_eq!(decide(Some(utc(13, 0, 0)), utc(13, 0, 1), T, true, &shift()), Some(Change::Online));
    assert_eq!(Change::Online.as_str(), "online");
}

#[test]
fn next_check_times() {
    assert_eq!(next_check(Some(utc(1, 0, 0)), T, false, &shift()), Some(utc(1, 10, 0)));
    assert_eq!(next_check(Some(utc(1, 0, 0)), T, true, &shift()), None, "only a fix changes it");
    assert_eq!(next_check(Some(utc(11, 55, 0)), T, false, &shift()), None, "the shift ends first");
    // The due time is exactly when decide says Offline.
    let due = next_check(Some(utc(4, 0, 0)), T, false, &shift()).unwrap();
    assert_eq!(decide(Some(utc(4, 0, 0)), due, T, false, &shift()), Some(Change::Offline));
}
