//! Reference data: GetReferenceVersions, and LoadReferenceData (administrators only) with
//! every problem of a refused set reported against its file.

use civicgrid_kit::{
    auth::principal,
    grpc::{REQUEST_ID_RULE, Violations, is_request_id},
    storage::store_status,
};
use civicgrid_proto::v1::{GetReferenceVersionsRequest, LoadReferenceDataRequest, ReferenceVersions};
use tonic::{Request, Response, Status};

use super::DispatchApi;
use crate::{
    reference::{ReferenceError, ReferenceFiles},
    store::LoadError,
};

pub(super) async fn get_reference_versions(
    api: &DispatchApi,
    _request: Request<GetReferenceVersionsRequest>,
) -> Result<Response<ReferenceVersions>, Status> {
    let v = api.store.refdata().versions();
    Ok(Response::new(ReferenceVersions {
        catalog: v.catalog,
        regions: v.regions,
        departments: v.departments,
        calendar: v.calendar,
    }))
}

pub(super) async fn load_reference_data(
    api: &DispatchApi,
    request: Request<LoadReferenceDataRequest>,
) -> Result<Response<ReferenceVersions>, Status> {
    let caller = principal(&request)?;
    let r = request.into_inner();
    let mut v = Violations::new();
    if !is_request_id(&r.request_id) {
        v.add("request_id", REQUEST_ID_RULE);
    }
    for (field, text) in [
        ("catalog_toml", &r.catalog_toml),
        ("regions_toml", &r.regions_toml),
        ("departments_toml", &r.departments_toml),
        ("calendar_toml", &r.calendar_toml),
    ] {
        v.check(!text.trim().is_empty(), field, "is required");
    }
    v.into_result()?;
    let files = ReferenceFiles {
        catalog: r.catalog_toml,
        regions: r.regions_toml,
        departments: r.departments_toml,
        calendar: r.calendar_toml,
    };
    match api.store.load_reference(&caller, &r.request_id, files).await {
        Ok(v) => Ok(Response::new(ReferenceVersions {
            catalog: v.catalog,
            regions: v.regions,
            departments: v.departments,
            calendar: v.calendar,
        })),
        Err(LoadError::Invalid(e)) => Err(reference_violations(e)),
        Err(LoadError::Store(e)) => Err(store_status("loading reference data", e)),
    }
}

/// `INVALID_ARGUMENT` naming the file (`catalog_toml` …) of every problem in a reference set.
fn reference_violations(e: ReferenceError) -> Status {
    let mut v = Violations::new();
    match e {
        ReferenceError::Invalid { file, problems } => {
            for p in problems {
                v.add(format!("{}_toml", file.trim_end_matches(".toml")), p);
            }
        }
        ReferenceError::Parse { file, message } => v.add(format!("{}_toml", file.trim_end_matches(".toml")), message),
        ReferenceError::Read { path, source } => v.add("request", format!("{}: {source}", path.display())),
    }
    v.into_result().err().unwrap_or_else(|| Status::invalid_argument("invalid reference data"))
}
