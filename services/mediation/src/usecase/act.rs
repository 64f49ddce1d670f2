//! A change of a case for a caller ([`Store::act`]): idempotent by request id, NOT_FOUND for a
//! case the caller may not see, then the state machine with the caller's standing, then the
//! step's [`effects`](super::effects), written in one transaction with the facts, the messages,
//! the stored answer and the call to dispatch.

use chrono::{DateTime, Utc};
use civicgrid_kit::auth::Principal;
use civicgrid_proto::v1::{MediationCase, RiskLevel, TransferTarget};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{
    ActError, Claimed,
    effects::{self, Ctx},
    invalid,
};
use crate::{
    cases::{AgreementRecord, Case},
    domain::{
        assignment,
        case::{Action, CaseError, CourtStep, Performance, decide},
        visibility,
    },
    store::{
        Store, Writes, cases,
        dispatch_calls::NewCall,
        parties::{self, NewParty},
        sessions,
    },
};

/// A change a caller asks for, with its checked input.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Add parties, restate the facts or the amount.
    Amend {
        /// Parties to add.
        parties: Vec<NewParty>,
        /// The facts restated.
        facts: Option<String>,
        /// The amount restated, nano-yuan.
        amount_nanos: Option<i128>,
    },
    /// Accept.
    Accept,
    /// Refuse, with the reason.
    Refuse {
        /// Why.
        reason: String,
    },
    /// Assign this mediator, or choose one.
    Assign {
        /// The mediator asked for.
        mediator_id: Option<String>,
    },
    /// Set the risk level.
    SetRisk {
        /// The new level.
        risk: RiskLevel,
        /// Why.
        reason: String,
    },
    /// Schedule a session.
    ScheduleSession {
        /// When.
        at: DateTime<Utc>,
        /// Where.
        place: String,
    },
    /// Record a scheduled session.
    RecordSession {
        /// The session.
        session_id: Uuid,
        /// Adjourned rather than held.
        adjourned: bool,
        /// The parties that attended.
        attended: Vec<Uuid>,
        /// The record.
        record: String,
    },
    /// Extend the mediation limit.
    Extend {
        /// Days.
        days: i32,
        /// How the parties consented.
        consent: String,
    },
    /// Record the agreement (signed and sealed).
    RecordAgreement(AgreementRecord),
    /// Record that mediation failed.
    RecordNoAgreement {
        /// Why.
        reason: String,
    },
    /// The applicant withdraws.
    Withdraw {
        /// Why.
        reason: String,
    },
    /// Transfer out.
    Transfer {
        /// Where to.
        target: TransferTarget,
        /// Why.
        reason: String,
    },
    /// The parties apply for judicial confirmation.
    ApplyConfirmation {
        /// The court.
        court: String,
    },
    /// A step of the court.
    Court {
        /// Which.
        step: CourtStep,
        /// What the court said.
        note: String,
    },
    /// A follow-up visit.
    FollowUp {
        /// What it found.
        performance: Performance,
        /// What was noted.
        note: String,
        /// Mediate again after a breach.
        reopen: bool,
    },
    /// Close.
    Close,
}

impl Step {
    /// The state machine's action.
    pub fn action(&self) -> Action {
        match self {
            Step::Amend { .. } => Action::Amend,
            Step::Accept => Action::Accept,
            Step::Refuse { .. } => Action::Refuse,
            Step::Assign { .. } => Action::Assign,
            Step::SetRisk { risk, .. } => Action::SetRisk(*risk),
            Step::ScheduleSession { .. } => Action::ScheduleSession,
            Step::RecordSession { adjourned, .. } => Action::RecordSession { adjourned: *adjourned },
            Step::Extend { days, .. } => Action::Extend(*days),
            Step::RecordAgreement(_) => Action::RecordAgreement,
            Step::RecordNoAgreement { .. } => Action::RecordNoAgreement,
            Step::Withdraw { .. } => Action::Withdraw,
            Step::Transfer { target, .. } => Action::Transfer(*target),
            Step::ApplyConfirmation { .. } => Action::ApplyConfirmation,
            Step::Court { step, .. } => Action::Court(*step),
            Step::FollowUp { performance, reopen, .. } => {
                Action::FollowUp { performance: *performance, reopen: *reopen }
            }
            Step::Close => Action::Close,
        }
    }
}

impl Store {
    /// Takes `step` on case `case_id` for `caller`, idempotently by `request_id`, and answers
    /// the case after it.
    pub async fn act(
        &self,
        caller: &Principal,
        request_id: &str,
        case_id: Uuid,
        step: Step,
        now: DateTime<Utc>,
    ) -> Result<MediationCase, ActError> {
        let mut tx = match self.claim(&caller.subject, request_id).await? {
            Claimed::Fresh(tx) => tx,
            Claimed::Answered(answer) => return Ok(answer),
        };
        let mut case = cases::lock(&mut tx, case_id).await?.ok_or(ActError::NotFound)?;
        let refdata = self.refdata();
        let path = case.row.path();
        let is_org = |id: &str| refdata.organisation(id).is_some();
        let standing =
            visibility::standing(caller, case.scope(&path), &self.justice_kinds, &is_org).ok_or(ActError::NotFound)?;
        let decision = decide(&case.view(&refdata.calendar, &self.policy), standing, &step.action(), now)?;
        let mediator = match &step {
            Step::Assign { mediator_id } => Some(self.choose_mediator(&mut tx, &case, mediator_id.as_deref()).await?),
            _ => None,
        };
        let ctx = Ctx { cal: &refdata.calendar, policy: &self.policy, now, cipher: &self.cipher, mediator };
        let change = effects::apply(&mut case, step, &decision, &ctx)?;
        let mut w = Writes::default();
        self.write_change(&mut tx, &mut w, &mut case, &change.facts, &caller.actor(), now).await?;
        parties::insert(&mut tx, &change.new_parties).await?;
        if let Some(s) = &change.session {
            sessions::save(&mut tx, s).await?;
        }
        if let (Some((action, result)), Some(task_id)) = (change.dispatch, case.row.task_id) {
            let department = case.row.task_department.clone().unwrap_or_default();
            w.call_dispatch(NewCall { case_id, task_id, department, action, result, at: now });
        }
        w.finish(&mut tx).await?;
        let answer = case.to_proto(&refdata.calendar, &self.policy, now);
        Ok(self.answer(tx, &caller.subject, request_id, answer).await?)
    }

    /// The mediator an assignment gives the case: the one asked for, if they belong to the
    /// case's organisation and take cases; else the organisation's choice by specialty and
    /// load, other than the mediator the case has.
    async fn choose_mediator(
        &self,
        tx: &mut PgConnection,
        case: &Case,
        asked: Option<&str>,
    ) -> Result<String, ActError> {
        let refdata = self.refdata();
        let org = &case.row.organisation_id;
        if let Some(id) = asked {
            let m = refdata.mediator(id).ok_or_else(|| invalid("mediator_id", format!("no mediator `{id}`")))?;
            if &m.mediator.organisation_id != org {
                return Err(invalid("mediator_id", format!("`{id}` is not a mediator of organisation `{org}`")));
            }
            if !m.mediator.available {
                return Err(invalid("mediator_id", format!("`{id}` takes no new cases")));
            }
            if case.row.mediator_id == id {
                return Err(invalid("mediator_id", "is the case's mediator already"));
            }
            return Ok(id.to_string());
        }
        let load = cases::open_load(&mut *tx, Some(org)).await?;
        let others: Vec<_> = refdata.mediator_refs().into_iter().filter(|m| m.id != case.row.mediator_id).collect();
        let kind = civicgrid_proto::v1::DisputeType::try_from(i32::from(case.row.dispute_type)).unwrap_or_default();
        assignment::mediator_for(&others, org, kind, &load).map(|m| m.id.clone()).ok_or_else(|| {
            ActError::Case(CaseError::NotNow {
                action: "assign",
                why: format!("no other mediator of organisation `{org}` is available"),
            })
        })
    }
}
