//! GetStats (the figures of a period in the caller's scope) and GetAgreementDocument (the
//! 调解协议书 with the parties in full, for those who handle the case, each answer recorded in
//! the audit trail with the caller's `purpose`).

use civicgrid_kit::{
    auth::{Scope, principal},
    grpc::{Violations, invalid_field},
    storage::store_status,
};
use civicgrid_proto::v1::{AgreementDocument, GetAgreementDocumentRequest, GetMediationStatsRequest, MediationStats};
use tonic::{Request, Response, Status};

use super::{Answer, MediationApi, act_status, cases::readable, validate};
use crate::{
    domain::visibility::Visibility,
    store::{cases::CaseFilter, reveals::Reveal},
    usecase::stats::{StatsQuery, group_of},
};

pub(super) async fn get_stats(
    api: &MediationApi,
    request: Request<GetMediationStatsRequest>,
) -> Answer<MediationStats> {
    let caller = principal(&request)?;
    let visibility = readable(api, &caller)?;
    let r = request.into_inner();
    let mut v = Violations::new();
    let period = r.period.unwrap_or_default();
    let from = validate::instant(&mut v, "period.from", period.from.as_ref());
    let to = validate::instant(&mut v, "period.to", period.to.as_ref());
    if let (Some(from), Some(to)) = (from, to)
        && from >= to
    {
        v.add("period", "must end after it starts");
    }
    validate::region_code(&mut v, "region_code", &r.region_code);
    if group_of(&r.group_by, "").is_none() {
        v.add("group_by", "must be empty, region, organisation, mediator or dispute_type");
    }
    v.into_result()?;
    let (Some(from), Some(to)) = (from, to) else { return Err(invalid_field("period", "is required")) };
    let mut scope = CaseFilter::default();
    let mut region_code = r.region_code.clone();
    match visibility {
        Visibility::Region(code) => {
            if !r.region_code.is_empty() && !Scope::parse(&code).covers_code(&r.region_code) {
                return Err(Status::permission_denied(format!(
                    "region {} is outside the caller's region",
                    r.region_code
                )));
            }
            if region_code.is_empty() {
                region_code = code;
            }
        }
        Visibility::Organisation(id) => scope.organisation_id = Some(id),
        Visibility::Mediator(id) => scope.mediator_id = Some(id),
        Visibility::All | Visibility::Nothing => {}
    }
    if !region_code.is_empty() {
        scope.set_region(&region_code);
    }
    let group = group_of(&r.group_by, &region_code).ok_or_else(|| invalid_field("group_by", "unknown grouping"))?;
    let query = StatsQuery { from, to, scope, region: region_code, group };
    let stats = api.store.stats(&query).await.map_err(|e| store_status("computing statistics", e))?;
    Ok(Response::new(stats))
}

pub(super) async fn get_agreement_document(
    api: &MediationApi,
    request: Request<GetAgreementDocumentRequest>,
) -> Answer<AgreementDocument> {
    let caller = principal(&request)?;
    readable(api, &caller)?;
    let mut v = Violations::new();
    let r = request.get_ref();
    let id = validate::uuid(&mut v, "case_id", &r.case_id);
    validate::request_id(&mut v, &r.request_id);
    let purpose = r.purpose.trim();
    if purpose.is_empty() {
        v.add("purpose", "is required: say why the parties' personal data is needed (2 to 200 characters)");
    } else {
        validate::text(&mut v, "purpose", purpose, 2, 200);
    }
    v.into_result()?;
    let reveal = Reveal {
        method: "GetAgreementDocument",
        purpose: purpose.to_string(),
        request_id: r.request_id.clone(),
        at: api.clock.now(),
    };
    let document = api.store.agreement_document(&caller, id, &reveal).await.map_err(act_status)?;
    Ok(Response::new(document))
}
