//! The deadlines of a case, counted on the business calendar, and the warnings they give.
//!
//! Periods in days follow procedure law: the day a period starts is not counted, and a period
//! whose last day is a rest day or a public holiday ends on the next working day; every period
//! ends at the end of its last day (local time). See docs/mediation.md for each source.

use chrono::{DateTime, Duration, Utc};
use civicgrid_calendar::{BusinessCalendar, periods};
use civicgrid_kit::time::to_proto;
use civicgrid_proto::v1::CaseDeadline;

use super::case::State;

/// The deadlines a case can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Acceptance (受理) after the application.
    Acceptance,
    /// The mediation itself, from acceptance.
    Mediation,
    /// The parties' window to apply for judicial confirmation.
    ConfirmationWindow,
    /// The court's decision to accept the application.
    CourtAcceptance,
    /// The court's ruling.
    CourtRuling,
}

impl Kind {
    /// The deadline's name in answers and facts.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Acceptance => "acceptance",
            Kind::Mediation => "mediation",
            Kind::ConfirmationWindow => "confirmation-window",
            Kind::CourtAcceptance => "court-acceptance",
            Kind::CourtRuling => "court-ruling",
        }
    }

    /// How long before the deadline the "soon" warning comes.
    fn warn_before(self) -> Option<Duration> {
        match self {
            Kind::Acceptance => Some(Duration::days(1)),
            Kind::Mediation => Some(Duration::days(3)),
            Kind::ConfirmationWindow => Some(Duration::days(5)),
            Kind::CourtAcceptance | Kind::CourtRuling => None,
        }
    }
}

/// The lengths the platform counts with (`[mediation]` settings and the law).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    /// Working days to accept or refuse an application.
    pub acceptance_working_days: u32,
    /// Days of mediation from acceptance, before extensions (30).
    pub mediation_days: u32,
    /// Days to apply for judicial confirmation after the agreement took effect (30).
    pub confirmation_window_days: u32,
    /// Days the court has to accept an application (3).
    pub court_acceptance_days: u32,
    /// Days the court has to rule after accepting (15).
    pub court_ruling_days: u32,
    /// Days it may extend the ruling by (10).
    pub court_extension_days: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            acceptance_working_days: 3,
            mediation_days: 30,
            confirmation_window_days: 30,
            court_acceptance_days: 3,
            court_ruling_days: 15,
            court_extension_days: 10,
        }
    }
}

/// What the deadlines of a case are computed from.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Clocks {
    /// Where the case stands.
    pub state: Option<State>,
    /// When it was opened (applied for).
    pub opened_at: Option<DateTime<Utc>>,
    /// When it was accepted; reset when it is reopened.
    pub accepted_at: Option<DateTime<Utc>>,
    /// Days of consented extension.
    pub extension_days: i32,
    /// When the agreement took effect.
    pub agreement_effective_at: Option<DateTime<Utc>>,
    /// When the parties applied for confirmation.
    pub confirmation_applied_at: Option<DateTime<Utc>>,
    /// When the court accepted the application.
    pub court_accepted_at: Option<DateTime<Utc>>,
    /// Whether the court extended its ruling period.
    pub court_extended: bool,
    /// Whether the court ruled.
    pub court_ruled: bool,
}

/// One deadline and whether it is passed at an instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Deadline {
    /// Which.
    pub kind: Kind,
    /// When it ends.
    pub due: DateTime<Utc>,
}

impl Deadline {
    /// The contract's form at `now`.
    pub fn to_proto(self, now: DateTime<Utc>) -> CaseDeadline {
        CaseDeadline { name: self.kind.as_str().to_string(), due: Some(to_proto(self.due)), overdue: now >= self.due }
    }
}

/// The deadlines that apply to the case now (the steps not taken yet).
pub fn deadlines(c: &Clocks, cal: &BusinessCalendar, p: &Policy) -> Vec<Deadline> {
    let mut out = Vec::new();
    let days = |from: DateTime<Utc>, n: u32| periods::days_period_end(cal, from, n);
    match c.state {
        Some(State::Applied) => {
            if let Some(opened) = c.opened_at {
                out.push(Deadline {
                    kind: Kind::Acceptance,
                    due: periods::working_days_end(cal, opened, p.acceptance_working_days),
                });
            }
        }
        Some(State::Accepted | State::InMediation) => {
            if let Some(accepted) = c.accepted_at {
                let n = p.mediation_days + c.extension_days.max(0) as u32;
                out.push(Deadline { kind: Kind::Mediation, due: days(accepted, n) });
            }
        }
        Some(State::Agreed) => match (c.agreement_effective_at, c.confirmation_applied_at, c.court_accepted_at) {
            (Some(effective), None, _) => {
                out.push(Deadline { kind: Kind::ConfirmationWindow, due: days(effective, p.confirmation_window_days) })
            }
            (_, Some(applied), None) => {
                out.push(Deadline { kind: Kind::CourtAcceptance, due: days(applied, p.court_acceptance_days) })
            }
            (_, Some(_), Some(accepted)) if !c.court_ruled => {
                let n = p.court_ruling_days + if c.court_extended { p.court_extension_days } else { 0 };
                out.push(Deadline { kind: Kind::CourtRuling, due: days(accepted, n) })
            }
            _ => {}
        },
        _ => {}
    }
    out
}

/// The end of the confirmation window of an agreement that took effect at `effective`.
pub fn confirmation_apply_by(effective: DateTime<Utc>, cal: &BusinessCalendar, p: &Policy) -> DateTime<Utc> {
    periods::days_period_end(cal, effective, p.confirmation_window_days)
}

/// A warning a deadline gives: that it is near, or that it passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Warning {
    /// The deadline.
    pub kind: Kind,
    /// True: it passed; false: it is near.
    pub passed: bool,
}

impl Warning {
    /// Its key in the case's record of warnings given, e.g. `mediation-soon`.
    pub fn key(self) -> String {
        format!("{}-{}", self.kind.as_str(), if self.passed { "passed" } else { "soon" })
    }
}

/// The warnings due at `now` that were not given yet (their keys are in `given`), and the
/// instant the next one falls due (for the case's indexed `next_warning_at`).
pub fn warnings_due(
    c: &Clocks,
    cal: &BusinessCalendar,
    p: &Policy,
    given: &[String],
    now: DateTime<Utc>,
) -> (Vec<(Warning, Deadline)>, Option<DateTime<Utc>>) {
    let mut due = Vec::new();
    let mut next: Option<DateTime<Utc>> = None;
    for d in deadlines(c, cal, p) {
        let soon = d.kind.warn_before().map(|before| (Warning { kind: d.kind, passed: false }, d.due - before));
        let passed = Some((Warning { kind: d.kind, passed: true }, d.due));
        for (w, at) in [soon, passed].into_iter().flatten() {
            if given.contains(&w.key()) {
                continue;
            }
            if at <= now {
                // A "soon" warning is left out once the deadline has passed: "passed" says it.
                if w.passed || now < d.due {
                    due.push((w, d));
                }
            } else {
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        }
    }
    (due, next)
}

#[cfg(test)]
mod tests;
