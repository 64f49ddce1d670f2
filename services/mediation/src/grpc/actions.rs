//! The workflow's actions (accept, refuse, assign, risk, sessions, extension, outcomes,
//! confirmation, follow-up, close): each handler checks the role and its own fields, then
//! [`MediationApi::act`] checks the common ones and runs the step in the store.

use civicgrid_kit::{
    auth::{Principal, principal},
    grpc::Violations,
};
use civicgrid_proto::v1::{
    ApplyConfirmationRequest, AssignMediatorRequest, CaseReasonRequest, CaseRequest, ExtendMediationRequest,
    MediationCase, RecordAgreementRequest, RecordConfirmationRequest, RecordFollowUpRequest, RecordSessionRequest,
    RiskLevel, ScheduleSessionRequest, SetRiskRequest, TransferCaseRequest, TransferTarget,
};
use tonic::{Request, Response};

use super::{Answer, MediationApi, act_status, validate};
use crate::{
    cases::AgreementRecord,
    domain::case::{CourtStep, Performance},
    usecase::Step,
};

impl MediationApi {
    /// Takes `step` for `caller` once the request is valid (`v` holds what the handler found
    /// wrong so far), and answers the case after it.
    pub(super) async fn act(
        &self,
        caller: Principal,
        request_id: &str,
        case_id: &str,
        step: Step,
        mut v: Violations,
    ) -> Answer<MediationCase> {
        validate::request_id(&mut v, request_id);
        let id = validate::uuid(&mut v, "case_id", case_id);
        v.into_result()?;
        let case = self.store.act(&caller, request_id, id, step, self.clock.now()).await.map_err(act_status)?;
        tracing::info!(case = %case.id, state = case.state, version = case.version, "case changed");
        Ok(Response::new(case))
    }
}

/// The caller of a workflow action (the edge admitted its role; its standing on the case
/// decides what it may do).
fn actor<T>(request: &Request<T>) -> Result<Principal, tonic::Status> {
    principal(request)
}

pub(super) async fn accept_case(api: &MediationApi, request: Request<CaseRequest>) -> Answer<MediationCase> {
    let caller = actor(&request)?;
    let r = request.into_inner();
    api.act(caller, &r.request_id, &r.case_id, Step::Accept, Violations::new()).await
}

pub(super) async fn refuse_case(api: &MediationApi, request: Request<CaseReasonRequest>) -> Answer<MediationCase> {
    let caller = actor(&request)?;
    let r = request.into_inner();
    let mut v = Violations::new();
    let reason = validate::reason(&mut v, &r.reason);
    api.act(caller, &r.request_id, &r.case_id, Step::Refuse { reason }, v).await
}

pub(super) async fn assign_mediator(
    api: &MediationApi,
    request: Request<AssignMediatorRequest>,
) -> Answer<MediationCase> {
    let caller = actor(&request)?;
    let r = request.into_inner();
    let mut v = Violations::new();
    if !r.mediator_id.is_empty() {
        validate::plain_id(&mut v, "mediator_id", &r.mediator_id);
    }
    let step = Step::Assign { mediator_id: Some(r.mediator_id).filter(|m| !m.is_empty()) };
    api.act(caller, &r.request_id, &r.case_id, step, v).await
}

pub(super) async fn set_risk(api: &MediationApi, request: Request<SetRiskRequest>) -> Answer<MediationCase> {
    let caller = actor(&request)?;
    let r = request.into_inner();
    let mut v = Violations::new();
    let risk = RiskLevel::try_from(r.risk).ok().filter(|r| *r != RiskLevel::Unspecified);
    if risk.is_none() {
        v.add("risk", "must be LOW, MEDIUM or HIGH");
    }
    let reason = validate::reason(&mut v, &r.reason);
    let step = Step::SetRisk { risk: risk.unwrap_or(RiskLevel::Unspecified), reason };
    api.act(caller, &r.request_id, &r.case_id, step, v).await
}

pub(super) async fn schedule_session(
    api: &MediationApi,
    request: Request<ScheduleSessionRequest>,
) -> Answer<MediationCase> {
    let caller = actor(&request)?;
    let r = request.into_inner();
    let mut v = Violations::new();
    let at = validate::instant(&mut v, "scheduled_at", r.scheduled_at.as_ref());
    if at.is_some_and(|at| at < api.clock.now()) {
        v.add("scheduled_at", "must not be in the past");
    }
    let place = validate::text(&mut v, "place", &r.place, 2, 200);
    let step = Step::ScheduleSession { at: at.unwrap_or_default(), place };
    api.act(caller, &r.request_id, &r.case_id, step, v).await
}

pub(super) async fn record_session(
    api: &MediationApi,
    request: Request<RecordSessionRequest>,
) -> Answer<MediationCase> {
    let caller = actor(&request)?;
    let r = request.into_inner();
    let mut v = Violations::new();
    let session_id = validate::uuid(&mut v, "session_id", &r.session_id);
    let attended: Vec<_> = r
        .attended_party_ids
        .iter()
        .enumerate()
        .map(|(i, id)| validate::uuid(&mut v, &format!("attended_party_ids[{i}]"), id))
        .collect();
    if !r.adjourned && attended.is_empty() {
        v.add("attended_party_ids", "a held session names at least one party that attended");
    }
    let record = validate::text(&mut v, "record", &r.record, 1, 5000);
    let step = Step::RecordSession { session_id, adjourned: r.adjourned, attended, record };
    api.act(caller, &r.request_id, &r.case_id, step, v).await
}

pub(super) async fn extend_mediation(
    api: &MediationApi,
    request: Request<ExtendMediationRequest>,
) -> Answer<MediationCase> {
    let caller = actor(&request)?;
    let r = request.into_inner();
    let mut v = Violations::new();
    v.check((1..=30).contains(&r.days), "days", "must be 1 to 30");
    let consent = validate::text(&mut v, "consent", &r.consent, 2, 500);
    api.act(caller, &r.request_id, &r.case_id, Step::Extend { days: r.days, consent }, v).await
}

pub(super) async fn record_agreement(
    api: &MediationApi,
    request: Request<RecordAgreementRequest>,
) -> Answer<MediationCase> {
    let caller = actor(&request)?;
    let r = request.into_inner();
    let mut v = Violations::new();
    v.check(
        r.signed_and_sealed,
        "signed_and_sealed",
        "must be true: the agreement takes effect once every party and the mediator signed and the committee sealed it",
    );
    let a = r.agreement.unwrap_or_default();
    let agreement = AgreementRecord {
        facts: validate::text(&mut v, "agreement.facts", &a.facts, 0, 2000),
        responsibilities: validate::text(&mut v, "agreement.responsibilities", &a.responsibilities, 0, 2000),
        terms: validate::text(&mut v, "agreement.terms", &a.terms, 1, 5000),
        performance: validate::text(&mut v, "agreement.performance", &a.performance, 1, 500),
        amount_nanos: a.amount.as_ref().map(|m| validate::money(&mut v, "agreement.amount", m)),
        perform_by: a.perform_by.as_ref().and_then(|ts| validate::instant(&mut v, "agreement.perform_by", Some(ts))),
    };
    api.act(caller, &r.request_id, &r.case_id, Step::RecordAgreement(agreement), v).await
}

pub(super) async fn record_no_agreement(
    api: &MediationApi,
    request: Request<CaseReasonRequest>,
) -> Answer<MediationCase> {
    let caller = actor(&request)?;
    let r = request.into_inner();
    let mut v = Violations::new();
    let reason = validate::reason(&mut v, &r.reason);
    api.act(caller, &r.request_id, &r.case_id, Step::RecordNoAgreement { reason }, v).await
}

pub(super) async fn withdraw_case(api: &MediationApi, request: Request<CaseReasonRequest>) -> Answer<MediationCase> {
    let caller = actor(&request)?;
    let r = request.into_inner();
    let mut v = Violations::new();
    let reason = validate::reason(&mut v, &r.reason);
    api.act(caller, &r.request_id, &r.case_id, Step::Withdraw { reason }, v).await
}

pub(super) async fn transfer_case(api: &MediationApi, request: Request<TransferCaseRequest>) -> Answer<MediationCase> {
    let caller = actor(&request)?;
    let r = request.into_inner();
    let mut v = Violations::new();
    let target = TransferTarget::try_from(r.target).ok().filter(|t| *t != TransferTarget::Unspecified);
    if target.is_none() {
        v.add("target", "must be COURT, PETITION_OFFICE or POLICE");
    }
    let reason = validate::reason(&mut v, &r.reason);
    let step = Step::Transfer { target: target.unwrap_or(TransferTarget::Unspecified), reason };
    api.act(caller, &r.request_id, &r.case_id, step, v).await
}

pub(super) async fn apply_confirmation(
    api: &MediationApi,
    request: Request<ApplyConfirmationRequest>,
) -> Answer<MediationCase> {
    let caller = actor(&request)?;
    let r = request.into_inner();
    let mut v = Violations::new();
    let court = validate::text(&mut v, "court", &r.court, 2, 100);
    api.act(caller, &r.request_id, &r.case_id, Step::ApplyConfirmation { court }, v).await
}

pub(super) async fn record_confirmation(
    api: &MediationApi,
    request: Request<RecordConfirmationRequest>,
) -> Answer<MediationCase> {
    let caller = actor(&request)?;
    let r = request.into_inner();
    let mut v = Violations::new();
    let step = CourtStep::parse(&r.step);
    if step.is_none() {
        v.add("step", "must be accepted, extended, confirmed or invalid");
    }
    let note = validate::text(&mut v, "note", &r.note, 0, 500);
    let step = Step::Court { step: step.unwrap_or(CourtStep::Accepted), note };
    api.act(caller, &r.request_id, &r.case_id, step, v).await
}

pub(super) async fn record_follow_up(
    api: &MediationApi,
    request: Request<RecordFollowUpRequest>,
) -> Answer<MediationCase> {
    let caller = actor(&request)?;
    let r = request.into_inner();
    let mut v = Violations::new();
    let performance = Performance::parse(&r.performance);
    if performance.is_none() {
        v.add("performance", "must be performed, performing or breached");
    }
    let note = validate::text(&mut v, "note", &r.note, 2, 1000);
    let step = Step::FollowUp { performance: performance.unwrap_or(Performance::Performing), note, reopen: r.reopen };
    api.act(caller, &r.request_id, &r.case_id, step, v).await
}

pub(super) async fn close_case(api: &MediationApi, request: Request<CaseRequest>) -> Answer<MediationCase> {
    let caller = actor(&request)?;
    let r = request.into_inner();
    api.act(caller, &r.request_id, &r.case_id, Step::Close, Violations::new()).await
}
