//! `civicgrid.v1.PatrolService`: role → validate (every violation at once) → scope → use
//! case; errors become gRPC statuses here and nowhere else. The handlers live by area —
//! [`reference`] (teams, places, routes), [`shifts`] (the shift lifecycle and manual
//! check-ins), [`positions`] (SendPositions), [`reports`] (findings, tracks, coverage,
//! presence) — and the trait implementation below only routes each call.

mod positions;
mod reference;
mod reports;
mod shifts;
pub mod validate;

use std::sync::Arc;

use civicgrid_kit::{
    auth::Principal,
    grpc::{Violations, invalid_field},
    storage::store_status,
};
use civicgrid_proto::v1::{
    CheckInRequest, Coverage, Finding, GetCoverageRequest, GetPresenceRequest, GetRouteRequest, GetShiftRequest,
    GetTrackRequest, ListPlacesRequest, ListPlacesResponse, ListRoutesRequest, ListRoutesResponse, ListShiftsRequest,
    ListShiftsResponse, ListTeamsRequest, ListTeamsResponse, Place, PositionBatch, PositionSummary, PresenceReport,
    PutPlaceRequest, PutRouteRequest, PutTeamRequest, ReportFindingRequest, Route, ScheduleShiftRequest, Shift,
    ShiftReasonRequest, ShiftRequest, Team, Track, patrol_service_server::PatrolService,
};
use tonic::{Request, Response, Status, Streaming};

use crate::{core::Core, engine::Engine, usecase::UseError};

/// The gRPC handlers.
pub struct PatrolApi {
    core: Arc<Core>,
    engine: Arc<Engine>,
}

impl PatrolApi {
    /// Handlers over the shared parts and the engine.
    pub fn new(core: Arc<Core>, engine: Arc<Engine>) -> Self {
        PatrolApi { core, engine }
    }
}

/// The status of a call not done.
pub(crate) fn status(context: &str, e: UseError) -> Status {
    match e {
        UseError::NotFound(m) => Status::not_found(m),
        UseError::Denied(m) => Status::permission_denied(m),
        UseError::Precondition(m) => Status::failed_precondition(m),
        UseError::Invalid { field, why } => invalid_field(&field, &why),
        UseError::Upstream(s) => s,
        UseError::Store(e) => store_status(context, e),
    }
}

/// The region a listing covers: the one asked for (checked), within the caller's scope.
pub(crate) fn listed_region(caller: &Principal, asked: &str) -> Result<String, Status> {
    let mut v = Violations::new();
    validate::region_filter(&mut v, "region_code", asked);
    v.into_result()?;
    if asked.is_empty() {
        return Ok(caller.region_scope.clone());
    }
    if !caller.covers_code(asked) {
        return Err(Status::permission_denied(format!("region {asked} is outside the caller's region")));
    }
    Ok(asked.to_string())
}

type Answer<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl PatrolService for PatrolApi {
    async fn put_team(&self, request: Request<PutTeamRequest>) -> Answer<Team> {
        reference::put_team(self, request).await
    }

    async fn list_teams(&self, request: Request<ListTeamsRequest>) -> Answer<ListTeamsResponse> {
        reference::list_teams(self, request).await
    }

    async fn put_place(&self, request: Request<PutPlaceRequest>) -> Answer<Place> {
        reference::put_place(self, request).await
    }

    async fn list_places(&self, request: Request<ListPlacesRequest>) -> Answer<ListPlacesResponse> {
        reference::list_places(self, request).await
    }

    async fn put_route(&self, request: Request<PutRouteRequest>) -> Answer<Route> {
        reference::put_route(self, request).await
    }

    async fn get_route(&self, request: Request<GetRouteRequest>) -> Answer<Route> {
        reference::get_route(self, request).await
    }

    async fn list_routes(&self, request: Request<ListRoutesRequest>) -> Answer<ListRoutesResponse> {
        reference::list_routes(self, request).await
    }

    async fn schedule_shift(&self, request: Request<ScheduleShiftRequest>) -> Answer<Shift> {
        shifts::schedule(self, request).await
    }

    async fn cancel_shift(&self, request: Request<ShiftReasonRequest>) -> Answer<Shift> {
        shifts::cancel(self, request).await
    }

    async fn start_shift(&self, request: Request<ShiftRequest>) -> Answer<Shift> {
        shifts::start(self, request).await
    }

    async fn end_shift(&self, request: Request<ShiftRequest>) -> Answer<Shift> {
        shifts::end(self, request).await
    }

    async fn get_shift(&self, request: Request<GetShiftRequest>) -> Answer<Shift> {
        shifts::get(self, request).await
    }

    async fn list_shifts(&self, request: Request<ListShiftsRequest>) -> Answer<ListShiftsResponse> {
        shifts::list(self, request).await
    }

    async fn send_positions(&self, request: Request<Streaming<PositionBatch>>) -> Answer<PositionSummary> {
        positions::send(self, request).await
    }

    async fn check_in(&self, request: Request<CheckInRequest>) -> Answer<Shift> {
        shifts::check_in(self, request).await
    }

    async fn report_finding(&self, request: Request<ReportFindingRequest>) -> Answer<Finding> {
        reports::report_finding(self, request).await
    }

    async fn get_track(&self, request: Request<GetTrackRequest>) -> Answer<Track> {
        reports::get_track(self, request).await
    }

    async fn get_coverage(&self, request: Request<GetCoverageRequest>) -> Answer<Coverage> {
        reports::get_coverage(self, request).await
    }

    async fn get_presence(&self, request: Request<GetPresenceRequest>) -> Answer<PresenceReport> {
        reports::get_presence(self, request).await
    }
}
