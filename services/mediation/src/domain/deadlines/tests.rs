//! The deadlines on the shipped 2025–2026 calendar (UTC+08:00), with worked examples.

use chrono::{DateTime, TimeZone, Utc};

use super::*;

fn cal() -> BusinessCalendar {
    civicgrid_calendar::shipped()
}

/// A local (UTC+08:00) wall-clock instant.
fn local(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap() - Duration::hours(8)
}

fn due(c: &Clocks) -> Vec<(Kind, DateTime<Utc>)> {
    deadlines(c, &cal(), &Policy::default()).into_iter().map(|d| (d.kind, d.due)).collect()
}

fn clocks(state: State) -> Clocks {
    Clocks { state: Some(state), ..Default::default() }
}

#[test]
fn mediation_runs_30_days_and_ends_with_its_last_day() {
    // Accepted Monday 16 November: the 30th day is Wednesday 16 December, a working day; the
    // period ends when that day does (midnight local).
    let c = Clocks { accepted_at: Some(local(2026, 11, 16, 10)), ..clocks(State::InMediation) };
    assert_eq!(due(&c), [(Kind::Mediation, local(2026, 12, 17, 0))]);
    // With 10 days of consented extension.
    let c = Clocks { extension_days: 10, ..c };
    // 40 days end on Saturday 26 December → Monday 28 December.
    assert_eq!(due(&c), [(Kind::Mediation, local(2026, 12, 29, 0))]);
}

#[test]
fn a_period_ending_on_a_rest_day_or_holiday_ends_on_the_next_working_day() {
    // Accepted Friday 13 November: the 30th day is Sunday 13 December → Monday 14 December.
    let c = Clocks { accepted_at: Some(local(2026, 11, 13, 9)), ..clocks(State::Accepted) };
    assert_eq!(due(&c), [(Kind::Mediation, local(2026, 12, 15, 0))]);
    // Accepted Tuesday 1 September: the 30th day is 1 October, National Day; the holiday runs
    // to 7 October, so the period ends with Thursday 8 October.
    let c = Clocks { accepted_at: Some(local(2026, 9, 1, 9)), ..clocks(State::Accepted) };
    assert_eq!(due(&c), [(Kind::Mediation, local(2026, 10, 9, 0))]);
}

#[test]
fn acceptance_counts_working_days_and_make_up_days() {
    // Applied Friday 20 November: Monday 23, Tuesday 24, Wednesday 25.
    let c = Clocks { opened_at: Some(local(2026, 11, 20, 10)), ..clocks(State::Applied) };
    assert_eq!(due(&c), [(Kind::Acceptance, local(2026, 11, 26, 0))]);
    // Applied Thursday 8 October: Friday 9, Saturday 10 (a make-up working day), Monday 12.
    let c = Clocks { opened_at: Some(local(2026, 10, 8, 10)), ..clocks(State::Applied) };
    assert_eq!(due(&c), [(Kind::Acceptance, local(2026, 10, 13, 0))]);
}

#[test]
fn judicial_confirmation_window_and_the_courts_periods() {
    let effective = local(2026, 11, 16, 15);
    let c = Clocks { agreement_effective_at: Some(effective), ..clocks(State::Agreed) };
    assert_eq!(due(&c), [(Kind::ConfirmationWindow, local(2026, 12, 17, 0))]);
    assert_eq!(confirmation_apply_by(effective, &cal(), &Policy::default()), local(2026, 12, 17, 0));
    // Applied Friday 20 November: the court decides within 3 days, by Monday 23.
    let applied = Clocks { confirmation_applied_at: Some(local(2026, 11, 20, 9)), ..c.clone() };
    assert_eq!(due(&applied), [(Kind::CourtAcceptance, local(2026, 11, 24, 0))]);
    // Accepted Monday 23 November: it rules within 15 days (Tuesday 8 December), or 25 once
    // extended (Friday 18 December).
    let accepted = Clocks { court_accepted_at: Some(local(2026, 11, 23, 9)), ..applied.clone() };
    assert_eq!(due(&accepted), [(Kind::CourtRuling, local(2026, 12, 9, 0))]);
    let extended = Clocks { court_extended: true, ..accepted.clone() };
    assert_eq!(due(&extended), [(Kind::CourtRuling, local(2026, 12, 19, 0))]);
    let ruled = Clocks { court_ruled: true, ..extended };
    assert!(due(&ruled).is_empty());
    assert!(due(&clocks(State::Closed)).is_empty());
}

#[test]
fn warnings_come_once_soon_and_once_passed() {
    let c = Clocks { accepted_at: Some(local(2026, 11, 16, 10)), ..clocks(State::InMediation) };
    let (cal, p) = (cal(), Policy::default());
    // Well before: nothing due, the next is three days before the deadline.
    let (now_due, next) = warnings_due(&c, &cal, &p, &[], local(2026, 12, 1, 9));
    assert!(now_due.is_empty());
    assert_eq!(next, Some(local(2026, 12, 14, 0)));
    // Then the "soon" warning, and next the deadline itself.
    let (now_due, next) = warnings_due(&c, &cal, &p, &[], local(2026, 12, 14, 0));
    assert_eq!(now_due.iter().map(|(w, _)| w.key()).collect::<Vec<_>>(), ["mediation-soon"]);
    assert_eq!(next, Some(local(2026, 12, 17, 0)));
    let given = vec!["mediation-soon".to_string()];
    let (now_due, _) = warnings_due(&c, &cal, &p, &given, local(2026, 12, 15, 0));
    assert!(now_due.is_empty(), "given once");
    let (now_due, next) = warnings_due(&c, &cal, &p, &given, local(2026, 12, 20, 0));
    assert_eq!(now_due.iter().map(|(w, _)| w.key()).collect::<Vec<_>>(), ["mediation-passed"]);
    assert_eq!(next, None);
    // A case first looked at after its deadline gets "passed" only.
    let (now_due, _) = warnings_due(&c, &cal, &p, &[], local(2026, 12, 20, 0));
    assert_eq!(now_due.iter().map(|(w, _)| w.key()).collect::<Vec<_>>(), ["mediation-passed"]);
}
