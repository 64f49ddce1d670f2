//! `civicgrid.v1.IntakeService`: validate → domain → store, errors mapped to gRPC status here.

use std::sync::Arc;

use civicgrid_kit::{
    auth::{Principal, principal},
    clock::Clock,
    grpc::{
        Violations, invalid_field,
        paging::{Page, PageRequest},
    },
    region::{self, Level},
    storage::store_status,
};
use civicgrid_proto::v1::{
    Event, EventSource, EventStatus, GetEventByTrackingNumberRequest, GetEventRequest, ListEventsRequest,
    ListEventsResponse, RateOutcomeRequest, RateOutcomeResponse, Role, SubmitEventRequest, SubmitEventResponse,
    intake_service_server::IntakeService,
};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::{
    batcher::{SubmitError, Submitter},
    domain::{rating, tracking, validate},
    store::{ListFilter, NotRatable, RateAnswer, Store, Submission},
};

/// The gRPC handlers.
pub struct IntakeApi {
    store: Arc<Store>,
    submitter: Submitter,
    clock: Clock,
}

impl IntakeApi {
    /// Handlers over `store`, queueing submissions for group commit with `submitter`, reading
    /// the time from `clock`.
    pub fn new(store: Arc<Store>, submitter: Submitter, clock: Clock) -> Self {
        IntakeApi { store, submitter, clock }
    }
}

/// Roles that may report events.
const REPORTERS: &[Role] = &[
    Role::GridWorker,
    Role::CitizenApp,
    Role::PatrolMember,
    Role::Department,
    Role::Center,
    Role::CountyCenter,
    Role::Admin,
];

/// Roles that may read events other than by tracking number.
const READERS: &[Role] = &[Role::GridWorker, Role::Department, Role::Center, Role::CountyCenter, Role::Admin];

/// Roles that may record the reporter's rating (回访): the citizen app on the reporter's behalf,
/// the command center's callback operator, and admins. Grid workers verify fixes (复核) but do
/// not call reporters back; departments must not rate their own work; county centers only
/// subscribe.
const RATERS: &[Role] = &[Role::CitizenApp, Role::Center, Role::Admin];

fn violations_status(violations: Vec<validate::Violation>) -> Status {
    let mut v = Violations::new();
    for (field, why) in violations {
        v.add(field, why);
    }
    v.into_result().err().unwrap_or_else(|| Status::invalid_argument("invalid request"))
}

fn require(caller: &Principal, roles: &[Role], what: &str) -> Result<(), Status> {
    if caller.has_role(roles) {
        Ok(())
    } else {
        Err(Status::permission_denied(format!("role {} may not {what}", caller.role.as_str_name())))
    }
}

fn check_scope(caller: &Principal, event: &Event) -> Result<(), Status> {
    let region = event.location.as_ref().and_then(|l| l.region.clone()).unwrap_or_default();
    if region::contains(&caller.region_scope, &region) {
        Ok(())
    } else {
        Err(Status::permission_denied(format!("event is outside the caller's region {}", caller.region_scope)))
    }
}

#[tonic::async_trait]
impl IntakeService for IntakeApi {
    async fn submit_event(
        &self,
        request: Request<SubmitEventRequest>,
    ) -> Result<Response<SubmitEventResponse>, Status> {
        let caller = principal(&request)?;
        require(&caller, REPORTERS, "report events")?;
        let now = self.clock.now();
        let report = validate::validate(request.get_ref(), now).map_err(violations_status)?;
        if !region::contains(&caller.region_scope, &report.region) {
            return Err(Status::permission_denied(format!(
                "the location is outside the caller's region {}",
                caller.region_scope
            )));
        }
        let submission = Submission { report, caller, now, span: tracing::Span::current() };
        let answer = self.submitter.submit(submission).await.map_err(|e| match e {
            SubmitError::Store(e) => store_status("submitting event", e),
            SubmitError::Closed => Status::unavailable("intake is shutting down; retry with the same request_id"),
        })?;
        tracing::info!(event_id = %answer.event_id, tracking = %answer.tracking_number, merged = answer.merged, "report accepted");
        Ok(Response::new(answer))
    }

    async fn get_event(&self, request: Request<GetEventRequest>) -> Result<Response<Event>, Status> {
        let caller = principal(&request)?;
        require(&caller, READERS, "read events")?;
        let id =
            Uuid::parse_str(&request.get_ref().event_id).map_err(|_| invalid_field("event_id", "must be a UUID"))?;
        let event = self
            .store
            .get_event(id)
            .await
            .map_err(|e| store_status("reading event", e))?
            .ok_or_else(|| Status::not_found(format!("no event {id}")))?;
        check_scope(&caller, &event)?;
        Ok(Response::new(event))
    }

    async fn get_event_by_tracking_number(
        &self,
        request: Request<GetEventByTrackingNumberRequest>,
    ) -> Result<Response<Event>, Status> {
        let caller = principal(&request)?;
        let number = request.get_ref().tracking_number.trim();
        if !tracking::is_tracking_number(number) {
            return Err(invalid_field("tracking_number", "must look like 411602-20261122-000123"));
        }
        let not_found = || Status::not_found(format!("no event with tracking number {number}"));
        let id = self
            .store
            .event_id_by_tracking_number(number)
            .await
            .map_err(|e| store_status("finding event", e))?
            .ok_or_else(not_found)?;
        let event =
            self.store.get_event(id).await.map_err(|e| store_status("reading event", e))?.ok_or_else(not_found)?;
        // Whoever holds the tracking number may follow the event; scoped staff only in scope.
        if caller.role != Role::CitizenApp {
            check_scope(&caller, &event)?;
        }
        Ok(Response::new(event))
    }

    async fn list_events(&self, request: Request<ListEventsRequest>) -> Result<Response<ListEventsResponse>, Status> {
        let caller = principal(&request)?;
        require(&caller, READERS, "list events")?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let mut filter = ListFilter::default();

        // The caller's scope narrows every listing; a requested region must lie inside it.
        let region_code =
            if req.region_code.is_empty() { caller.region_scope.clone() } else { req.region_code.clone() };
        if !region_code.is_empty() {
            match region::level(&region_code) {
                Ok(level) => {
                    let inside = region::within(&region_code, &caller.region_scope);
                    if !inside {
                        return Err(Status::permission_denied(format!(
                            "region {region_code} is outside the caller's region {}",
                            caller.region_scope
                        )));
                    }
                    match level {
                        Level::City => filter.city = Some(region_code),
                        Level::County => filter.county = Some(region_code),
                        Level::Township => filter.township = Some(region_code),
                        Level::Village => filter.village = Some(region_code),
                    }
                }
                Err(e) => v.add("region_code", e.to_string()),
            }
        }
        match EventStatus::try_from(req.status) {
            Ok(EventStatus::Unspecified) => {}
            Ok(s) => filter.status = Some(s as i16),
            Err(_) => v.add("status", "unknown EventStatus value"),
        }
        match EventSource::try_from(req.source) {
            Ok(EventSource::Unspecified) => {}
            Ok(s) => filter.source = Some(s as i16),
            Err(_) => v.add("source", "unknown EventSource value"),
        }
        if !req.item_code.is_empty() {
            filter.item_code = Some(req.item_code.clone());
        }
        if let Some(range) = &req.reported {
            if let Some(from) = &range.from {
                match civicgrid_kit::time::from_proto(from) {
                    Some(at) => filter.from = Some(at),
                    None => v.add("reported.from", "is not a valid timestamp"),
                }
            }
            if let Some(to) = &range.to {
                match civicgrid_kit::time::from_proto(to) {
                    Some(at) => filter.to = Some(at),
                    None => v.add("reported.to", "is not a valid timestamp"),
                }
            }
        }
        let page: PageRequest<Uuid> = PageRequest::parse(&mut v, req.page_size, &req.page_token);
        filter.before_id = page.after;
        v.into_result()?;

        let events =
            self.store.list_events(&filter, page.fetch()).await.map_err(|e| store_status("listing events", e))?;
        let page = Page::of(events, &page, |e| Uuid::parse_str(&e.id).unwrap_or_default());
        Ok(Response::new(ListEventsResponse { events: page.items, next_page_token: page.next_page_token }))
    }

    async fn rate_outcome(
        &self,
        request: Request<RateOutcomeRequest>,
    ) -> Result<Response<RateOutcomeResponse>, Status> {
        let caller = principal(&request)?;
        require(&caller, RATERS, "rate outcomes")?;
        let now = self.clock.now();
        let rating = rating::validate(request.get_ref()).map_err(violations_status)?;
        let number = &rating.tracking_number;
        let (event_id, region) = self
            .store
            .event_region_by_tracking_number(number)
            .await
            .map_err(|e| store_status("finding event", e))?
            .ok_or_else(|| Status::not_found(format!("no event with tracking number {number}")))?;
        // Like GetEventByTrackingNumber: the citizen app acts for whoever holds the number;
        // scoped staff only inside their region.
        if caller.role != Role::CitizenApp && !region::contains(&caller.region_scope, &region) {
            return Err(Status::permission_denied(format!(
                "event is outside the caller's region {}",
                caller.region_scope
            )));
        }
        match self.store.rate(event_id, &rating, &caller, now).await.map_err(|e| store_status("rating outcome", e))? {
            RateAnswer::Rated(answer) => {
                tracing::info!(%event_id, rating_id = %answer.rating_id, rating = ?rating.rating, "outcome rated");
                Ok(Response::new(answer))
            }
            RateAnswer::NotRatable(NotRatable::NotResolved) => {
                Err(Status::failed_precondition("the outcome can be rated once the event is resolved"))
            }
            RateAnswer::NotRatable(NotRatable::AlreadyRated) => Err(Status::failed_precondition(
                "this outcome is already rated; the event can be rated again after a rework is resolved",
            )),
        }
    }
}
