//! Worked examples with known figures.

use chrono::{Duration, NaiveDate, TimeZone, Utc};

use super::*;
use crate::domain::geo::Fence;
use crate::domain::route::{CheckIn, Checkpoint, How, Window};
use crate::domain::testutil::{utc, zz};

fn route(n: usize) -> Route {
    let cps = (0..n)
        .map(|i| Checkpoint {
            id: format!("c{i}"),
            fence: Fence::circle(zz().p(100.0 * i as f64, 0.0), 20.0).unwrap(),
            window: Window::Anytime,
            dwell: Duration::zero(),
        })
        .collect();
    Route::new("r", false, cps).unwrap()
}

#[test]
fn coverage_counts_and_share() {
    let r = route(8);
    let mut st = TourState::new(&r);
    for k in [0, 1, 2, 5, 6] {
        st.checkpoints[k].check_in = Some(CheckIn { at: utc(1, 0, 0), member: "m".into(), how: How::Inside });
    }
    st.checkpoints[3].missed = true;
    let c = coverage(&st, &r);
    assert_eq!((c.total, c.on_time, c.missed, c.open), (8, 5, 1, 2));
    assert_eq!(c.share_on_time, 0.625);
    let empty = route(0);
    let c = coverage(&TourState::new(&empty), &empty);
    assert_eq!((c.total, c.share_on_time), (0, 0.0));
}

fn entered(id: &str, h: u32, m: u32) -> TourEvent {
    TourEvent::Entered { checkpoint: id.into(), at: utc(h, m, 0) }
}

fn exited(id: &str, h: u32, m: u32) -> TourEvent {
    TourEvent::Exited { checkpoint: id.into(), at: utc(h, m, 0) }
}

#[test]
fn time_in_places_from_event_pairs() {
    let events = [
        entered("market", 1, 0),
        TourEvent::CheckedIn { checkpoint: "market".into(), at: utc(1, 0, 0), member: "m".into(), how: How::Inside },
        exited("market", 1, 25),
        entered("school", 1, 30),
        entered("school", 1, 35), // already inside: ignored
        exited("school", 1, 40),
        exited("school", 1, 45), // already outside: ignored
        entered("market", 2, 0),
        exited("market", 2, 5),
        entered("station", 11, 30), // never left: closes at the shift's end, 12:00
    ];
    let got = time_in_places(&events, utc(12, 0, 0));
    assert_eq!(
        got,
        [
            ("market".to_owned(), Duration::minutes(30)),
            ("school".to_owned(), Duration::minutes(10)),
            ("station".to_owned(), Duration::minutes(30)),
        ]
    );
    assert!(time_in_places(&[], utc(12, 0, 0)).is_empty());
}

#[test]
fn presence_sums_short_gaps_within_the_day() {
    let day = NaiveDate::from_ymd_opt(2026, 11, 22).unwrap();
    let rule = PresenceRule { offline_threshold: Duration::minutes(10), min_online: Duration::minutes(30) };
    // Local 08:00 is 00:00 UTC. Fixes every 5 min 08:00–08:20 (20 min), a 40 min gap (offline),
    // every 10 min 09:00–09:30 (30 min), a fix 09:30 repeated (skipped).
    let times: Vec<_> = [(0, 0), (0, 5), (0, 10), (0, 15), (0, 20), (1, 0), (1, 10), (1, 20), (1, 30), (1, 30)]
        .into_iter()
        .map(|(h, m)| utc(h, m, 0))
        .collect();
    let p = presence(&times, day, &rule);
    assert_eq!(p.online_minutes(), 50);
    assert!(p.online);
    let strict = PresenceRule { min_online: Duration::minutes(51), ..rule };
    assert!(!presence(&times, day, &strict).online);
    // A gap over local midnight counts only its part in the day: 23:55–00:05 gives 5 minutes.
    let midnight =
        [Utc.with_ymd_and_hms(2026, 11, 22, 15, 55, 0).unwrap(), Utc.with_ymd_and_hms(2026, 11, 22, 16, 5, 0).unwrap()];
    assert_eq!(presence(&midnight, day, &rule).online_minutes(), 5);
    assert_eq!(presence(&midnight, day.succ_opt().unwrap(), &rule).online_minutes(), 5);
    assert_eq!(presence(&[], day, &rule), Presence { online_time: Duration::zero(), online: false });
}

#[test]
fn online_rate_of_a_region() {
    assert_eq!(online_rate(180, 216), 180.0 / 216.0);
    assert_eq!(online_rate(3, 4), 0.75);
    assert_eq!(online_rate(0, 0), 0.0);
}
