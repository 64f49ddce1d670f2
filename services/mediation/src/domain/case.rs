//! The case state machine: which action may be taken from which state, by whom, and what it
//! becomes — the next state and the facts to record. Pure: the use cases load the case, ask
//! [`decide`], and write what it says. docs/mediation.md has the same table in prose.

use chrono::{DateTime, Utc};
use civicgrid_proto::v1::{CaseState, RiskLevel, TransferTarget};

/// Where a case stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Applied for, waiting for acceptance.
    Applied,
    /// Accepted; no session yet.
    Accepted,
    /// Sessions scheduled or held.
    InMediation,
    /// An agreement took effect.
    Agreed,
    /// Mediation failed.
    Failed,
    /// Refused at acceptance. Final.
    Refused,
    /// Withdrawn. Final.
    Withdrawn,
    /// Transferred out. Final.
    Transferred,
    /// Closed. Final.
    Closed,
}

impl State {
    /// Every state.
    pub const ALL: [State; 9] = [
        State::Applied,
        State::Accepted,
        State::InMediation,
        State::Agreed,
        State::Failed,
        State::Refused,
        State::Withdrawn,
        State::Transferred,
        State::Closed,
    ];

    /// Whether nothing more can happen to the case.
    pub fn is_final(self) -> bool {
        matches!(self, State::Refused | State::Withdrawn | State::Transferred | State::Closed)
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Applied => "applied",
            State::Accepted => "accepted",
            State::InMediation => "in_mediation",
            State::Agreed => "agreed",
            State::Failed => "failed",
            State::Refused => "refused",
            State::Withdrawn => "withdrawn",
            State::Transferred => "transferred",
            State::Closed => "closed",
        }
    }

    /// The state of a stored name.
    pub fn parse(name: &str) -> Option<State> {
        State::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// The contract's state.
    pub fn to_proto(self) -> CaseState {
        match self {
            State::Applied => CaseState::Applied,
            State::Accepted => CaseState::Accepted,
            State::InMediation => CaseState::InMediation,
            State::Agreed => CaseState::Agreed,
            State::Failed => CaseState::Failed,
            State::Refused => CaseState::Refused,
            State::Withdrawn => CaseState::Withdrawn,
            State::Transferred => CaseState::Transferred,
            State::Closed => CaseState::Closed,
        }
    }

    /// The state of the contract's state (`None` for UNSPECIFIED).
    pub fn from_proto(state: CaseState) -> Option<State> {
        State::ALL.into_iter().find(|s| s.to_proto() == state)
    }
}

/// A step of the court's judicial-confirmation procedure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CourtStep {
    /// The court accepted the application (受理).
    Accepted,
    /// The court extended its ruling period by 10 days.
    Extended,
    /// The court confirmed the agreement as valid (确认有效).
    Confirmed,
    /// The court ruled it not valid (不予确认): the parties mediate again or sue.
    Invalid,
}

impl CourtStep {
    /// The step of its request name.
    pub fn parse(step: &str) -> Option<CourtStep> {
        match step {
            "accepted" => Some(CourtStep::Accepted),
            "extended" => Some(CourtStep::Extended),
            "confirmed" => Some(CourtStep::Confirmed),
            "invalid" => Some(CourtStep::Invalid),
            _ => None,
        }
    }
}

/// How an agreement is being performed, as a follow-up found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Performance {
    /// 履行完毕.
    Performed,
    /// 正在履行.
    Performing,
    /// 未履行: breached.
    Breached,
}

impl Performance {
    /// The performance of its request name.
    pub fn parse(name: &str) -> Option<Performance> {
        match name {
            "performed" => Some(Performance::Performed),
            "performing" => Some(Performance::Performing),
            "breached" => Some(Performance::Breached),
            _ => None,
        }
    }

    /// The request name.
    pub fn as_str(self) -> &'static str {
        match self {
            Performance::Performed => "performed",
            Performance::Performing => "performing",
            Performance::Breached => "breached",
        }
    }
}

/// What a caller asks to do with a case.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Add parties, restate the facts or the amount, before the outcome.
    Amend,
    /// 受理.
    Accept,
    /// 不予受理.
    Refuse,
    /// Assign (or reassign) a mediator.
    Assign,
    /// Change the risk level.
    SetRisk(RiskLevel),
    /// Schedule a session.
    ScheduleSession,
    /// Record a scheduled session as held or adjourned.
    RecordSession {
        /// Adjourned rather than held.
        adjourned: bool,
    },
    /// Extend the mediation limit by this many days (both parties consented).
    Extend(i32),
    /// Record the agreement, signed and sealed.
    RecordAgreement,
    /// Record that mediation failed.
    RecordNoAgreement,
    /// The applicant withdraws.
    Withdraw,
    /// Transfer out.
    Transfer(TransferTarget),
    /// The parties apply for judicial confirmation.
    ApplyConfirmation,
    /// A step of the court.
    Court(CourtStep),
    /// A follow-up visit; with a breach, `reopen` mediates again.
    FollowUp {
        /// What it found.
        performance: Performance,
        /// Mediate again after a breach.
        reopen: bool,
    },
    /// Close a case whose outcome is final.
    Close,
}

impl Action {
    /// The action's name in messages.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Amend => "amend",
            Action::Accept => "accept",
            Action::Refuse => "refuse",
            Action::Assign => "assign",
            Action::SetRisk(_) => "set_risk",
            Action::ScheduleSession => "schedule_session",
            Action::RecordSession { .. } => "record_session",
            Action::Extend(_) => "extend",
            Action::RecordAgreement => "record_agreement",
            Action::RecordNoAgreement => "record_no_agreement",
            Action::Withdraw => "withdraw",
            Action::Transfer(_) => "transfer",
            Action::ApplyConfirmation => "apply_confirmation",
            Action::Court(_) => "record_confirmation",
            Action::FollowUp { .. } => "record_follow_up",
            Action::Close => "close",
        }
    }
}

/// How the caller stands to the case (decided by `visibility`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// A platform administrator.
    Admin,
    /// The organisation (committee) handling the case.
    Organisation,
    /// The justice office (司法所) of the case's township.
    JusticeOffice,
    /// The mediator assigned to the case.
    Mediator,
    /// A command center whose region holds the case.
    Center,
    /// Someone who may see the case but take no action on it.
    Reader,
}

/// What the machine needs to know of a case beyond its state.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CaseView {
    /// Where it stands (`None` is refused as corrupt by the use case before asking).
    pub state: Option<State>,
    /// Its risk level.
    pub risk: RiskLevel,
    /// Days the mediation limit was extended by so far.
    pub extension_days: i32,
    /// Whether a session is scheduled and not yet recorded.
    pub has_open_session: bool,
    /// The last day to apply for judicial confirmation (after an agreement took effect).
    pub confirmation_apply_by: Option<DateTime<Utc>>,
    /// Whether the parties applied for confirmation.
    pub confirmation_applied: bool,
    /// Whether the court accepted the application.
    pub court_accepted: bool,
    /// Whether the court extended its ruling period.
    pub court_extended: bool,
    /// Whether the court ruled.
    pub court_ruled: bool,
    /// Whether a follow-up found the agreement performed.
    pub performed: bool,
    /// Whether the case still lacks an applicant or a respondent (a case opened from a
    /// dispatched report starts without parties): it cannot be accepted yet.
    pub parties_missing: bool,
}

/// The most days the mediation limit may be extended by in all.
pub const MAX_EXTENSION_DAYS: i32 = 60;

/// Why an action was not taken.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CaseError {
    /// The caller's standing does not allow the action (PERMISSION_DENIED).
    #[error("{action} is not allowed: {why}")]
    NotAllowed {
        /// The action.
        action: &'static str,
        /// Who may.
        why: &'static str,
    },
    /// Not in this state, or not now (FAILED_PRECONDITION).
    #[error("{action} is not possible: {why}")]
    NotNow {
        /// The action.
        action: &'static str,
        /// Why not.
        why: String,
    },
    /// A field of the request cannot be used (INVALID_ARGUMENT).
    #[error("{field}: {problem}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong.
        problem: String,
    },
}

/// What an action does.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The state after it.
    pub to: State,
    /// The facts to record and publish, in order.
    pub facts: Vec<&'static str>,
}

/// Who may take an action, by standing.
fn allowed(action: &Action, standing: Standing) -> Result<(), &'static str> {
    use Standing::*;
    let (ok, why) = match action {
        Action::Accept | Action::Refuse | Action::Assign | Action::Transfer(_) | Action::Close => (
            matches!(standing, Admin | Organisation | JusticeOffice),
            "only the case's organisation, its justice office or an admin may",
        ),
        Action::SetRisk(_) => (
            matches!(standing, Admin | Organisation | JusticeOffice | Mediator | Center),
            "only those handling the case or a center over it may",
        ),
        _ => (
            matches!(standing, Admin | Organisation | JusticeOffice | Mediator),
            "only the case's mediator, its organisation, its justice office or an admin may",
        ),
    };
    if ok { Ok(()) } else { Err(why) }
}

/// Decides `action` on `case` by a caller of `standing` at `now`.
pub fn decide(case: &CaseView, standing: Standing, action: &Action, now: DateTime<Utc>) -> Result<Decision, CaseError> {
    let name = action.name();
    allowed(action, standing).map_err(|why| CaseError::NotAllowed { action: name, why })?;
    let state =
        case.state.ok_or_else(|| CaseError::NotNow { action: name, why: "the case's state is unknown".into() })?;
    let not_in =
        |what: &str| CaseError::NotNow { action: name, why: format!("{what} while the case is {}", state.as_str()) };
    if state.is_final() {
        return Err(not_in("nothing can be done"));
    }
    let open = matches!(state, State::Accepted | State::InMediation);
    let decision = |to: State, facts: &[&'static str]| Ok(Decision { to, facts: facts.to_vec() });
    match action {
        Action::Amend if matches!(state, State::Applied | State::Accepted | State::InMediation) => {
            decision(state, &["case-amended"])
        }
        Action::Amend => Err(not_in("it cannot be amended after its outcome")),
        Action::Accept if state == State::Applied && case.parties_missing => Err(CaseError::NotNow {
            action: name,
            why: "the parties are not known yet: add an applicant and a respondent with AmendCase".into(),
        }),
        Action::Accept if state == State::Applied => decision(State::Accepted, &["case-accepted"]),
        Action::Refuse if state == State::Applied => decision(State::Refused, &["case-refused"]),
        Action::Accept | Action::Refuse => Err(not_in("it was decided already")),
        Action::Assign => decision(state, &["case-assigned"]),
        Action::SetRisk(risk) => {
            if *risk == RiskLevel::Unspecified {
                return Err(CaseError::Invalid { field: "risk", problem: "must be LOW, MEDIUM or HIGH".into() });
            }
            if *risk == case.risk {
                return Err(CaseError::Invalid { field: "risk", problem: "is the case's level already".into() });
            }
            if *risk == RiskLevel::High {
                decision(state, &["case-risk-changed", "case-escalated"])
            } else {
                decision(state, &["case-risk-changed"])
            }
        }
        Action::ScheduleSession if open => decision(State::InMediation, &["case-session-scheduled"]),
        Action::ScheduleSession => Err(not_in("sessions are held only once it is accepted and before its outcome")),
        Action::RecordSession { adjourned } if state == State::InMediation && case.has_open_session => {
            decision(state, &[if *adjourned { "case-session-adjourned" } else { "case-session-held" }])
        }
        Action::RecordSession { .. } => Err(not_in("no scheduled session waits to be recorded")),
        Action::Extend(days) if open => {
            if !(1..=30).contains(days) {
                return Err(CaseError::Invalid { field: "days", problem: "must be 1 to 30".into() });
            }
            if case.extension_days + days > MAX_EXTENSION_DAYS {
                return Err(CaseError::Invalid {
                    field: "days",
                    problem: format!(
                        "the limit may be extended by {MAX_EXTENSION_DAYS} days in all ({} so far)",
                        case.extension_days
                    ),
                });
            }
            decision(state, &["case-extended"])
        }
        Action::Extend(_) => Err(not_in("only a case in mediation can be extended")),
        Action::RecordAgreement if open => decision(State::Agreed, &["case-agreement-reached"]),
        Action::RecordNoAgreement if open => decision(State::Failed, &["case-failed"]),
        Action::RecordAgreement | Action::RecordNoAgreement => Err(not_in("an outcome is recorded only in mediation")),
        Action::Withdraw if matches!(state, State::Applied | State::Accepted | State::InMediation) => {
            decision(State::Withdrawn, &["case-withdrawn"])
        }
        Action::Withdraw => Err(not_in("it cannot be withdrawn after its outcome")),
        Action::Transfer(target) => {
            if *target == TransferTarget::Unspecified {
                return Err(CaseError::Invalid {
                    field: "target",
                    problem: "must be COURT, PETITION_OFFICE or POLICE".into(),
                });
            }
            if state == State::Agreed {
                return Err(not_in("an agreed case is not transferred"));
            }
            decision(State::Transferred, &["case-transferred"])
        }
        Action::ApplyConfirmation if state == State::Agreed => {
            if case.confirmation_applied {
                return Err(CaseError::NotNow { action: name, why: "the parties applied already".into() });
            }
            match case.confirmation_apply_by {
                Some(by) if now < by => decision(state, &["case-confirmation-applied"]),
                Some(by) => Err(CaseError::NotNow {
                    action: name,
                    why: format!("the 30-day window for judicial confirmation closed at {}", by.to_rfc3339()),
                }),
                None => Err(CaseError::NotNow { action: name, why: "the agreement has not taken effect".into() }),
            }
        }
        Action::ApplyConfirmation => Err(not_in("only an agreement can be confirmed")),
        Action::Court(step) if state == State::Agreed && case.confirmation_applied => {
            let why = |w: &str| Err(CaseError::NotNow { action: name, why: w.to_string() });
            match step {
                CourtStep::Accepted if case.court_accepted => why("the court accepted the application already"),
                CourtStep::Accepted => decision(state, &["case-confirmation-accepted"]),
                _ if !case.court_accepted => why("the court has not accepted the application"),
                _ if case.court_ruled => why("the court has ruled already"),
                CourtStep::Extended if case.court_extended => why("the ruling period was extended already"),
                CourtStep::Extended => decision(state, &["case-confirmation-extended"]),
                CourtStep::Confirmed => decision(state, &["case-confirmation-ruled"]),
                CourtStep::Invalid => decision(State::InMediation, &["case-confirmation-ruled", "case-reopened"]),
            }
        }
        Action::Court(_) => Err(not_in("no application for judicial confirmation is pending")),
        Action::FollowUp { performance, reopen } if state == State::Agreed => match (performance, reopen) {
            (Performance::Breached, true) => decision(State::InMediation, &["case-followed-up", "case-reopened"]),
            (_, true) => Err(CaseError::Invalid { field: "reopen", problem: "only a breach reopens the case".into() }),
            _ => decision(state, &["case-followed-up"]),
        },
        Action::FollowUp { .. } => Err(not_in("follow-ups are for agreements")),
        Action::Close if state == State::Failed => decision(State::Closed, &["case-closed"]),
        Action::Close if state == State::Agreed && case.performed => decision(State::Closed, &["case-closed"]),
        Action::Close if state == State::Agreed => Err(CaseError::NotNow {
            action: name,
            why: "an agreement is closed once a follow-up found it performed".into(),
        }),
        Action::Close => Err(not_in("only an agreed or failed case can be closed")),
    }
}

#[cfg(test)]
mod tests;
