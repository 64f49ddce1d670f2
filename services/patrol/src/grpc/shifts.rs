//! Shifts: ScheduleShift, CancelShift, StartShift, EndShift, GetShift, ListShifts, and the
//! manual CheckIn.

use civicgrid_kit::{
    auth::principal,
    grpc::{
        Violations,
        paging::{Page, PageRequest},
    },
    storage::store_status,
};
use civicgrid_proto::v1::{
    CheckInMethod, CheckInRequest, GetShiftRequest, ListShiftsRequest, ListShiftsResponse, Role, ScheduleShiftRequest,
    Shift, ShiftReasonRequest, ShiftRequest, ShiftState,
};
use tonic::{Request, Response, Status};

use super::{Answer, PatrolApi, listed_region, status, validate};
use crate::{
    store::{ShiftKey, region_prefix, shifts},
    usecase::shifts::{self as usecase, NewShift},
};

pub(super) async fn schedule(api: &PatrolApi, request: Request<ScheduleShiftRequest>) -> Answer<Shift> {
    let caller = principal(&request)?;
    let r = request.into_inner();
    let mut v = Violations::new();
    validate::request_id(&mut v, &r.request_id);
    validate::id(&mut v, "team_id", &r.team_id);
    validate::id(&mut v, "route_id", &r.route_id);
    let starts_at = validate::instant(&mut v, "starts_at", r.starts_at.as_ref());
    let ends_at = validate::instant(&mut v, "ends_at", r.ends_at.as_ref());
    if let (Some(s), Some(e)) = (starts_at, ends_at) {
        v.check(
            e > s && e - s <= chrono::Duration::hours(24),
            "ends_at",
            "must be after starts_at, at most 24 hours later",
        );
        v.check(e > api.core.clock.now(), "ends_at", "must be in the future");
    }
    v.into_result()?;
    let (Some(starts_at), Some(ends_at)) = (starts_at, ends_at) else { return Err(Status::invalid_argument("times")) };
    let new = NewShift { team_id: r.team_id, route_id: r.route_id, starts_at, ends_at };
    let shift =
        usecase::schedule(&api.core, &caller, &r.request_id, new).await.map_err(|e| status("scheduling a shift", e))?;
    Ok(Response::new(shift))
}

pub(super) async fn cancel(api: &PatrolApi, request: Request<ShiftReasonRequest>) -> Answer<Shift> {
    let caller = principal(&request)?;
    let r = request.into_inner();
    let mut v = Violations::new();
    validate::request_id(&mut v, &r.request_id);
    let id = validate::uuid(&mut v, "shift_id", &r.shift_id);
    validate::text(&mut v, "reason", &r.reason, 2, 500);
    v.into_result()?;
    let id = id.unwrap_or_default();
    let shift = usecase::cancel(&api.core, &caller, &r.request_id, id, &r.reason)
        .await
        .map_err(|e| status("cancelling a shift", e))?;
    Ok(Response::new(shift))
}

fn shift_request(r: &ShiftRequest) -> Result<uuid::Uuid, Status> {
    let mut v = Violations::new();
    validate::request_id(&mut v, &r.request_id);
    let id = validate::uuid(&mut v, "shift_id", &r.shift_id);
    v.into_result()?;
    Ok(id.unwrap_or_default())
}

pub(super) async fn start(api: &PatrolApi, request: Request<ShiftRequest>) -> Answer<Shift> {
    let caller = principal(&request)?;
    let id = shift_request(request.get_ref())?;
    let shift = api
        .engine
        .start(&caller, &request.get_ref().request_id, id)
        .await
        .map_err(|e| status("starting a shift", e))?;
    Ok(Response::new(shift))
}

pub(super) async fn end(api: &PatrolApi, request: Request<ShiftRequest>) -> Answer<Shift> {
    let caller = principal(&request)?;
    let id = shift_request(request.get_ref())?;
    let shift =
        api.engine.end(&caller, &request.get_ref().request_id, id).await.map_err(|e| status("ending a shift", e))?;
    Ok(Response::new(shift))
}

pub(super) async fn check_in(api: &PatrolApi, request: Request<CheckInRequest>) -> Answer<Shift> {
    let caller = principal(&request)?;
    let r = request.into_inner();
    let mut v = Violations::new();
    validate::request_id(&mut v, &r.request_id);
    let id = validate::uuid(&mut v, "shift_id", &r.shift_id);
    validate::id(&mut v, "checkpoint_id", &r.checkpoint_id);
    let method =
        CheckInMethod::try_from(r.method).ok().filter(|m| matches!(m, CheckInMethod::QrCode | CheckInMethod::Photo));
    v.check(method.is_some(), "method", "must be CHECK_IN_METHOD_QR_CODE or CHECK_IN_METHOD_PHOTO");
    validate::text(&mut v, "evidence", &r.evidence, 1, 500);
    v.into_result()?;
    let (id, method) = (id.unwrap_or_default(), method.unwrap_or(CheckInMethod::QrCode));
    let shift = api
        .engine
        .check_in(&caller, &r.request_id, id, &r.checkpoint_id, method, &r.evidence)
        .await
        .map_err(|e| status("checking in", e))?;
    Ok(Response::new(shift))
}

pub(super) async fn get(api: &PatrolApi, request: Request<GetShiftRequest>) -> Answer<Shift> {
    let caller = principal(&request)?;
    let mut v = Violations::new();
    let id = validate::uuid(&mut v, "shift_id", &request.get_ref().shift_id);
    v.into_result()?;
    let pool = &api.core.pool;
    let row = shifts::get(pool, id.unwrap_or_default()).await.map_err(|e| store_status("reading a shift", e))?;
    let Some(row) = row else { return Err(Status::not_found("no such shift")) };
    let visible = caller.covers_code(&row.region_code)
        && (!matches!(caller.role, Role::PatrolMember | Role::GridWorker)
            || api.engine.teams_of(&caller.subject).await.contains(&row.team_id));
    if !visible {
        return Err(Status::not_found("no such shift"));
    }
    let mut conn = pool.acquire().await.map_err(|e| store_status("reading a shift", e))?;
    let shift = usecase::read_one(&mut conn, &row).await.map_err(|e| status("reading a shift", e))?;
    Ok(Response::new(shift))
}

pub(super) async fn list(api: &PatrolApi, request: Request<ListShiftsRequest>) -> Answer<ListShiftsResponse> {
    let caller = principal(&request)?;
    let r = request.into_inner();
    let mut v = Violations::new();
    if !r.team_id.is_empty() {
        validate::id(&mut v, "team_id", &r.team_id);
    }
    let mut states = Vec::new();
    for (i, s) in r.states.iter().enumerate() {
        match ShiftState::try_from(*s).ok().and_then(usecase::state_name) {
            Some(name) => states.push(name.to_string()),
            None => v.add(format!("states[{i}]"), "must be a ShiftState other than UNSPECIFIED"),
        }
    }
    let (from, to) = validate::open_period(&mut v, "period", r.period.as_ref());
    let page: PageRequest<ShiftKey> = PageRequest::parse(&mut v, r.page_size, &r.page_token);
    v.into_result()?;
    let region = listed_region(&caller, &r.region_code)?;
    let teams = if matches!(caller.role, Role::PatrolMember | Role::GridWorker) {
        Some(api.engine.teams_of(&caller.subject).await)
    } else {
        None
    };
    let filter = shifts::Filter {
        region_prefix: region_prefix(&region),
        team_id: r.team_id,
        teams,
        states,
        from,
        to,
        alarms_only: r.alarms_only,
    };
    let pool = &api.core.pool;
    let rows = shifts::list(pool, &filter, page.after.as_ref().map(|k| (k.0, k.1)), page.fetch())
        .await
        .map_err(|e| store_status("listing shifts", e))?;
    let page = Page::of(rows, &page, |r| ShiftKey(r.starts_at, r.id));
    let mut conn = pool.acquire().await.map_err(|e| store_status("listing shifts", e))?;
    let shifts = usecase::read(&mut conn, &page.items).await.map_err(|e| status("listing shifts", e))?;
    Ok(Response::new(ListShiftsResponse { shifts, next_page_token: page.next_page_token }))
}
