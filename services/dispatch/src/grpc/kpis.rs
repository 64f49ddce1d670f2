//! Assessment figures: GetKpis (departments and regions) and GetGridWorkerKpis, with who may
//! read whose figures.

use civicgrid_kit::{
    auth::{Principal, principal},
    grpc::{Violations, invalid_field},
    storage::store_status,
};
use civicgrid_proto::v1::{self as pb, GetGridWorkerKpisRequest, GetKpisRequest, GridWorkerKpis, Kpis, Role};
use tonic::{Request, Response, Status};

use super::{DispatchApi, tasks::scope_filter};
use crate::domain::kpi::Period;

/// The period of a KPI request, with `period.from` / `period.to` violations noted in `v`.
fn kpi_period(range: Option<pb::TimeRange>, v: &mut Violations) -> Option<Period> {
    let range = range.unwrap_or_default();
    let from = range.from.as_ref().and_then(civicgrid_kit::time::from_proto);
    let to = range.to.as_ref().and_then(civicgrid_kit::time::from_proto);
    v.check(from.is_some(), "period.from", "is required");
    v.check(to.is_some(), "period.to", "is required");
    let (from, to) = (from?, to?);
    v.check(from < to, "period.to", "must be after period.from");
    (from < to).then_some(Period { from, to })
}

/// Whether `caller` may read the figures of grid worker `worker_id` (already checked to be a
/// well-formed id): a grid worker only their own; a center, county center or admin those of a
/// grid worker who has a grid inside its region scope (any grid worker when the scope is empty).
fn may_read_grid_worker(caller: &Principal, worker_id: &str, refdata: &crate::reference::ReferenceData) -> bool {
    match caller.role {
        Role::GridWorker => caller.subject == worker_id,
        Role::Admin | Role::Center | Role::CountyCenter if caller.region_scope.is_empty() => true,
        Role::Admin | Role::Center | Role::CountyCenter => {
            refdata.regions.grids().iter().filter(|g| g.grid_worker == worker_id).any(|g| caller.covers_code(&g.code))
        }
        _ => false,
    }
}

pub(super) async fn get_kpis(api: &DispatchApi, request: Request<GetKpisRequest>) -> Result<Response<Kpis>, Status> {
    let caller = principal(&request)?;
    let req = request.into_inner();
    let mut v = Violations::new();
    let period = kpi_period(req.period, &mut v);
    let filter = scope_filter(&caller, &req.department_id, &req.region_code, &mut v)?;
    // A center may score only departments serving inside its region.
    if !req.department_id.is_empty() && !caller.region_scope.is_empty() {
        let inside =
            api.store.refdata().departments.get(&req.department_id).is_some_and(|d| caller.covers_code(&d.region_code));
        if !inside {
            return Err(Status::permission_denied(format!(
                "department {} does not serve inside the caller's region",
                req.department_id
            )));
        }
    }
    v.into_result()?;
    let Some(period) = period else { return Err(invalid_field("period", "is required")) };
    let region =
        [&filter.village, &filter.township, &filter.county, &filter.city].into_iter().flatten().next().cloned();
    let k = api
        .store
        .kpis(filter.department_id.as_deref(), region.as_deref(), period)
        .await
        .map_err(|e| store_status("computing KPIs", e))?;
    let rate = |r: Option<f64>| r.unwrap_or(0.0);
    Ok(Response::new(Kpis {
        due_to_close: k.due.into(),
        closed: k.closed.into(),
        closed_on_time: k.closed_on_time.into(),
        closure_rate: rate(k.closure_rate()),
        on_time_closure_rate: rate(k.on_time_closure_rate()),
        handled: k.handled.into(),
        reworked: k.reworked.into(),
        rework_rate: rate(k.rework_rate()),
        assigned: k.assigned.into(),
        returned: k.returned.into(),
        return_rate: rate(k.return_rate()),
        signed_on_time: k.signed_on_time.into(),
        on_time_sign_rate: rate(k.on_time_sign_rate()),
        rated: k.rated.into(),
        satisfied: (k.satisfied + k.basically_satisfied).into(),
        satisfaction_rate: rate(k.satisfaction_rate()),
    }))
}

pub(super) async fn get_grid_worker_kpis(
    api: &DispatchApi,
    request: Request<GetGridWorkerKpisRequest>,
) -> Result<Response<GridWorkerKpis>, Status> {
    let caller = principal(&request)?;
    let req = request.into_inner();
    let mut v = Violations::new();
    let period = kpi_period(req.period, &mut v);
    // A grid worker asks for their own figures by default.
    let worker_id = match req.grid_worker_id.trim() {
        "" if caller.role == Role::GridWorker => caller.subject.clone(),
        id => id.to_string(),
    };
    if worker_id.is_empty() {
        v.add("grid_worker_id", "is required");
    } else if worker_id.chars().count() > 128 || worker_id.contains(char::is_whitespace) {
        v.add("grid_worker_id", "must be at most 128 characters without whitespace");
    }
    v.into_result()?;
    let Some(period) = period else { return Err(invalid_field("period", "is required")) };
    if !may_read_grid_worker(&caller, &worker_id, &api.store.refdata()) {
        return Err(Status::permission_denied(if caller.role == Role::GridWorker {
            "a grid worker may read only their own figures".to_string()
        } else {
            format!("grid worker {worker_id} has no grid inside the caller's region")
        }));
    }
    let k = api
        .store
        .grid_worker_kpis(&worker_id, period)
        .await
        .map_err(|e| store_status("computing grid worker KPIs", e))?;
    Ok(Response::new(GridWorkerKpis {
        grid_worker_id: worker_id,
        reports: k.reports.into(),
        valid_reports: k.valid_reports.into(),
        valid_report_rate: k.valid_report_rate().unwrap_or(0.0),
        verifications: k.verifications.into(),
        timely_verifications: k.timely_verifications.into(),
        timely_verification_rate: k.timely_verification_rate().unwrap_or(0.0),
    }))
}
