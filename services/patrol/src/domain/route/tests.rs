//! Routes, windows, misses, the next due time and manual check-ins.

use chrono::{Duration, NaiveTime, TimeZone, Utc};

use super::*;
use crate::domain::fix::LastFix;
use crate::domain::geo::Fence;
use crate::domain::testutil::{utc, zz};

/// A local (UTC+08:00) wall-clock instant on 2026-11-22 (or the next day with `d = 23`).
fn local(d: u32, h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, d, h, m, 0).unwrap() - Duration::hours(8)
}

fn hm(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).unwrap()
}

/// A day shift 08:00–20:00 local, the tour started at 08:10.
fn day_shift() -> TourTimes {
    TourTimes { started_at: local(22, 8, 10), shift_start: local(22, 8, 0), shift_end: local(22, 20, 0) }
}

/// A night shift 20:00–08:00 local.
fn night_shift() -> TourTimes {
    TourTimes { started_at: local(22, 20, 0), shift_start: local(22, 20, 0), shift_end: local(23, 8, 0) }
}

fn cp(id: &str, x: f64, window: Window) -> Checkpoint {
    Checkpoint { id: id.into(), fence: Fence::circle(zz().p(x, 0.0), 20.0).unwrap(), window, dwell: Duration::zero() }
}

#[test]
fn window_bounds() {
    let day = day_shift();
    assert_eq!(Window::Anytime.bounds(&day), (day.shift_start, day.shift_end));
    let w = Window::FromStart { min: Duration::minutes(30), max: Duration::minutes(90) };
    assert_eq!(w.bounds(&day), (local(22, 8, 40), local(22, 9, 40)));
    // Clipped to the shift's end.
    let w = Window::FromStart { min: Duration::hours(11), max: Duration::hours(13) };
    assert_eq!(w.bounds(&day), (local(22, 19, 10), local(22, 20, 0)));
    let w = Window::Clock { from: hm(9, 0), to: hm(10, 30) };
    assert_eq!(w.bounds(&day), (local(22, 9, 0), local(22, 10, 30)));
    // Before the shift's start: clipped.
    let w = Window::Clock { from: hm(7, 0), to: hm(9, 0) };
    assert_eq!(w.bounds(&day), (local(22, 8, 0), local(22, 9, 0)));
    // Wholly after the shift: empty, ending when the shift does.
    let (s, e) = Window::Clock { from: hm(21, 0), to: hm(22, 0) }.bounds(&day);
    assert!(s >= e && e == day.shift_end);

    // A night shift: 23:00–01:00 runs past midnight; 01:00–02:00 is the next morning's.
    let night = night_shift();
    let w = Window::Clock { from: hm(23, 0), to: hm(1, 0) };
    assert_eq!(w.bounds(&night), (local(22, 23, 0), local(23, 1, 0)));
    let w = Window::Clock { from: hm(1, 0), to: hm(2, 0) };
    assert_eq!(w.bounds(&night), (local(23, 1, 0), local(23, 2, 0)));
    // A shift starting at 00:30 is inside the window that began the evening before.
    let early = TourTimes { started_at: local(23, 0, 30), shift_start: local(23, 0, 30), shift_end: local(23, 6, 0) };
    let w = Window::Clock { from: hm(23, 0), to: hm(1, 0) };
    assert_eq!(w.bounds(&early), (local(23, 0, 30), local(23, 1, 0)));
}

#[test]
fn local_days_and_instants() {
    // 16:30 UTC is 00:30 the next day in China.
    assert_eq!(local_date(utc(16, 30, 0)), chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap());
    assert_eq!(local_date(utc(15, 59, 59)), chrono::NaiveDate::from_ymd_opt(2026, 11, 22).unwrap());
    assert_eq!(local_instant(chrono::NaiveDate::from_ymd_opt(2026, 11, 22).unwrap(), hm(8, 0)), utc(0, 0, 0));
}

#[test]
fn route_validation() {
    let ok = |c: Vec<Checkpoint>| Route::new("r", true, c);
    assert!(ok(vec![]).is_ok());
    assert!(ok(vec![cp("a", 0.0, Window::Anytime), cp("b", 100.0, Window::Anytime)]).is_ok());
    let e = ok(vec![cp("a", 0.0, Window::Anytime), cp("a", 100.0, Window::Anytime)]).unwrap_err();
    assert_eq!(e, RouteError::DuplicateId { index: 1, id: "a".into() });
    assert_eq!(e.field(), "checkpoints[1].id");
    assert_eq!(ok(vec![cp("", 0.0, Window::Anytime)]).unwrap_err().field(), "checkpoints[0].id");
    let bad_windows = [
        Window::Clock { from: hm(9, 0), to: hm(9, 0) },
        Window::FromStart { min: Duration::minutes(10), max: Duration::minutes(10) },
        Window::FromStart { min: Duration::minutes(-1), max: Duration::minutes(10) },
    ];
    for w in bad_windows {
        let e = ok(vec![cp("a", 0.0, Window::Anytime), cp("b", 0.0, w)]).unwrap_err();
        assert_eq!(e, RouteError::Window { index: 1 });
        assert_eq!(e.field(), "checkpoints[1].window");
    }
    let neg = Checkpoint { dwell: Duration::seconds(-1), ..cp("a", 0.0, Window::Anytime) };
    assert_eq!(ok(vec![neg]).unwrap_err().field(), "checkpoints[0].dwell");
    let many: Vec<Checkpoint> = (0..201).map(|i| cp(&i.to_string(), 0.0, Window::Anytime)).collect();
    assert_eq!(ok(many).unwrap_err(), RouteError::TooManyCheckpoints { count: 201 });
    let route = ok(vec![cp("a", 0.0, Window::Anytime), cp("b", 100.0, Window::Anytime)]).unwrap();
    assert_eq!((route.id(), route.ordered(), route.checkpoints().len(), route.position("b")), ("r", true, 2, Some(1)));
}

#[test]
fn route_serde_round_trip_validates() {
    let route = Route::new(
        "r1",
        false,
        vec![Checkpoint {
            dwell: Duration::seconds(90),
            ..cp("gate", 0.0, Window::Clock { from: hm(9, 0), to: hm(10, 0) })
        }],
    )
    .unwrap();
    let json = serde_json::to_string(&route).unwrap();
    assert!(json.contains(r#""window":{"kind":"clock","from":"09:00:00","to":"10:00:00"}"#), "{json}");
    assert_eq!(serde_json::from_str::<Route>(&json).unwrap(), route);
    let dup = json.replace(r#""checkpoints":["#, r#""checkpoints":[{"id":"gate","fence":{"kind":"circle","center":{"lat":34.75,"lng":113.62},"radius_m":5.0},"window":{"kind":"anytime"},"dwell":[0,0]},"#);
    assert!(serde_json::from_str::<Route>(&dup).unwrap_err().to_string().contains("checkpoints[1].id"));
}

fn three() -> Route {
    Route::new(
        "r",
        false,
        vec![
            cp("a", 0.0, Window::FromStart { min: Duration::zero(), max: Duration::hours(1) }),
            cp("b", 100.0, Window::Clock { from: hm(9, 0), to: hm(10, 0) }),
            cp("c", 200.0, Window::Anytime),
        ],
    )
    .unwrap()
}

#[test]
fn misses_next_due_and_completion() {
    let (route, times) = (three(), day_shift());
    let mut st = TourState::new(&route);
    // a closes at 09:10 (an hour after the 08:10 start), b at 10:00, c at 20:00.
    assert_eq!(next_due(&st, &route, &times), Some(local(22, 9, 10)));
    assert!(misses(&mut st, &route, &times, local(22, 9, 9)).is_empty());
    assert_eq!(misses(&mut st, &route, &times, local(22, 9, 10)), ["a"]);
    assert!(misses(&mut st, &route, &times, local(22, 9, 30)).is_empty(), "reported once");
    assert_eq!(next_due(&st, &route, &times), Some(local(22, 10, 0)));
    // b is checked in: c is the next due.
    st.checkpoints[1].check_in = Some(CheckIn { at: local(22, 9, 5), member: "m".into(), how: How::Inside });
    assert_eq!(next_due(&st, &route, &times), Some(local(22, 20, 0)));
    assert!(!is_complete(&st, &route));
    assert_eq!(misses(&mut st, &route, &times, local(22, 21, 0)), ["c"]);
    assert!(is_complete(&st, &route));
    assert_eq!(next_due(&st, &route, &times), None);
    // An empty route is complete from the start.
    let empty = Route::new("e", false, vec![]).unwrap();
    assert!(is_complete(&TourState::new(&empty), &empty));
    assert_eq!(next_due(&TourState::new(&empty), &empty, &times), None);
}

fn manual(
    st: &mut TourState,
    route: &Route,
    checkpoint: &str,
    position: Option<&LastFix>,
    now: DateTime<Utc>,
) -> Result<TourEvent, ManualRefusal> {
    let req = ManualCheckIn { checkpoint, member: "m1", position, now };
    manual_check_in(st, route, &day_shift(), &req, &ManualRule::default())
}

#[test]
fn manual_check_in_needs_a_recent_near_position() {
    let f = zz();
    let route = three();
    let mut st = TourState::new(&route);
    let now = local(22, 9, 30);
    let near = LastFix { at: now - Duration::seconds(30), point: f.p(130.0, 0.0) }; // 10 m from b's edge
    assert_eq!(manual(&mut st, &route, "x", Some(&near), now), Err(ManualRefusal::UnknownCheckpoint));
    assert_eq!(manual(&mut st, &route, "b", None, now), Err(ManualRefusal::NoPosition));
    let old = LastFix { at: now - Duration::minutes(3), ..near };
    assert_eq!(manual(&mut st, &route, "b", Some(&old), now), Err(ManualRefusal::StalePosition { age_s: 180 }));
    let far = LastFix { point: f.p(180.0, 0.0), ..near }; // 60 m from b's edge
    let Err(ManualRefusal::TooFar { distance_m }) = manual(&mut st, &route, "b", Some(&far), now) else { panic!() };
    assert!((distance_m - 60.0).abs() < 0.01);
    assert_eq!(manual(&mut st, &route, "b", Some(&near), local(22, 8, 59)), Err(ManualRefusal::OutsideWindow));
    assert_eq!(manual(&mut st, &route, "b", Some(&near), local(22, 10, 0)), Err(ManualRefusal::OutsideWindow));
    let ev = manual(&mut st, &route, "b", Some(&near), now).unwrap();
    assert_eq!(ev, TourEvent::CheckedIn { checkpoint: "b".into(), at: now, member: "m1".into(), how: How::Manual });
    assert_eq!(st.checkpoints[1].check_in.as_ref().map(|c| c.how), Some(How::Manual));
    assert_eq!(manual(&mut st, &route, "b", Some(&near), now), Err(ManualRefusal::AlreadyCheckedIn));
    misses(&mut st, &route, &day_shift(), local(22, 9, 10));
    let at_a = LastFix { at: now, point: f.p(0.0, 0.0) };
    assert_eq!(manual(&mut st, &route, "a", Some(&at_a), now), Err(ManualRefusal::Missed));
    assert_eq!(ManualRefusal::TooFar { distance_m: 1.0 }.as_str(), "too_far");
}

#[test]
fn manual_check_in_in_order_and_by_polygon_distance() {
    let f = zz();
    let square = Fence::polygon(vec![f.p(-50.0, -50.0), f.p(50.0, -50.0), f.p(50.0, 50.0), f.p(-50.0, 50.0)]).unwrap();
    let route = Route::new(
        "r",
        true,
        vec![
            cp("a", 500.0, Window::Anytime),
            Checkpoint { id: "yard".into(), fence: square, window: Window::Anytime, dwell: Duration::minutes(5) },
        ],
    )
    .unwrap();
    let mut st = TourState::new(&route);
    let now = local(22, 9, 0);
    let by_yard = LastFix { at: now, point: f.p(90.0, 20.0) }; // 40 m east of the east edge
    let req = |now| ManualCheckIn { checkpoint: "yard", member: "m2", position: Some(&by_yard), now };
    let rule = ManualRule::default();
    assert_eq!(manual_check_in(&mut st, &route, &day_shift(), &req(now), &rule), Err(ManualRefusal::OutOfOrder));
    st.checkpoints[0].check_in = Some(CheckIn { at: local(22, 8, 50), member: "m1".into(), how: How::Inside });
    assert!(manual_check_in(&mut st, &route, &day_shift(), &req(now), &rule).is_ok(), "40 m is near enough");
    let strict = ManualRule { max_distance_m: 30.0, ..rule };
    st.checkpoints[1].check_in = None;
    let Err(ManualRefusal::TooFar { distance_m }) = manual_check_in(&mut st, &route, &day_shift(), &req(now), &strict)
    else {
        panic!("refused for distance")
    };
    assert!((distance_m - 40.0).abs() < 1e-6);
}
