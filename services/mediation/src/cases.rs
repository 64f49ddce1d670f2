//! A stored case — its `cases` row with its parties and sessions — and what derives from it:
//! the state machine's view, the deadline clocks, the contract's `MediationCase` and the
//! masked parties a fact carries. The JSON records of the agreement, the confirmation and the
//! follow-ups are here too.

use chrono::{DateTime, Utc};
use civicgrid_calendar::BusinessCalendar;
use civicgrid_kit::time::to_proto;
use civicgrid_proto::v1::{self as pb, RegionPath, RiskLevel};
use serde::{Deserialize, Serialize};
use sqlx::{FromRow, types::Json};
use uuid::Uuid;

use crate::{
    domain::{
        case::{CaseView, Performance, State},
        deadlines::{self, Clocks, Deadline, Policy},
        stats::money_of_nanos,
        visibility::CaseScope,
    },
    store::{parties::PartyRow, sessions::SessionRow},
};

/// The agreement as stored (`cases.agreement`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AgreementRecord {
    /// The facts as the parties accept them.
    pub facts: String,
    /// Each party's responsibilities.
    pub responsibilities: String,
    /// The terms.
    pub terms: String,
    /// How and by when it is performed.
    pub performance: String,
    /// The amount paid under it, in nano-yuan.
    pub amount_nanos: Option<i128>,
    /// The last day of performance.
    pub perform_by: Option<DateTime<Utc>>,
}

/// Judicial confirmation as stored (`cases.confirmation`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConfirmationRecord {
    /// The court.
    pub court: String,
    /// When the parties applied.
    pub applied_at: Option<DateTime<Utc>>,
    /// When the court accepted.
    pub accepted_at: Option<DateTime<Utc>>,
    /// Whether it extended its ruling period.
    pub extended: bool,
    /// "confirmed" or "invalid"; empty before the ruling.
    pub ruling: String,
    /// When it ruled.
    pub ruled_at: Option<DateTime<Utc>>,
    /// What the court said at each step, oldest first.
    pub notes: Vec<String>,
}

/// A follow-up visit as stored (an element of `cases.follow_ups`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FollowUpRecord {
    /// When it was recorded.
    pub at: DateTime<Utc>,
    /// "performed", "performing" or "breached".
    pub performance: String,
    /// What was found.
    pub note: String,
}

/// A `cases` row. The amount is read as text (`amount_nanos::text`), since it is a `numeric`.
#[derive(Debug, Clone, FromRow)]
pub struct CaseRow {
    pub id: Uuid,
    pub case_number: String,
    pub source: i16,
    pub dispute_type: i16,
    pub facts: String,
    pub amount_nanos: String,
    pub city: String,
    pub county: String,
    pub township: String,
    pub village: String,
    pub grid_code: Option<String>,
    pub risk: i16,
    pub state: String,
    pub organisation_id: String,
    pub mediator_id: String,
    pub reason: String,
    pub transferred_to: i16,
    pub external_reference: String,
    pub task_id: Option<Uuid>,
    pub task_department: Option<String>,
    pub event_id: Option<Uuid>,
    pub tracking_number: String,
    pub opened_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub extension_days: i32,
    pub agreement: Option<Json<AgreementRecord>>,
    pub agreement_effective_at: Option<DateTime<Utc>>,
    pub confirmation: Option<Json<ConfirmationRecord>>,
    pub follow_ups: Json<Vec<FollowUpRecord>>,
    pub warnings_given: Vec<String>,
    pub next_warning_at: Option<DateTime<Utc>>,
    pub deadline_at: Option<DateTime<Utc>>,
    pub version: i64,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
}

/// A case with its parties (in order) and sessions (in the order they were scheduled).
#[derive(Debug, Clone)]
pub struct Case {
    /// The row.
    pub row: CaseRow,
    /// Its parties.
    pub parties: Vec<PartyRow>,
    /// Its sessions.
    pub sessions: Vec<SessionRow>,
}

impl CaseRow {
    /// The amount involved in nano-yuan.
    pub fn amount(&self) -> i128 {
        self.amount_nanos.parse().unwrap_or(0)
    }

    /// Where the case is.
    pub fn path(&self) -> RegionPath {
        RegionPath {
            city: self.city.clone(),
            county: self.county.clone(),
            township: self.township.clone(),
            village: self.village.clone(),
        }
    }

    /// Where it stands (`None` for an unknown stored name).
    pub fn state(&self) -> Option<State> {
        State::parse(&self.state)
    }

    /// The confirmation, if applied for.
    pub fn confirmation(&self) -> Option<&ConfirmationRecord> {
        self.confirmation.as_ref().map(|c| &c.0)
    }

    /// What the deadlines are computed from.
    pub fn clocks(&self) -> Clocks {
        let c = self.confirmation();
        Clocks {
            state: self.state(),
            opened_at: Some(self.opened_at),
            accepted_at: self.accepted_at,
            extension_days: self.extension_days,
            agreement_effective_at: self.agreement_effective_at,
            confirmation_applied_at: c.and_then(|c| c.applied_at),
            court_accepted_at: c.and_then(|c| c.accepted_at),
            court_extended: c.is_some_and(|c| c.extended),
            court_ruled: c.is_some_and(|c| !c.ruling.is_empty()),
        }
    }

    /// The deadlines that apply now.
    pub fn deadlines(&self, cal: &BusinessCalendar, policy: &Policy) -> Vec<Deadline> {
        deadlines::deadlines(&self.clocks(), cal, policy)
    }

    /// Recomputes the earliest deadline (`deadline_at`) and the next warning's instant
    /// (`next_warning_at`: `now` when one is due already, so the warning job takes it at once).
    pub fn refresh_deadlines(&mut self, cal: &BusinessCalendar, policy: &Policy, now: DateTime<Utc>) {
        self.deadline_at = self.deadlines(cal, policy).iter().map(|d| d.due).min();
        let (due, next) = deadlines::warnings_due(&self.clocks(), cal, policy, &self.warnings_given, now);
        self.next_warning_at = if due.is_empty() { next } else { Some(now) };
    }

    /// Whether a follow-up found the agreement in force performed.
    pub fn performed(&self) -> bool {
        let since = self.agreement_effective_at;
        self.follow_ups
            .0
            .iter()
            .any(|f| f.performance == Performance::Performed.as_str() && since.is_none_or(|s| f.at >= s))
    }
}

impl Case {
    /// What the standing checks need.
    pub fn scope<'a>(&'a self, path: &'a RegionPath) -> CaseScope<'a> {
        CaseScope { organisation_id: &self.row.organisation_id, mediator_id: &self.row.mediator_id, path }
    }

    /// Whether an applicant and a respondent are known.
    pub fn has_both_sides(&self) -> bool {
        let has = |role: pb::PartyRole| self.parties.iter().any(|p| p.role == role as i16);
        has(pb::PartyRole::Applicant) && has(pb::PartyRole::Respondent)
    }

    /// What the state machine needs to know.
    pub fn view(&self, cal: &BusinessCalendar, policy: &Policy) -> CaseView {
        let row = &self.row;
        let c = row.confirmation();
        CaseView {
            state: row.state(),
            risk: RiskLevel::try_from(i32::from(row.risk)).unwrap_or(RiskLevel::Low),
            extension_days: row.extension_days,
            has_open_session: self.sessions.iter().any(|s| s.status == "scheduled"),
            confirmation_apply_by: row.agreement_effective_at.map(|e| deadlines::confirmation_apply_by(e, cal, policy)),
            confirmation_applied: c.is_some_and(|c| c.applied_at.is_some()),
            court_accepted: c.is_some_and(|c| c.accepted_at.is_some()),
            court_extended: c.is_some_and(|c| c.extended),
            court_ruled: c.is_some_and(|c| !c.ruling.is_empty()),
            performed: row.performed(),
            parties_missing: !self.has_both_sides(),
        }
    }

    /// The parties, masked.
    pub fn masked_parties(&self) -> Vec<pb::Party> {
        self.parties.iter().map(PartyRow::to_proto).collect()
    }

    /// The contract's case at `now`.
    pub fn to_proto(&self, cal: &BusinessCalendar, policy: &Policy, now: DateTime<Utc>) -> pb::MediationCase {
        let r = &self.row;
        let confirmation = r.confirmation().map(|c| {
            // The ruling's last day, also once the court has ruled.
            let clocks = Clocks { court_ruled: false, ..r.clocks() };
            let ruling_due =
                deadlines::deadlines(&clocks, cal, policy).into_iter().find(|d| d.kind == deadlines::Kind::CourtRuling);
            pb::Confirmation {
                court: c.court.clone(),
                applied_at: c.applied_at.map(to_proto),
                accepted_at: c.accepted_at.map(to_proto),
                ruling_due: ruling_due.map(|d| to_proto(d.due)),
                extended: c.extended,
                ruling: c.ruling.clone(),
                ruled_at: c.ruled_at.map(to_proto),
                apply_by: r.agreement_effective_at.map(|e| to_proto(deadlines::confirmation_apply_by(e, cal, policy))),
            }
        });
        pb::MediationCase {
            id: r.id.to_string(),
            case_number: r.case_number.clone(),
            source: i32::from(r.source),
            dispute_type: i32::from(r.dispute_type),
            facts: r.facts.clone(),
            amount_involved: Some(money_of_nanos(r.amount())),
            parties: self.masked_parties(),
            region: Some(r.path()),
            risk: i32::from(r.risk),
            state: r.state().map(State::to_proto).unwrap_or_default() as i32,
            organisation_id: r.organisation_id.clone(),
            mediator_id: r.mediator_id.clone(),
            sessions: self.sessions.iter().map(SessionRow::to_proto).collect(),
            agreement: r.agreement.as_ref().map(|a| pb::Agreement {
                facts: a.facts.clone(),
                responsibilities: a.responsibilities.clone(),
                terms: a.terms.clone(),
                performance: a.performance.clone(),
                amount: a.amount_nanos.map(money_of_nanos),
                perform_by: a.perform_by.map(to_proto),
                effective_at: r.agreement_effective_at.map(to_proto),
            }),
            confirmation,
            follow_ups: r
                .follow_ups
                .0
                .iter()
                .map(|f| pb::FollowUp {
                    at: Some(to_proto(f.at)),
                    performance: f.performance.clone(),
                    note: f.note.clone(),
                })
                .collect(),
            deadlines: r.deadlines(cal, policy).into_iter().map(|d| d.to_proto(now)).collect(),
            reason: r.reason.clone(),
            transferred_to: i32::from(r.transferred_to),
            event_id: r.event_id.map(|e| e.to_string()).unwrap_or_default(),
            task_id: r.task_id.map(|t| t.to_string()).unwrap_or_default(),
            tracking_number: r.tracking_number.clone(),
            extension_days: r.extension_days,
            version: r.version,
            opened_at: Some(to_proto(r.opened_at)),
            updated_at: Some(to_proto(r.updated_at)),
            closed_at: r.closed_at.map(to_proto),
        }
    }
}
