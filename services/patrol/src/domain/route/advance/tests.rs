//! Tours walked fix by fix: crossings, dwell, windows, order, teams, event order.

use chrono::{DateTime, Duration, NaiveTime, Utc};

use super::*;
use crate::domain::geo::Fence;
use crate::domain::route::{Checkpoint, CheckpointState, Window};
use crate::domain::testutil::{Frame, Rng, utc, zz};

/// Shift 08:00–20:00 local (00:00–12:00 UTC), tour started at 00:05 UTC.
fn times() -> TourTimes {
    TourTimes { started_at: utc(0, 5, 0), shift_start: utc(0, 0, 0), shift_end: utc(12, 0, 0) }
}

fn circle(id: &str, x: f64, y: f64, r: f64) -> Checkpoint {
    Checkpoint {
        id: id.into(),
        fence: Fence::circle(zz().p(x, y), r).unwrap(),
        window: Window::Anytime,
        dwell: Duration::zero(),
    }
}

fn route(ordered: bool, cps: Vec<Checkpoint>) -> Route {
    Route::new("r", ordered, cps).unwrap()
}

fn at(t: DateTime<Utc>, x: f64, y: f64) -> LastFix {
    LastFix { at: t, point: zz().p(x, y) }
}

fn secs(s: f64) -> DateTime<Utc> {
    utc(1, 0, 0) + Duration::microseconds((s * 1e6).round() as i64)
}

/// Walks `member` through `fixes`, returning every event.
struct Walker<'a> {
    route: &'a Route,
    state: TourState,
    last: std::collections::HashMap<String, LastFix>,
}

impl<'a> Walker<'a> {
    fn new(route: &'a Route) -> Self {
        Walker { route, state: TourState::new(route), last: Default::default() }
    }

    fn go(&mut self, member: &str, fix: LastFix) -> Vec<TourEvent> {
        let prev = self.last.get(member).copied();
        let ev = advance(&mut self.state, self.route, &times(), member, prev.as_ref(), fix);
        self.last.insert(member.to_owned(), fix);
        ev
    }

    fn walk(&mut self, member: &str, fixes: &[LastFix]) -> Vec<TourEvent> {
        fixes.iter().flat_map(|f| self.go(member, *f)).collect()
    }

    fn cp(&self, k: usize) -> &CheckpointState {
        &self.state.checkpoints[k]
    }
}

/// Event kinds and checkpoints, compactly: "E:a", "X:a", "C:a".
fn kinds(ev: &[TourEvent]) -> Vec<String> {
    ev.iter()
        .map(|e| match e {
            TourEvent::Entered { checkpoint, .. } => format!("E:{checkpoint}"),
            TourEvent::Exited { checkpoint, .. } => format!("X:{checkpoint}"),
            TourEvent::CheckedIn { checkpoint, .. } => format!("C:{checkpoint}"),
        })
        .collect()
}

fn near(a: DateTime<Utc>, b: DateTime<Utc>) -> bool {
    (a - b).num_microseconds().unwrap().abs() <= 2
}

#[test]
fn a_sparse_device_at_speed_checks_a_small_checkpoint_in() {
    // A 10 m checkpoint 500 m along; fixes 1 km and 100 s apart (10 m/s), none inside.
    let r = route(false, vec![circle("post", 500.0, 0.0, 10.0)]);
    let mut w = Walker::new(&r);
    let ev = w.walk("m1", &[at(secs(0.0), 0.0, 0.0), at(secs(100.0), 1000.0, 0.0)]);
    assert_eq!(kinds(&ev), ["E:post", "C:post", "X:post"]);
    // The edge (+1 cm) is at 489.99 m and 510.01 m.
    assert!(near(ev[0].at(), secs(48.999)) && near(ev[2].at(), secs(51.001)));
    assert_eq!(
        ev[1],
        TourEvent::CheckedIn { checkpoint: "post".into(), at: ev[0].at(), member: "m1".into(), how: How::Crossing }
    );
    assert!(w.cp(0).inside.is_empty());
    // Passing again: entries and exits, no second check-in.
    let ev = w.walk("m1", &[at(secs(200.0), 0.0, 0.0)]);
    assert_eq!(kinds(&ev), ["E:post", "X:post"]);
}

#[test]
fn a_first_fix_inside_enters_and_checks_in() {
    let r = route(false, vec![circle("post", 0.0, 0.0, 30.0)]);
    let mut w = Walker::new(&r);
    let ev = w.go("m1", at(secs(0.0), 5.0, 5.0));
    assert_eq!(kinds(&ev), ["E:post", "C:post"]);
    assert!(ev.iter().all(|e| e.at() == secs(0.0)));
    assert!(matches!(&ev[1], TourEvent::CheckedIn { how: How::Inside, .. }));
    assert_eq!(w.cp(0).inside, [Inside { member: "m1".into(), since: secs(0.0) }]);
    assert!(w.go("m1", at(secs(10.0), 6.0, 5.0)).is_empty(), "staying inside says nothing");
    let ev = w.go("m1", at(secs(20.0), 60.0, 5.0));
    assert_eq!(kinds(&ev), ["X:post"]);
}

#[test]
fn dwell_needs_an_unbroken_stay() {
    let r = route(false, vec![Checkpoint { dwell: Duration::minutes(2), ..circle("gate", 0.0, 0.0, 30.0) }]);
    let mut w = Walker::new(&r);
    // Enter at 70 m of 100 m in 70 s → 48.993 s (edge at 30.01 m); still inside at 130 s.
    let ev = w.walk("m1", &[at(secs(0.0), -100.0, 0.0), at(secs(70.0), 0.0, 0.0), at(secs(130.0), 5.0, 0.0)]);
    assert_eq!(kinds(&ev), ["E:gate"]);
    let entered = ev[0].at();
    assert!(near(entered, secs(48.993)));
    // The next fix at 200 s: two minutes inside were complete at 168.993 s.
    let ev = w.go("m1", at(secs(200.0), 0.0, 5.0));
    assert_eq!(kinds(&ev), ["C:gate"]);
    assert_eq!(ev[0].at(), entered + Duration::minutes(2));
    assert!(matches!(&ev[0], TourEvent::CheckedIn { how: How::Inside, .. }));

    // Another tour: out after 100 s inside, back in: the dwell starts again.
    let mut w = Walker::new(&r);
    let ev = w.walk(
        "m1",
        &[
            at(secs(0.0), 0.0, 0.0),
            at(secs(100.0), 0.0, 10.0),
            at(secs(110.0), 0.0, 80.0),
            at(secs(120.0), 0.0, 0.0),
            at(secs(200.0), 0.0, 0.0),
        ],
    );
    assert_eq!(kinds(&ev), ["E:gate", "X:gate", "E:gate"]);
    assert!(w.cp(0).check_in.is_none());
    let ev = w.go("m1", at(secs(300.0), 0.0, 0.0));
    assert_eq!(kinds(&ev), ["C:gate"]);
    // Re-entered at 110 + 10·(80 − 30.01)/80 s = 116.24875 s; done two minutes later.
    assert!(near(ev[0].at(), secs(116.248_75 + 120.0)));
}

#[test]
fn dwell_may_be_inferred_between_sparse_fixes() {
    // Walking 1 m/s straight through a 30 m circle with fixes 200 m apart: 60 s inside by
    // interpolation, enough for a 45 s dwell but not for 90 s.
    for (dwell, checked) in [(45, true), (90, false)] {
        let r = route(false, vec![Checkpoint { dwell: Duration::seconds(dwell), ..circle("p", 100.0, 0.0, 30.0) }]);
        let mut w = Walker::new(&r);
        let ev = w.walk("m1", &[at(secs(0.0), 0.0, 0.0), at(secs(200.0), 200.0, 0.0)]);
        assert_eq!(w.cp(0).check_in.is_some(), checked, "dwell {dwell}");
        if checked {
            assert_eq!(kinds(&ev), ["E:p", "C:p", "X:p"]);
            assert!(near(ev[1].at(), secs(69.99 + 45.0)));
            assert!(matches!(&ev[1], TourEvent::CheckedIn { how: How::Crossing, .. }));
        }
    }
}

#[test]
fn check_ins_count_only_in_the_window() {
    let hm = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap();
    // 09:00–10:00 local is 01:00–02:00 UTC.
    let cp = Checkpoint { window: Window::Clock { from: hm(9, 0), to: hm(10, 0) }, ..circle("w", 0.0, 0.0, 20.0) };
    let r = route(false, vec![cp.clone()]);
    let mut w = Walker::new(&r);
    let pass = |t0: DateTime<Utc>| [at(t0, -100.0, 0.0), at(t0 + Duration::seconds(20), 100.0, 0.0)];
    // Each pass by another member (one member walking back would pass again in between).
    let ev = w.walk("m1", &pass(utc(0, 30, 0)));
    assert_eq!(kinds(&ev), ["E:w", "X:w"], "before the window");
    let ev = w.walk("m2", &pass(utc(2, 0, 0)));
    assert_eq!(kinds(&ev), ["E:w", "X:w"], "the window is closed at its end");
    let ev = w.walk("m3", &pass(utc(1, 30, 0)));
    assert_eq!(kinds(&ev), ["E:w", "C:w", "X:w"]);

    // Standing inside across the window's start with a 5 min dwell: in at 00:55, the dwell
    // counts from 01:00.
    let r = route(false, vec![Checkpoint { dwell: Duration::minutes(5), ..cp }]);
    let mut w = Walker::new(&r);
    let ev = w.walk("m1", &[at(utc(0, 55, 0), 0.0, 0.0), at(utc(1, 3, 0), 1.0, 0.0), at(utc(1, 10, 0), 0.0, 1.0)]);
    assert_eq!(kinds(&ev), ["E:w", "C:w"]);
    assert_eq!(ev[1].at(), utc(1, 5, 0));
}

#[test]
fn ordered_routes_check_in_in_order() {
    let cps = || vec![circle("a", 0.0, 0.0, 20.0), circle("b", 200.0, 0.0, 20.0), circle("c", 400.0, 0.0, 20.0)];
    let r = route(true, cps());
    let mut w = Walker::new(&r);
    let across = |t: f64, x: f64| [at(secs(t), x, -100.0), at(secs(t + 20.0), x, 100.0)];
    assert_eq!(kinds(&w.walk("m1", &across(0.0, 200.0))), ["E:b", "X:b"], "b before a does not count");
    assert_eq!(kinds(&w.walk("m1", &across(100.0, 0.0))), ["E:a", "C:a", "X:a"]);
    assert_eq!(kinds(&w.walk("m1", &across(200.0, 200.0))), ["E:b", "C:b", "X:b"]);

    // One segment through a then b: both, in order, exit of a before entry of b.
    let mut w = Walker::new(&r);
    let ev = w.walk("m1", &[at(secs(0.0), -50.0, 0.0), at(secs(30.0), 250.0, 0.0)]);
    assert_eq!(kinds(&ev), ["E:a", "C:a", "X:a", "E:b", "C:b", "X:b"]);
    assert!(ev.windows(2).all(|p| p[0].at() <= p[1].at()));
    // Back again through b then a: nothing new; a and b stay checked in.
    let ev = w.go("m1", at(secs(60.0), -50.0, 0.0));
    assert_eq!(kinds(&ev), ["E:b", "X:b", "E:a", "X:a"]);

    // The reverse on a fresh tour: b's stay ended before a checked in.
    let mut w = Walker::new(&r);
    let ev = w.walk("m1", &[at(secs(0.0), 250.0, 0.0), at(secs(30.0), -50.0, 0.0)]);
    assert_eq!(kinds(&ev), ["E:b", "X:b", "E:a", "C:a", "X:a"]);

    // Overlapping a and b: standing in both, b checks in the moment a does.
    let r2 = route(true, vec![circle("a", 0.0, 0.0, 30.0), circle("b", 20.0, 0.0, 30.0)]);
    let mut w = Walker::new(&r2);
    let ev = w.walk("m1", &[at(secs(0.0), 10.0, 0.0)]);
    assert_eq!(kinds(&ev), ["E:a", "E:b", "C:a", "C:b"]);
}

#[test]
fn a_missed_checkpoint_releases_the_next() {
    // a may only be visited in the tour's first 10 minutes (00:05–00:15 UTC).
    let a = Checkpoint {
        window: Window::FromStart { min: Duration::zero(), max: Duration::minutes(10) },
        ..circle("a", 0.0, 0.0, 20.0)
    };
    let r = route(true, vec![a, circle("b", 200.0, 0.0, 20.0)]);
    let mut w = Walker::new(&r);
    let ev = w.walk("m1", &[at(utc(0, 14, 0), 200.0, -100.0), at(utc(0, 14, 20), 200.0, 100.0)]);
    assert_eq!(kinds(&ev), ["E:b", "X:b"], "a is still open");
    // After 00:15 a counts as missed, reported or not.
    let ev = w.walk("m2", &[at(utc(0, 20, 0), 200.0, -100.0), at(utc(0, 20, 20), 200.0, 100.0)]);
    assert_eq!(kinds(&ev), ["E:b", "C:b", "X:b"]);
    assert!(!w.cp(0).missed && w.cp(0).check_in.is_none());
}

#[test]
fn a_team_shares_the_tour_but_not_the_dwell() {
    let r = route(false, vec![Checkpoint { dwell: Duration::minutes(2), ..circle("p", 0.0, 0.0, 30.0) }]);
    let mut w = Walker::new(&r);
    // m1 in for 90 s, m2 in for 90 s overlapping: no one stayed 2 minutes.
    w.go("m1", at(secs(0.0), 0.0, 0.0));
    w.go("m2", at(secs(30.0), 5.0, 0.0));
    w.go("m1", at(secs(90.0), 0.0, 1.0));
    assert_eq!(w.cp(0).inside.len(), 2);
    w.go("m1", at(secs(91.0), 0.0, 60.0));
    w.go("m2", at(secs(120.0), 5.0, 1.0));
    assert!(w.cp(0).check_in.is_none());
    // m2 stays on: checked in by m2 two minutes after m2's first fix inside.
    let ev = w.go("m2", at(secs(200.0), 5.0, 2.0));
    assert_eq!(
        ev,
        [TourEvent::CheckedIn { checkpoint: "p".into(), at: secs(150.0), member: "m2".into(), how: How::Inside }]
    );
    assert_eq!(w.cp(0).inside.len(), 1);
}

#[test]
fn exits_come_before_entries_at_a_shared_edge() {
    let f = zz();
    let sq = |x0: f64| {
        Fence::polygon(vec![f.p(x0, -50.0), f.p(x0 + 100.0, -50.0), f.p(x0 + 100.0, 50.0), f.p(x0, 50.0)]).unwrap()
    };
    let cp =
        |id: &str, x0| Checkpoint { id: id.into(), fence: sq(x0), window: Window::Anytime, dwell: Duration::zero() };
    let r = route(false, vec![cp("east", 100.0), cp("west", 0.0)]);
    let mut w = Walker::new(&r);
    w.go("m1", at(secs(0.0), 50.0, 0.0));
    let ev = w.go("m1", at(secs(10.0), 150.0, 0.0));
    // Both cuts lie on the shared edge x = 100, halfway: at that one instant west is left
    // before east is entered.
    assert_eq!(kinds(&ev), ["X:west", "E:east", "C:east"]);
    assert!(ev.iter().all(|e| e.at() == secs(5.0)));
}

#[test]
fn events_alternate_and_are_sorted_on_random_walks() {
    let f: Frame = zz();
    let mut rng = Rng::new(11);
    let cps: Vec<Checkpoint> = (0..20)
        .map(|i| circle(&format!("c{i}"), rng.range(-500.0, 500.0), rng.range(-500.0, 500.0), rng.range(5.0, 60.0)))
        .collect();
    let r = route(false, cps);
    let mut w = Walker::new(&r);
    let (mut x, mut y) = (0.0, 0.0);
    let mut inside = std::collections::HashMap::<String, bool>::new();
    let mut t = 0.0;
    for _ in 0..3_000 {
        x = (x + rng.range(-80.0, 80.0)).clamp(-600.0, 600.0);
        y = (y + rng.range(-80.0, 80.0)).clamp(-600.0, 600.0);
        t += rng.range(1.0, 30.0);
        let fix = LastFix { at: secs(t), point: f.p(x, y) };
        let ev = w.go("m1", fix);
        assert!(ev.windows(2).all(|p| p[0].at() <= p[1].at()), "{ev:?}");
        for e in &ev {
            let was = inside.entry(e.checkpoint().to_owned()).or_default();
            match e {
                TourEvent::Entered { .. } => assert!(!std::mem::replace(was, true), "entered twice"),
                TourEvent::Exited { .. } => assert!(std::mem::replace(was, false), "exited while out"),
                TourEvent::CheckedIn { .. } => assert!(*was, "checked in while out"),
            }
        }
        for (k, cp) in r.checkpoints().iter().enumerate() {
            assert_eq!(cp.fence.contains(fix.point), inside.get(&cp.id).copied().unwrap_or(false));
            assert_eq!(cp.fence.contains(fix.point), !w.cp(k).inside.is_empty());
        }
    }
    assert!(w.state.checkpoints.iter().filter(|c| c.check_in.is_some()).count() >= 10);
}

#[test]
fn a_check_in_comes_before_the_exit_at_the_same_instant() {
    // In at 0 s at the centre, out through the edge (30.01 m) exactly at 30 s: a 30 s dwell is
    // complete as the member leaves.
    let r = route(false, vec![Checkpoint { dwell: Duration::seconds(30), ..circle("p", 0.0, 0.0, 30.0) }]);
    let mut w = Walker::new(&r);
    w.go("m1", at(secs(0.0), 0.0, 0.0));
    let ev = w.go("m1", at(secs(60.0), 60.02, 0.0));
    assert_eq!(kinds(&ev), ["C:p", "X:p"]);
    assert!(ev.iter().all(|e| e.at() == secs(30.0)));

    // Touching only a square's corner: entered, checked in and left at one instant, in that order.
    let f = zz();
    let sq = Fence::polygon(vec![f.p(-50.0, -50.0), f.p(50.0, -50.0), f.p(50.0, 50.0), f.p(-50.0, 50.0)]).unwrap();
    let r = route(false, vec![Checkpoint { fence: sq, ..circle("corner", 0.0, 0.0, 1.0) }]);
    let mut w = Walker::new(&r);
    let ev = w.walk("m1", &[at(secs(0.0), 0.0, 100.0), at(secs(10.0), 100.0, 0.0)]);
    assert_eq!(kinds(&ev), ["E:corner", "C:corner", "X:corner"]);
    assert!(ev.iter().all(|e| near(e.at(), secs(5.0))));
}
