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
mod tests;
