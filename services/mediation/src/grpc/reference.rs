//! The reference data: ListOrganisations and ListMediators (from the set in force, mediators
//! with their open-case load), GetMediationReferenceVersions, and LoadMediationReferenceData
//! (administrators only) with every problem of a refused set reported against its file.

use civicgrid_kit::{
    auth::{Principal, principal},
    grpc::Violations,
    region,
    storage::store_status,
};
use civicgrid_proto::v1::{
    GetMediationReferenceVersionsRequest, ListMediatorsRequest, ListMediatorsResponse, ListOrganisationsRequest,
    ListOrganisationsResponse, LoadMediationReferenceDataRequest, MediationReferenceVersions, Mediator, Organisation,
};
use tonic::{Request, Response, Status};

use super::{Answer, MediationApi, validate};
use crate::{
    reference::{ReferenceError, ReferenceFiles},
    store::cases,
    usecase::{LoadError, reference::versions_of},
};

/// The region a listing covers: the one asked for, within the caller's scope.
fn listed_region(caller: &Principal, asked: &str) -> Result<String, Status> {
    if asked.is_empty() {
        return Ok(caller.region_scope.clone());
    }
    if !caller.covers_code(asked) {
        return Err(Status::permission_denied(format!("region {asked} is outside the caller's region")));
    }
    Ok(asked.to_string())
}

/// Whether an organisation of region `org_region` belongs in a listing of `region`: it lies
/// inside it, or it serves it (a township or professional committee over a village).
fn belongs(org_region: &str, region: &str) -> bool {
    region.is_empty() || region::within(org_region, region) || region::within(region, org_region)
}

pub(super) async fn list_organisations(
    api: &MediationApi,
    request: Request<ListOrganisationsRequest>,
) -> Answer<ListOrganisationsResponse> {
    let caller = principal(&request)?;
    let mut v = Violations::new();
    validate::region_code(&mut v, "region_code", &request.get_ref().region_code);
    v.into_result()?;
    let region = listed_region(&caller, &request.get_ref().region_code)?;
    let refdata = api.store.refdata();
    let organisations = refdata
        .organisations
        .iter()
        .filter(|o| belongs(&o.org.region_code, &region))
        .map(|o| Organisation {
            id: o.org.id.clone(),
            name: o.name.clone(),
            kind: o.org.kind.as_str().to_string(),
            region_code: o.org.region_code.clone(),
            specialties: o.org.specialties.iter().map(|t| *t as i32).collect(),
        })
        .collect();
    Ok(Response::new(ListOrganisationsResponse { organisations }))
}

pub(super) async fn list_mediators(
    api: &MediationApi,
    request: Request<ListMediatorsRequest>,
) -> Answer<ListMediatorsResponse> {
    let caller = principal(&request)?;
    let r = request.into_inner();
    let mut v = Violations::new();
    validate::region_code(&mut v, "region_code", &r.region_code);
    let refdata = api.store.refdata();
    if !r.organisation_id.is_empty() && refdata.organisation(&r.organisation_id).is_none() {
        v.add("organisation_id", format!("no organisation `{}`", r.organisation_id));
    }
    v.into_result()?;
    let region = listed_region(&caller, &r.region_code)?;
    let load = cases::open_load(api.store.pool(), None).await.map_err(|e| store_status("counting open cases", e))?;
    let mediators = refdata
        .mediators
        .iter()
        .filter(|m| r.organisation_id.is_empty() || m.mediator.organisation_id == r.organisation_id)
        .filter(|m| {
            refdata.organisation(&m.mediator.organisation_id).is_some_and(|o| belongs(&o.org.region_code, &region))
        })
        .map(|m| Mediator {
            id: m.mediator.id.clone(),
            name: m.name.clone(),
            organisation_id: m.mediator.organisation_id.clone(),
            specialties: m.mediator.specialties.iter().map(|t| *t as i32).collect(),
            available: m.mediator.available,
            open_cases: i32::try_from(load.get(&m.mediator.id).copied().unwrap_or(0)).unwrap_or(i32::MAX),
        })
        .collect();
    Ok(Response::new(ListMediatorsResponse { mediators }))
}

pub(super) async fn get_versions(
    api: &MediationApi,
    _request: Request<GetMediationReferenceVersionsRequest>,
) -> Answer<MediationReferenceVersions> {
    Ok(Response::new(versions_of(&api.store.in_force())))
}

pub(super) async fn load(
    api: &MediationApi,
    request: Request<LoadMediationReferenceDataRequest>,
) -> Answer<MediationReferenceVersions> {
    let caller = principal(&request)?;
    let r = request.into_inner();
    let mut v = Violations::new();
    validate::request_id(&mut v, &r.request_id);
    for (field, text) in [
        ("organisations_toml", &r.organisations_toml),
        ("mediators_toml", &r.mediators_toml),
        ("calendar_toml", &r.calendar_toml),
    ] {
        v.check(!text.trim().is_empty(), field, "is required");
    }
    v.into_result()?;
    let files =
        ReferenceFiles { organisations: r.organisations_toml, mediators: r.mediators_toml, calendar: r.calendar_toml };
    match api.store.load_reference(&caller, &r.request_id, files).await {
        Ok(versions) => Ok(Response::new(versions)),
        Err(LoadError::Invalid(e)) => Err(reference_violations(e)),
        Err(LoadError::Store(e)) => Err(store_status("loading reference data", e)),
    }
}

/// `INVALID_ARGUMENT` naming the file (`organisations_toml` …) of every problem of a set.
fn reference_violations(e: ReferenceError) -> Status {
    let mut v = Violations::new();
    match e {
        ReferenceError::Invalid(problems) => {
            for p in problems {
                let field = ["organisations", "mediators", "calendar"]
                    .into_iter()
                    .find(|f| p.starts_with(&format!("{f}.toml")))
                    .map(|f| format!("{f}_toml"))
                    .unwrap_or_else(|| "organisations_toml".into());
                v.add(field, p);
            }
        }
        ReferenceError::Read { path, reason } => v.add("request", format!("{path}: {reason}")),
    }
    v.into_result().err().unwrap_or_else(|| Status::invalid_argument("invalid reference data"))
}
