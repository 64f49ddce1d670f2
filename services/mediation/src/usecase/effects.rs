//! What a step changes once the state machine has allowed it: the case's fields, new parties
//! and sessions, the facts with what each carries, and the call to dispatch when the case came
//! from a dispatch task. Pure: [`act`](super::act) loads the case, asks `decide`, applies this
//! and writes the result.

use chrono::{DateTime, Utc};
use civicgrid_calendar::BusinessCalendar;
use civicgrid_kit::seal::Cipher;
use civicgrid_proto::v1::TransferTarget;
use sqlx::types::Json;
use uuid::Uuid;

use super::{ActError, Step, invalid};
use crate::{
    cases::{Case, ConfirmationRecord, FollowUpRecord},
    domain::{
        case::{CourtStep, Decision},
        deadlines::{Kind, Policy},
    },
    store::{
        case_facts::FactDetail,
        dispatch_calls::{RESOLVE, SIGN_FOR},
        parties::PartyRow,
        sessions::SessionRow,
    },
};

/// The most parties a case holds.
pub const MAX_PARTIES: usize = 20;

/// What a step needs beyond the case.
pub struct Ctx<'a> {
    /// The calendar in force.
    pub cal: &'a BusinessCalendar,
    /// The deadline policy.
    pub policy: &'a Policy,
    /// Now.
    pub now: DateTime<Utc>,
    /// Seals new parties.
    pub cipher: &'a Cipher,
    /// For an assignment: the mediator chosen.
    pub mediator: Option<String>,
}

/// What a step changed beyond the case row.
#[derive(Default)]
pub struct Change {
    /// The facts to record, in order, with what each carries.
    pub facts: Vec<(&'static str, FactDetail)>,
    /// Parties to insert.
    pub new_parties: Vec<PartyRow>,
    /// A session scheduled, or recorded as held or adjourned.
    pub session: Option<SessionRow>,
    /// The call to dispatch: the action and, for a resolve, the result text.
    pub dispatch: Option<(&'static str, String)>,
}

fn target_label(t: TransferTarget) -> &'static str {
    match t {
        TransferTarget::Court => "人民法院",
        TransferTarget::PetitionOffice => "信访部门",
        TransferTarget::Police => "公安机关",
        TransferTarget::Unspecified => "其他部门",
    }
}

/// Applies `step`, allowed by `decision`, to `case`.
pub fn apply(case: &mut Case, step: Step, decision: &Decision, ctx: &Ctx<'_>) -> Result<Change, ActError> {
    let now = ctx.now;
    // An outcome's figures are taken before the state changes: days since acceptance, and
    // whether the mediation deadline had passed.
    let outcome = FactDetail {
        days_to_outcome: case.row.accepted_at.map(|a| (now - a).num_seconds() as f64 / 86_400.0),
        overdue: case.row.deadlines(ctx.cal, ctx.policy).iter().any(|d| d.kind == Kind::Mediation && now > d.due),
        ..Default::default()
    };
    let number = case.row.case_number.clone();
    let mut change = Change::default();
    let mut reason = String::new();
    let row = &mut case.row;
    row.state = decision.to.as_str().to_string();
    match step {
        Step::Amend { parties, facts, amount_nanos } => {
            if case.parties.len() + parties.len() > MAX_PARTIES {
                return Err(invalid("parties", format!("a case holds at most {MAX_PARTIES} parties")));
            }
            let first = case.parties.len();
            for (i, p) in parties.iter().enumerate() {
                let sealed = PartyRow::seal(ctx.cipher, row.id, (first + i) as i32, p);
                change.new_parties.push(sealed.clone());
                case.parties.push(sealed);
            }
            if let Some(facts) = facts {
                row.facts = facts;
            }
            if let Some(amount) = amount_nanos {
                row.amount_nanos = amount.to_string();
            }
        }
        Step::Accept => {
            row.accepted_at = Some(now);
            change.dispatch = Some((SIGN_FOR, String::new()));
        }
        Step::Refuse { reason: why } => {
            change.dispatch = Some((RESOLVE, format!("人民调解：不予受理（{number}）：{why}")));
            row.reason.clone_from(&why);
            reason = why;
        }
        Step::Assign { .. } => row.mediator_id = ctx.mediator.clone().unwrap_or_default(),
        Step::SetRisk { risk, reason: why } => {
            row.risk = risk as i16;
            reason = why;
        }
        Step::ScheduleSession { at, place } => {
            let session = SessionRow {
                id: Uuid::now_v7(),
                case_id: row.id,
                scheduled_at: at,
                place,
                status: "scheduled".into(),
                attended_party_ids: vec![],
                record: String::new(),
                recorded_at: None,
            };
            case.sessions.push(session.clone());
            change.session = Some(session);
        }
        Step::RecordSession { session_id, adjourned, attended, record } => {
            for (i, p) in attended.iter().enumerate() {
                if !case.parties.iter().any(|party| party.id == *p) {
                    let field = format!("attended_party_ids[{i}]");
                    return Err(invalid("attended_party_ids", format!("{field}: not a party of the case")));
                }
            }
            let session = case
                .sessions
                .iter_mut()
                .find(|s| s.id == session_id && s.status == "scheduled")
                .ok_or_else(|| invalid("session_id", "not a scheduled session of the case"))?;
            session.status = if adjourned { "adjourned" } else { "held" }.into();
            session.attended_party_ids = attended;
            session.record = record;
            session.recorded_at = Some(now);
            change.session = Some(session.clone());
        }
        Step::Extend { days, consent } => {
            row.extension_days += days;
            reason = consent;
        }
        Step::RecordAgreement(mut agreement) => {
            if agreement.facts.is_empty() {
                agreement.facts.clone_from(&row.facts);
            }
            row.agreement = Some(Json(agreement));
            row.agreement_effective_at = Some(now);
            change.dispatch = Some((RESOLVE, format!("人民调解：调解成功，当事人达成调解协议（{number}）")));
        }
        Step::RecordNoAgreement { reason: why } => {
            change.dispatch = Some((RESOLVE, format!("人民调解：调解不成（{number}）：{why}")));
            row.reason.clone_from(&why);
            reason = why;
        }
        Step::Withdraw { reason: why } => {
            change.dispatch = Some((RESOLVE, format!("人民调解：申请人撤回调解申请（{number}）：{why}")));
            row.reason.clone_from(&why);
            reason = why;
        }
        Step::Transfer { target, reason: why } => {
            let to = target_label(target);
            change.dispatch = Some((RESOLVE, format!("人民调解：调解不成，移交{to}处理（{number}）：{why}")));
            row.transferred_to = target as i16;
            row.reason.clone_from(&why);
            reason = why;
        }
        Step::ApplyConfirmation { court } => {
            row.confirmation =
                Some(Json(ConfirmationRecord { court: court.clone(), applied_at: Some(now), ..Default::default() }));
            reason = court;
        }
        Step::Court { step, note } => {
            let mut c = row.confirmation.take().map(|c| c.0).unwrap_or_default();
            match step {
                CourtStep::Accepted => c.accepted_at = Some(now),
                CourtStep::Extended => c.extended = true,
                CourtStep::Confirmed | CourtStep::Invalid => {
                    c.ruling = if step == CourtStep::Confirmed { "confirmed" } else { "invalid" }.into();
                    c.ruled_at = Some(now);
                }
            }
            if !note.is_empty() {
                c.notes.push(note.clone());
            }
            reason = if c.ruling.is_empty() { note } else { c.ruling.clone() };
            row.confirmation = Some(Json(c));
        }
        Step::FollowUp { performance, note, .. } => {
            row.follow_ups.0.push(FollowUpRecord { at: now, performance: performance.as_str().into(), note });
            reason = performance.as_str().into();
        }
        Step::Close => {}
    }
    for fact in &decision.facts {
        let detail = match *fact {
            "case-agreement-reached" | "case-failed" => FactDetail { reason: reason.clone(), ..outcome.clone() },
            "case-confirmation-ruled" => {
                FactDetail { reason: reason.clone(), ruling: Some(reason.clone()), ..Default::default() }
            }
            "case-reopened" => {
                reopen(case, now);
                FactDetail { reason: reason.clone(), ..Default::default() }
            }
            _ => FactDetail { reason: reason.clone(), ..Default::default() },
        };
        change.facts.push((fact, detail));
    }
    if case.row.task_id.is_none() {
        change.dispatch = None;
    }
    Ok(change)
}

/// A reopened case mediates afresh: the clock restarts from now, and the agreement that was
/// ruled invalid or breached no longer stands (its facts and follow-ups stay in the record).
fn reopen(case: &mut Case, now: DateTime<Utc>) {
    let row = &mut case.row;
    row.accepted_at = Some(now);
    row.extension_days = 0;
    row.agreement = None;
    row.agreement_effective_at = None;
    row.confirmation = None;
    row.warnings_given.clear();
}
