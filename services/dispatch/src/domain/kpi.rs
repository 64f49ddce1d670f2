//! Assessment (督查考核): the indicators of departments, regions and grid workers.
//!
//! Every figure is computed from [`TaskRecord`]s, and a record is a fold of the task's recorded
//! facts ([`TaskRecord::apply`]), so any past period can be recomputed. To freeze a period as
//! it stood at its end, build the records from the facts dated before the period's end. The
//! formulas themselves ignore anything dated after the end, so records built later differ only
//! where a later fact replaced what a record keeps as its latest state: the deadline, the
//! department holding the task, a closure undone by a reopening.
//!
//! A period is the half-open interval `[from, to)`. "In the period" means `from ≤ t < to`;
//! "by the end" means `t < to`.
//!
//! **Closing** (one count per task; dismissed reports, 不予立案, are not cases and never count):
//!
//! - 应结案数 *due* = tasks whose handling deadline (the handle stage's deadline, moved by
//!   suspensions and extensions, as last recorded) falls in the period, closed or not. A task
//!   suspended at its last record has no deadline and is not due.
//! - 结案数 *closed* = due tasks closed by the end of the period (also those closed before it).
//! - 按期结案数 *closed on time* = closed tasks whose accepted resolution (the last one, which
//!   verification confirmed) was reported at or before the deadline. The department's clock
//!   stops when it reports the fix; verification and closing run on other people's clocks.
//! - 结案率 = 结案数 / 应结案数; 按期结案率 = 按期结案数 / 应结案数 (so both are at most 100%).
//!
//! **Handling** (per task, or per assignment where said):
//!
//! - 办理数 *handled* = tasks with a resolution reported in the period.
//! - 返工数 *reworked* = handled tasks of which one of those resolutions was sent back for rework
//!   (failed verification or a dissatisfied rating) by the end of the period.
//! - 返工率 = 返工数 / 办理数.
//! - 交办数 *assigned* = assignments made in the period (per assignment: a task re-assigned to
//!   another department counts once for each).
//! - 回退数 *returned* = those assignments returned by the end of the period; 回退率 = 回退数 / 交办数.
//! - 按时签收数 *signed on time* = those assignments signed for at or before their sign-for
//!   deadline, and by the end of the period; 按时签收率 = 按时签收数 / 交办数.
//!
//! **Satisfaction** (回访, per rating, lead tasks only so that an event counts once):
//!
//! - 满意率 = (满意 + 基本满意) / 参评数, over the ratings given in the period. 基本满意 counts
//!   as satisfied, as in the usual 12345 assessment; the three counts are kept apart too.
//!
//! **Grid workers** (per lead task reported by the grid worker, and per verification):
//!
//! - 上报数 *reports* = events the grid worker reported in the period; 有效上报数 *valid reports*
//!   = those not dismissed; 有效上报率 = 有效上报数 / 上报数.
//! - 核查数 *verifications* = verifications (passed or not) the grid worker did in the period;
//!   按时核查数 *timely verifications* = those done at or before the verify stage's deadline;
//!   按时核查率 = 按时核查数 / 核查数.
//!
//! A scope selects what counts: a department counts its assignments and resolutions, and the
//! closing and satisfaction figures of the tasks it holds at the record's end; a region counts
//! everything of the tasks located inside it.

use chrono::{DateTime, Utc};
use civicgrid_kit::region;
use civicgrid_proto::v1::RegionPath;
use serde::{Deserialize, Serialize};

/// A half-open period `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    /// The first instant inside.
    pub from: DateTime<Utc>,
    /// The first instant after.
    pub to: DateTime<Utc>,
}

impl Period {
    /// Whether `at` lies in the period.
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.from <= at && at < self.to
    }

    /// Whether `at` is before the period's end.
    pub fn by_end(&self, at: DateTime<Utc>) -> bool {
        at < self.to
    }
}

/// A reporter's rating of the outcome (回访评价).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rating {
    /// 满意.
    Satisfied,
    /// 基本满意.
    BasicallySatisfied,
    /// 不满意: the task is reopened for rework.
    Dissatisfied,
}

/// One assignment of the task to a department.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssignmentRecord {
    /// The department.
    pub department_id: String,
    /// When.
    pub assigned_at: DateTime<Utc>,
    /// The sign-for deadline (`None`: no limit).
    pub sign_due: Option<DateTime<Utc>>,
    /// When it was signed for.
    pub signed_at: Option<DateTime<Utc>>,
    /// When it was returned.
    pub returned_at: Option<DateTime<Utc>>,
}

/// One reported resolution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolutionRecord {
    /// The department that reported it.
    pub department_id: String,
    /// When.
    pub resolved_at: DateTime<Utc>,
    /// When it was sent back for rework, if it was.
    pub reworked_at: Option<DateTime<Utc>>,
}

/// One verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerificationRecord {
    /// Who verified (the grid worker's id, or the center operator's subject).
    pub by: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The verify stage's deadline (`None`: no limit).
    pub due: Option<DateTime<Utc>>,
    /// Whether the fix was confirmed.
    pub passed: bool,
}

/// One rating.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RatingRecord {
    /// When it was given.
    pub at: DateTime<Utc>,
    /// What.
    pub rating: Rating,
}

/// A fact about a task, as far as assessment cares; each is dated by [`TaskRecord::apply`]'s
/// `at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RecordedFact {
    /// The event was reported (by a grid worker, when `grid_worker_id` is set).
    Reported {
        /// The reporting grid worker.
        grid_worker_id: Option<String>,
    },
    /// `task-assigned` / `task-reopened`: given to a department.
    Assigned {
        /// The department.
        department_id: String,
        /// The sign-for deadline.
        sign_due: Option<DateTime<Utc>>,
    },
    /// `task-signed`.
    Signed,
    /// `task-returned`.
    Returned,
    /// The handle stage's deadline as (re)computed: when the stage starts, on an extension, a
    /// suspension (`None` while suspended) or a resumption.
    Due {
        /// The deadline.
        due_at: Option<DateTime<Utc>>,
    },
    /// `task-resolved`.
    Resolved,
    /// `task-verified`.
    Verified {
        /// Who.
        by: String,
        /// The verify stage's deadline.
        due: Option<DateTime<Utc>>,
    },
    /// `task-reworked`: verification failed.
    VerificationRejected {
        /// Who.
        by: String,
        /// The verify stage's deadline.
        due: Option<DateTime<Utc>>,
    },
    /// `task-closed` after verification.
    Closed,
    /// `task-closed` from triage (不予立案).
    Dismissed,
    /// `task-reopened` after a dissatisfied rating (followed by `Assigned` when it goes back
    /// to a department).
    Reopened,
    /// The reporter's rating, from intake's `event-rated`.
    Rated {
        /// The rating.
        rating: Rating,
    },
}

/// Everything assessment needs about one task, rebuilt from its recorded facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRecord {
    /// The task.
    pub task_id: String,
    /// The event's region path.
    pub region: RegionPath,
    /// Whether it is the lead task (牵头) of its event.
    pub lead: bool,
    /// When the event was reported.
    pub reported_at: Option<DateTime<Utc>>,
    /// The grid worker who reported it.
    pub reporter_grid_worker: Option<String>,
    /// The department holding it now.
    pub department_id: Option<String>,
    /// Every assignment, in order.
    pub assignments: Vec<AssignmentRecord>,
    /// Every resolution, in order.
    pub resolutions: Vec<ResolutionRecord>,
    /// Every verification, in order.
    pub verifications: Vec<VerificationRecord>,
    /// The handling deadline as last recorded.
    pub due_at: Option<DateTime<Utc>>,
    /// When it was closed (cleared when reopened).
    pub closed_at: Option<DateTime<Utc>>,
    /// Whether it was dismissed from triage.
    pub dismissed: bool,
    /// Every rating, in order.
    pub ratings: Vec<RatingRecord>,
}

impl TaskRecord {
    /// An empty record.
    pub fn new(task_id: impl Into<String>, region: RegionPath, lead: bool) -> Self {
        TaskRecord {
            task_id: task_id.into(),
            region,
            lead,
            reported_at: None,
            reporter_grid_worker: None,
            department_id: None,
            assignments: Vec::new(),
            resolutions: Vec::new(),
            verifications: Vec::new(),
            due_at: None,
            closed_at: None,
            dismissed: false,
            ratings: Vec::new(),
        }
    }

    /// Folds one fact dated `at` into the record. Facts must be applied in the order they
    /// happened; a fact that finds nothing to apply to (a sign-for with no open assignment)
    /// changes nothing.
    pub fn apply(&mut self, at: DateTime<Utc>, fact: &RecordedFact) {
        match fact {
            RecordedFact::Reported { grid_worker_id } => {
                self.reported_at = Some(at);
                self.reporter_grid_worker = grid_worker_id.clone();
            }
            RecordedFact::Assigned { department_id, sign_due } => {
                self.department_id = Some(department_id.clone());
                self.assignments.push(AssignmentRecord {
                    department_id: department_id.clone(),
                    assigned_at: at,
                    sign_due: *sign_due,
                    signed_at: None,
                    returned_at: None,
                });
            }
            RecordedFact::Signed => {
                if let Some(a) = self.assignments.last_mut().filter(|a| a.signed_at.is_none()) {
                    a.signed_at = Some(at);
                }
            }
            RecordedFact::Returned => {
                if let Some(a) = self.assignments.last_mut() {
                    a.returned_at = Some(at);
                }
                self.department_id = None;
                self.due_at = None;
            }
            RecordedFact::Due { due_at } => self.due_at = *due_at,
            RecordedFact::Resolved => self.resolutions.push(ResolutionRecord {
                department_id: self.department_id.clone().unwrap_or_default(),
                resolved_at: at,
                reworked_at: None,
            }),
            RecordedFact::Verified { by, due } => {
                self.verifications.push(VerificationRecord { by: by.clone(), at, due: *due, passed: true });
            }
            RecordedFact::VerificationRejected { by, due } => {
                self.verifications.push(VerificationRecord { by: by.clone(), at, due: *due, passed: false });
                self.mark_reworked(at);
            }
            RecordedFact::Closed => self.closed_at = Some(at),
            RecordedFact::Dismissed => {
                self.dismissed = true;
                self.closed_at = Some(at);
            }
            RecordedFact::Reopened => {
                self.closed_at = None;
                self.dismissed = false;
                self.mark_reworked(at);
            }
            RecordedFact::Rated { rating } => self.ratings.push(RatingRecord { at, rating: *rating }),
        }
    }

    fn mark_reworked(&mut self, at: DateTime<Utc>) {
        if let Some(r) = self.resolutions.last_mut().filter(|r| r.reworked_at.is_none()) {
            r.reworked_at = Some(at);
        }
    }
}

/// What a set of indicators covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope<'a> {
    /// Everything.
    All,
    /// One department.
    Department(&'a str),
    /// The tasks located inside a region (any level).
    Region(&'a str),
}

impl Scope<'_> {
    fn task(&self, r: &TaskRecord) -> bool {
        match self {
            Scope::All => true,
            Scope::Department(d) => r.department_id.as_deref() == Some(*d),
            Scope::Region(code) => region::contains(code, &r.region),
        }
    }

    fn department(&self, r: &TaskRecord, department_id: &str) -> bool {
        match self {
            Scope::Department(d) => *d == department_id,
            _ => self.task(r),
        }
    }
}

/// The counts of a scope and period, and the rates built from them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskKpis {
    /// 应结案数.
    pub due: u32,
    /// 结案数.
    pub closed: u32,
    /// 按期结案数.
    pub closed_on_time: u32,
    /// 办理数.
    pub handled: u32,
    /// 返工数.
    pub reworked: u32,
    /// 交办数.
    pub assigned: u32,
    /// 回退数.
    pub returned: u32,
    /// 按时签收数.
    pub signed_on_time: u32,
    /// 参评数.
    pub rated: u32,
    /// 满意.
    pub satisfied: u32,
    /// 基本满意.
    pub basically_satisfied: u32,
    /// 不满意.
    pub dissatisfied: u32,
}

fn rate(numerator: u32, denominator: u32) -> Option<f64> {
    (denominator > 0).then(|| f64::from(numerator) / f64::from(denominator))
}

impl TaskKpis {
    /// 结案率 = 结案数 / 应结案数; `None` when nothing was due.
    pub fn closure_rate(&self) -> Option<f64> {
        rate(self.closed, self.due)
    }

    /// 按期结案率 = 按期结案数 / 应结案数.
    pub fn on_time_closure_rate(&self) -> Option<f64> {
        rate(self.closed_on_time, self.due)
    }

    /// 返工率 = 返工数 / 办理数.
    pub fn rework_rate(&self) -> Option<f64> {
        rate(self.reworked, self.handled)
    }

    /// 回退率 = 回退数 / 交办数.
    pub fn return_rate(&self) -> Option<f64> {
        rate(self.returned, self.assigned)
    }

    /// 按时签收率 = 按时签收数 / 交办数.
    pub fn on_time_sign_rate(&self) -> Option<f64> {
        rate(self.signed_on_time, self.assigned)
    }

    /// 满意率 = (满意 + 基本满意) / 参评数.
    pub fn satisfaction_rate(&self) -> Option<f64> {
        rate(self.satisfied + self.basically_satisfied, self.rated)
    }
}

fn on_time(at: DateTime<Utc>, due: Option<DateTime<Utc>>) -> bool {
    due.is_none_or(|due| at <= due)
}

/// The indicators of `scope` over `period` (formulas in the module documentation).
pub fn task_kpis(records: &[TaskRecord], scope: Scope<'_>, period: Period) -> TaskKpis {
    let mut k = TaskKpis::default();
    for r in records {
        let due = r.due_at.filter(|d| period.contains(*d));
        if let Some(due) = due.filter(|_| scope.task(r) && !r.dismissed) {
            k.due += 1;
            if r.closed_at.is_some_and(|c| period.by_end(c)) {
                k.closed += 1;
                if r.resolutions.last().is_some_and(|res| res.resolved_at <= due) {
                    k.closed_on_time += 1;
                }
            }
        }
        if scope.task(r) && r.lead {
            for rating in r.ratings.iter().filter(|x| period.contains(x.at)) {
                k.rated += 1;
                match rating.rating {
                    Rating::Satisfied => k.satisfied += 1,
                    Rating::BasicallySatisfied => k.basically_satisfied += 1,
                    Rating::Dissatisfied => k.dissatisfied += 1,
                }
            }
        }
        let mut handled = false;
        let mut reworked = false;
        for res in r.resolutions.iter().filter(|x| scope.department(r, &x.department_id)) {
            if period.contains(res.resolved_at) {
                handled = true;
                reworked |= res.reworked_at.is_some_and(|at| period.by_end(at));
            }
        }
        k.handled += u32::from(handled);
        k.reworked += u32::from(reworked);
        for a in
            r.assignments.iter().filter(|a| scope.department(r, &a.department_id) && period.contains(a.assigned_at))
        {
            k.assigned += 1;
            k.returned += u32::from(a.returned_at.is_some_and(|at| period.by_end(at)));
            k.signed_on_time += u32::from(a.signed_at.is_some_and(|at| period.by_end(at) && on_time(at, a.sign_due)));
        }
    }
    k
}

/// A grid worker's counts for a period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GridWorkerKpis {
    /// 上报数.
    pub reports: u32,
    /// 有效上报数.
    pub valid_reports: u32,
    /// 核查数.
    pub verifications: u32,
    /// 按时核查数.
    pub timely_verifications: u32,
}

impl GridWorkerKpis {
    /// 有效上报率 = 有效上报数 / 上报数; `None` when nothing was reported.
    pub fn valid_report_rate(&self) -> Option<f64> {
        rate(self.valid_reports, self.reports)
    }

    /// 按时核查率 = 按时核查数 / 核查数; `None` when nothing was verified.
    pub fn timely_verification_rate(&self) -> Option<f64> {
        rate(self.timely_verifications, self.verifications)
    }
}

/// The counts of grid worker `worker_id` over `period` (formulas in the module documentation).
pub fn grid_worker_kpis(records: &[TaskRecord], worker_id: &str, period: Period) -> GridWorkerKpis {
    let mut k = GridWorkerKpis::default();
    for r in records {
        let reported_here = r.reported_at.is_some_and(|at| period.contains(at));
        if r.lead && reported_here && r.reporter_grid_worker.as_deref() == Some(worker_id) {
            k.reports += 1;
            k.valid_reports += u32::from(!r.dismissed);
        }
        for v in r.verifications.iter().filter(|v| v.by == worker_id && period.contains(v.at)) {
            k.verifications += 1;
            k.timely_verifications += u32::from(on_time(v.at, v.due));
        }
    }
    k
}

#[cfg(test)]
mod tests {
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
}
