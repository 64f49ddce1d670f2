//! Unit tests of the assessment formulas: worked examples for a department, a region and a
//! grid worker, past periods and suspended tasks.

use super::*;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_str(&format!("{s} +0800"), "%Y-%m-%d %H:%M %z").unwrap().to_utc()
}

fn november() -> Period {
    Period { from: t("2026-11-01 00:00"), to: t("2026-12-01 00:00") }
}

const CG: &str = "411602001-chengguan";
const ZJ: &str = "411602001-zhujian";
const GW: &str = "gw-411602001001001";

fn record(id: &str, village: &str, facts: &[(&str, RecordedFact)]) -> TaskRecord {
    let mut r = TaskRecord::new(id, region::path_of(village).unwrap(), true);
    for (at, fact) in facts {
        r.apply(t(at), fact);
    }
    r
}

fn assigned(dept: &str, sign_due: &str) -> RecordedFact {
    RecordedFact::Assigned { department_id: dept.into(), sign_due: Some(t(sign_due)) }
}

fn due(at: &str) -> RecordedFact {
    RecordedFact::Due { due_at: Some(t(at)) }
}

fn verified(due: &str) -> RecordedFact {
    RecordedFact::Verified { by: GW.into(), due: Some(t(due)) }
}

fn reported() -> RecordedFact {
    RecordedFact::Reported { grid_worker_id: Some(GW.into()) }
}

/// Six tasks of November 2026 with figures worked out by hand.
fn records() -> Vec<TaskRecord> {
    use RecordedFact::*;
    vec![
        // A: on time all the way; rated satisfied.
        record(
            "A",
            "411602001001",
            &[
                ("2026-11-02 09:00", reported()),
                ("2026-11-02 09:05", assigned(CG, "2026-11-02 11:05")),
                ("2026-11-02 10:00", Signed),
                ("2026-11-02 10:00", due("2026-11-09 00:00")),
                ("2026-11-05 15:00", Resolved),
                ("2026-11-06 10:00", verified("2026-11-07 00:00")),
                ("2026-11-06 11:00", Closed),
                ("2026-11-08 10:00", Rated { rating: Rating::Satisfied }),
            ],
        ),
        // B: signed late, resolved after its deadline, closed: closed but not on time;
        // the grid worker verified late; rated basically satisfied.
        record(
            "B",
            "411602001001",
            &[
                ("2026-11-03 09:00", reported()),
                ("2026-11-03 09:00", assigned(CG, "2026-11-03 11:00")),
                ("2026-11-03 15:00", Signed),
                ("2026-11-03 15:00", due("2026-11-10 00:00")),
                ("2026-11-10 10:00", Resolved),
                ("2026-11-12 10:00", verified("2026-11-12 00:00")),
                ("2026-11-12 11:00", Closed),
                ("2026-11-13 10:00", Rated { rating: Rating::BasicallySatisfied }),
            ],
        ),
        // C: returned by 住建 (not theirs), re-assigned to 城管, fix rejected once, then
        // verified and closed on time; rated dissatisfied, reopened — not closed at the end.
        record(
            "C",
            "411602001002",
            &[
                ("2026-11-04 09:00", assigned(ZJ, "2026-11-04 11:00")),
                ("2026-11-04 10:00", Returned),
                ("2026-11-04 10:30", assigned(CG, "2026-11-04 12:30")),
                ("2026-11-04 11:00", Signed),
                ("2026-11-04 11:00", due("2026-11-11 00:00")),
                ("2026-11-06 10:00", Resolved),
                (
                    "2026-11-07 10:00",
                    RecordedFact::VerificationRejected { by: GW.into(), due: Some(t("2026-11-09 00:00")) },
                ),
                ("2026-11-07 10:00", due("2026-11-14 00:00")),
                ("2026-11-09 10:00", Resolved),
                ("2026-11-10 10:00", verified("2026-11-11 00:00")),
                ("2026-11-10 11:00", Closed),
                ("2026-11-12 10:00", Rated { rating: Rating::Dissatisfied }),
                ("2026-11-12 10:00", Reopened),
                ("2026-11-12 10:00", assigned(CG, "2026-11-12 12:00")),
            ],
        ),
        // D: due in November, still open at its end.
        record(
            "D",
            "411602001001",
            &[
                ("2026-11-20 09:00", assigned(CG, "2026-11-20 11:00")),
                ("2026-11-20 10:00", Signed),
                ("2026-11-20 10:00", due("2026-11-27 00:00")),
            ],
        ),
        // E: due in December: not due in November, though resolved in it.
        record(
            "E",
            "411602001001",
            &[
                ("2026-11-25 09:00", assigned(CG, "2026-11-25 11:00")),
                ("2026-11-25 10:00", Signed),
                ("2026-11-25 10:00", due("2026-12-02 00:00")),
                ("2026-11-27 10:00", Resolved),
            ],
        ),
        // F: a dismissed report of the grid worker: not a case, not a valid report.
        record("F", "411602001001", &[("2026-11-26 09:00", reported()), ("2026-11-26 10:00", Dismissed)]),
    ]
}

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-9)
}

#[test]
fn worked_example_for_a_department() {
    let k = task_kpis(&records(), Scope::Department(CG), november());
    // Due in November: A, B, C, D (E falls due in December, F was dismissed).
    assert_eq!(k.due, 4);
    // Closed by the end: A, B (C was reopened, D is open).
    assert_eq!(k.closed, 2);
    // On time: A only (B resolved on 10th 10:00, after its deadline 10th 00:00).
    assert_eq!(k.closed_on_time, 1);
    assert!(close(k.closure_rate(), 0.5));
    assert!(close(k.on_time_closure_rate(), 0.25));
    // Handled: A, B, C, E; reworked: C.
    assert_eq!((k.handled, k.reworked), (4, 1));
    assert!(close(k.rework_rate(), 0.25));
    // Assignments to 城管: A, B, C (twice: after the return and on reopening), D, E = 6;
    // none returned; signed on time: A, C (first), D, E — B was late, C's reopening not
    // yet signed.
    assert_eq!((k.assigned, k.returned, k.signed_on_time), (6, 0, 4));
    assert!(close(k.on_time_sign_rate(), 4.0 / 6.0));
    // Ratings on 城管's tasks: A satisfied, B basically, C dissatisfied.
    assert_eq!((k.rated, k.satisfied, k.basically_satisfied, k.dissatisfied), (3, 1, 1, 1));
    assert!(close(k.satisfaction_rate(), 2.0 / 3.0));
}

#[test]
fn worked_example_for_the_returning_department_and_the_region() {
    let zj = task_kpis(&records(), Scope::Department(ZJ), november());
    assert_eq!((zj.assigned, zj.returned, zj.signed_on_time, zj.due, zj.handled), (1, 1, 0, 0, 0));
    assert!(close(zj.return_rate(), 1.0));
    assert_eq!(zj.closure_rate(), None);

    let region = task_kpis(&records(), Scope::Region("411602001"), november());
    assert_eq!((region.due, region.closed, region.closed_on_time), (4, 2, 1));
    assert_eq!((region.assigned, region.returned), (7, 1));
    let village = task_kpis(&records(), Scope::Region("411602001002"), november());
    assert_eq!((village.due, village.assigned, village.rated), (1, 3, 1));
    assert_eq!(task_kpis(&records(), Scope::Region("411602002"), november()), TaskKpis::default());
}

#[test]
fn worked_example_for_a_grid_worker() {
    let k = grid_worker_kpis(&records(), GW, november());
    // Reported A, B, F; F dismissed. Verified A (on time), B (late), C twice (on time).
    assert_eq!(k, GridWorkerKpis { reports: 3, valid_reports: 2, verifications: 4, timely_verifications: 3 });
    assert!(close(k.valid_report_rate(), 2.0 / 3.0));
    assert!(close(k.timely_verification_rate(), 0.75));
    // Somebody else did none of it; nothing to rate.
    let other = grid_worker_kpis(&records(), "gw-411602001001002", november());
    assert_eq!(other, GridWorkerKpis::default());
    assert_eq!((other.valid_report_rate(), other.timely_verification_rate()), (None, None));
    // The first week: A and B reported; A verified and C's fix rejected, both in time (B's
    // verification came on the 12th, C's second on the 10th).
    let first_week = Period { from: t("2026-11-01 00:00"), to: t("2026-11-08 00:00") };
    let k = grid_worker_kpis(&records(), GW, first_week);
    assert_eq!(k, GridWorkerKpis { reports: 2, valid_reports: 2, verifications: 2, timely_verifications: 2 });
}

#[test]
fn a_past_period_ignores_later_facts() {
    // October: nothing of this happened yet.
    let october = Period { from: t("2026-10-01 00:00"), to: t("2026-11-01 00:00") };
    assert_eq!(task_kpis(&records(), Scope::All, october), TaskKpis::default());
    // The first half of November: B's rating (13th) and C's reopening (12th) are inside,
    // E and D not yet assigned.
    let first_half = Period { from: t("2026-11-01 00:00"), to: t("2026-11-16 00:00") };
    let k = task_kpis(&records(), Scope::Department(CG), first_half);
    // Due: A, B and C (its deadline moved to the 14th by the rework; reopened, so not closed).
    assert_eq!((k.due, k.closed, k.closed_on_time), (3, 2, 1));
    assert_eq!((k.handled, k.reworked, k.assigned), (3, 1, 4));
}

#[test]
fn a_suspended_task_is_not_due() {
    let mut r = record(
        "S",
        "411602001001",
        &[
            ("2026-11-02 09:00", assigned(CG, "2026-11-02 11:00")),
            ("2026-11-02 10:00", RecordedFact::Signed),
            ("2026-11-02 10:00", due("2026-11-09 00:00")),
        ],
    );
    r.apply(t("2026-11-03 10:00"), &RecordedFact::Due { due_at: None });
    assert_eq!(task_kpis(&[r], Scope::All, november()).due, 0);
}
