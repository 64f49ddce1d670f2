//! Opening, amending and reading cases: OpenCase, AmendCase, GetCase and ListCases (paged,
//! newest first, filtered in SQL by what the caller may see).

use civicgrid_kit::{
    auth::{Principal, Scope, principal},
    grpc::{
        Violations,
        paging::{Page, PageRequest},
    },
    region,
    storage::store_status,
};
use civicgrid_proto::v1::{
    AmendCaseRequest, CaseSource, CaseState, DisputeType, GetCaseRequest, ListCasesRequest, ListCasesResponse,
    MediationCase, OpenCaseRequest, PartyRole, RiskLevel, Role,
};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{Answer, MediationApi, act_status, validate};
use crate::{
    domain::{
        case::State,
        visibility::{Visibility, justice_office_region},
    },
    store::cases::CaseFilter,
    usecase::{NewCase, Step},
};

pub(super) fn readable(api: &MediationApi, caller: &Principal) -> Result<Visibility, Status> {
    match api.store.visibility_of(caller) {
        Visibility::Nothing => Err(Status::permission_denied(format!(
            "role {} (department `{}`) may not read mediation cases",
            caller.role.as_str_name(),
            caller.department_id
        ))),
        v => Ok(v),
    }
}

pub(super) async fn open_case(api: &MediationApi, request: Request<OpenCaseRequest>) -> Answer<MediationCase> {
    let caller = principal(&request)?;
    let r = request.into_inner();
    let mut v = Violations::new();
    validate::request_id(&mut v, &r.request_id);
    let source = CaseSource::try_from(r.source).ok().filter(|s| {
        matches!(s, CaseSource::Application | CaseSource::Court | CaseSource::PetitionOffice | CaseSource::Police)
    });
    if source.is_none() {
        v.add(
            "source",
            "must be APPLICATION, COURT, PETITION_OFFICE or POLICE (EVENT cases open from dispatched reports)",
        );
    }
    let dispute_type = DisputeType::try_from(r.dispute_type).ok().filter(|t| *t != DisputeType::Unspecified);
    if dispute_type.is_none() {
        v.add("dispute_type", "must be a DisputeType other than UNSPECIFIED");
    }
    let facts = validate::text(&mut v, "facts", &r.facts, 10, 2000);
    let amount = r.amount_involved.as_ref().map(|m| validate::money(&mut v, "amount_involved", m)).unwrap_or(0);
    let parties = validate::parties(&mut v, "parties", &r.parties);
    let has = |role: PartyRole| parties.iter().any(|p| p.role == role);
    if !(has(PartyRole::Applicant) && has(PartyRole::Respondent)) {
        v.add("parties", "must include at least one applicant and one respondent");
    }
    let place = validate::place(&mut v, "region_code", &r.region_code);
    if !r.organisation_id.is_empty() {
        validate::plain_id(&mut v, "organisation_id", &r.organisation_id);
    }
    let risk = RiskLevel::try_from(r.risk).unwrap_or_else(|_| {
        v.add("risk", "unknown RiskLevel value");
        RiskLevel::Unspecified
    });
    let external_reference = validate::text(&mut v, "external_reference", &r.external_reference, 0, 64);
    v.into_result()?;
    let (Some(source), Some(dispute_type), Some((path, grid_code))) = (source, dispute_type, place) else {
        return Err(Status::invalid_argument("invalid request"));
    };
    // Scope: a party's app applies; others open within their region.
    if caller.role == Role::CitizenApp && source != CaseSource::Application {
        return Err(Status::permission_denied("a party's app opens applications only"));
    }
    let office = justice_office_region(&caller.department_id, &api.store.justice_kinds);
    if !caller.covers(&path, grid_code.as_deref().unwrap_or_default())
        || office.is_some_and(|code| !region::contains(code, &path))
    {
        return Err(Status::permission_denied(format!("region {} is outside the caller's region", r.region_code)));
    }
    // An organisation opens for itself unless it names another.
    let refdata = api.store.refdata();
    let own = refdata.organisation(&caller.department_id).filter(|_| caller.role == Role::Department);
    if let Some(org) = own.as_ref().filter(|_| r.organisation_id.is_empty())
        && !region::contains(&org.org.region_code, &path)
    {
        return Err(Status::permission_denied(format!("region {} is outside {}'s", r.region_code, org.org.id)));
    }
    let organisation_id = Some(r.organisation_id).filter(|o| !o.is_empty()).or(own.map(|o| o.org.id.clone()));
    let new = NewCase {
        source,
        dispute_type,
        facts,
        amount_nanos: amount,
        parties,
        path,
        grid_code,
        organisation_id,
        risk,
        external_reference,
        task: None,
    };
    let case = api.store.open_case(&caller, &r.request_id, new, api.clock.now()).await.map_err(act_status)?;
    tracing::info!(case = %case.id, number = %case.case_number, "case opened");
    Ok(Response::new(case))
}

pub(super) async fn amend_case(api: &MediationApi, request: Request<AmendCaseRequest>) -> Answer<MediationCase> {
    let caller = principal(&request)?;
    let r = request.into_inner();
    let mut v = Violations::new();
    let parties = validate::parties(&mut v, "parties", &r.parties);
    let facts = (!r.facts.trim().is_empty()).then(|| validate::text(&mut v, "facts", &r.facts, 10, 2000));
    let amount_nanos = r.amount_involved.as_ref().map(|m| validate::money(&mut v, "amount_involved", m));
    if parties.is_empty() && facts.is_none() && amount_nanos.is_none() {
        v.add("parties", "give parties to add, facts or amount_involved");
    }
    api.act(caller, &r.request_id, &r.case_id, Step::Amend { parties, facts, amount_nanos }, v).await
}

pub(super) async fn get_case(api: &MediationApi, request: Request<GetCaseRequest>) -> Answer<MediationCase> {
    let caller = principal(&request)?;
    readable(api, &caller)?;
    let mut v = Violations::new();
    let id = validate::uuid(&mut v, "case_id", &request.get_ref().case_id);
    v.into_result()?;
    let case = api
        .store
        .get_case(&caller, id, api.clock.now())
        .await
        .map_err(|e| store_status("reading a case", e))?
        .ok_or_else(|| Status::not_found("no such case"))?;
    Ok(Response::new(case))
}

/// Narrows `slot` (set by the caller's visibility or not) to `asked`; PERMISSION_DENIED when
/// the caller asks for another than their own.
fn narrow(slot: &mut Option<String>, asked: &str, field: &str) -> Result<(), Status> {
    match slot {
        _ if asked.is_empty() => Ok(()),
        Some(own) if own != asked => Err(Status::permission_denied(format!("{field}: the caller sees only `{own}`"))),
        _ => {
            *slot = Some(asked.to_string());
            Ok(())
        }
    }
}

pub(super) async fn list_cases(api: &MediationApi, request: Request<ListCasesRequest>) -> Answer<ListCasesResponse> {
    let caller = principal(&request)?;
    let visibility = readable(api, &caller)?;
    let r = request.into_inner();
    let mut v = Violations::new();
    let mut filter = CaseFilter::default();
    let mut region_of_caller = String::new();
    match visibility {
        Visibility::Mediator(id) => filter.mediator_id = Some(id),
        Visibility::Organisation(id) => filter.organisation_id = Some(id),
        Visibility::Region(code) => {
            filter.set_region(&code);
            region_of_caller = code;
        }
        Visibility::All | Visibility::Nothing => {}
    }
    validate::region_code(&mut v, "region_code", &r.region_code);
    let mut states = Vec::new();
    for (i, s) in r.states.iter().enumerate() {
        match CaseState::try_from(*s).ok().and_then(State::from_proto) {
            Some(s) => states.push(s.as_str().to_string()),
            None => v.add(format!("states[{i}]"), "unknown CaseState value"),
        }
    }
    if !r.organisation_id.is_empty() {
        validate::plain_id(&mut v, "organisation_id", &r.organisation_id);
    }
    if !r.mediator_id.is_empty() {
        validate::plain_id(&mut v, "mediator_id", &r.mediator_id);
    }
    match RiskLevel::try_from(r.risk) {
        Ok(RiskLevel::Unspecified) => {}
        Ok(risk) => filter.risk = Some(risk as i16),
        Err(_) => v.add("risk", "unknown RiskLevel value"),
    }
    let page: PageRequest<Uuid> = PageRequest::parse(&mut v, r.page_size, &r.page_token);
    v.into_result()?;
    if !r.region_code.is_empty() {
        if !Scope::parse(&region_of_caller).covers_code(&r.region_code) {
            return Err(Status::permission_denied(format!("region {} is outside the caller's region", r.region_code)));
        }
        filter.set_region(&r.region_code);
    }
    narrow(&mut filter.organisation_id, &r.organisation_id, "organisation_id")?;
    narrow(&mut filter.mediator_id, &r.mediator_id, "mediator_id")?;
    filter.states = (!states.is_empty()).then_some(states);
    let now = api.clock.now();
    filter.overdue_at = r.overdue_only.then_some(now);
    filter.before_id = page.after;
    let rows = api.store.list_cases(&filter, page.fetch(), now).await.map_err(|e| store_status("listing cases", e))?;
    let page = Page::of(rows, &page, |c| Uuid::parse_str(&c.id).unwrap_or_default());
    Ok(Response::new(ListCasesResponse { cases: page.items, next_page_token: page.next_page_token }))
}
