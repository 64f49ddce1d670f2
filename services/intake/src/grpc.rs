//! `civicgrid.v1.IntakeService`: validate → domain → store, errors mapped to gRPC status here.

use std::sync::Arc;

use civicgrid_kit::{
    auth::{Area, NarrowError, Principal, principal},
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
    ListEventsResponse, RateOutcomeRequest, RateOutcomeResponse, SubmitEventRequest, SubmitEventResponse,
    intake_service_server::IntakeService,
};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::{
    batcher::{SubmitError, Submitter},
    domain::{access::Access, rating, tracking, validate},
    lookups::FailedLookups,
    store::{ListFilter, NotRatable, RateAnswer, Store, Submission},
};

/// The gRPC handlers.
pub struct IntakeApi {
    store: Arc<Store>,
    submitter: Submitter,
    clock: Clock,
    lookups: Arc<FailedLookups>,
}

impl IntakeApi {
    /// Handlers over `store`, queueing submissions for group commit with `submitter`, reading
    /// the time from `clock`, spending failed lookups by tracking number from `lookups`.
    pub fn new(store: Arc<Store>, submitter: Submitter, clock: Clock, lookups: Arc<FailedLookups>) -> Self {
        IntakeApi { store, submitter, clock, lookups }
    }
}

fn violations_status(violations: Vec<validate::Violation>) -> Status {
    let mut v = Violations::new();
    for (field, why) in violations {
        v.add(field, why);
    }
    v.into_result().err().unwrap_or_else(|| Status::invalid_argument("invalid request"))
}

impl IntakeApi {
    /// `event` if `caller` may read it, else `not_found()`: an event outside the caller's
    /// reach answers exactly as a missing one does.
    async fn readable(
        &self,
        caller: &Principal,
        event: Event,
        not_found: impl Fn() -> Status,
    ) -> Result<Event, Status> {
        let access = Access::of(caller);
        if !access.covers(&event) {
            return Err(not_found());
        }
        if let Some(department) = access.department() {
            let id = Uuid::parse_str(&event.id).map_err(|_| not_found())?;
            let own =
                self.store.has_department_task(id, department).await.map_err(|e| store_status("reading event", e))?;
            if !own {
                return Err(not_found());
            }
        }
        Ok(event)
    }
}

/// The last 4 digits of a phone, as GetEventByTrackingNumber's proof: empty, or 4 ASCII digits.
fn phone_last4(value: &str) -> Result<&str, Status> {
    let value = value.trim();
    if value.is_empty() || (value.len() == 4 && value.bytes().all(|b| b.is_ascii_digit())) {
        Ok(value)
    } else {
        Err(invalid_field("phone_last4", "must be the last 4 digits of the reporter's phone number"))
    }
}

#[tonic::async_trait]
impl IntakeService for IntakeApi {
    async fn submit_event(
        &self,
        request: Request<SubmitEventRequest>,
    ) -> Result<Response<SubmitEventResponse>, Status> {
        let caller = principal(&request)?;
        let now = self.clock.now();
        let report = validate::validate(request.get_ref(), now).map_err(violations_status)?;
        if !caller.covers(&report.region, report.grid_code.as_deref().unwrap_or_default()) {
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
        let id =
            Uuid::parse_str(&request.get_ref().event_id).map_err(|_| invalid_field("event_id", "must be a UUID"))?;
        let not_found = || Status::not_found(format!("no event {id}"));
        let event =
            self.store.get_event(id).await.map_err(|e| store_status("reading event", e))?.ok_or_else(not_found)?;
        Ok(Response::new(self.readable(&caller, event, not_found).await?))
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
        let proof = phone_last4(&request.get_ref().phone_last4)?;
        // Staff read as by id; anyone else (a citizen's app following a report, a mediator, a
        // patrol member) proves knowledge of a reporter's phone besides the sequential number,
        // and sees the event without its reporters' ids and masked phones.
        let staff = caller.has_role(crate::access::READERS);
        if !staff && proof.is_empty() {
            return Err(invalid_field("phone_last4", "is required: the last 4 digits of the reporter's phone number"));
        }
        // A lookup that finds nothing is a guess: it spends a budget (crate::lookups).
        let attempt = self.lookups.admit(request.remote_addr().map(|a| a.ip()), (!staff).then_some(number))?;
        let not_found = || attempt.not_found(format!("no event with tracking number {number}"));
        let id = if staff {
            self.store.event_id_by_tracking_number(number).await
        } else {
            self.store.event_id_for_reporter(number, proof).await
        };
        let id = id.map_err(|e| store_status("finding event", e))?.ok_or_else(not_found)?;
        let mut event =
            self.store.get_event(id).await.map_err(|e| store_status("reading event", e))?.ok_or_else(not_found)?;
        if staff {
            event = self.readable(&caller, event, not_found).await?;
        } else {
            for report in &mut event.reports {
                report.reporter_id.clear();
                report.masked_phone.clear();
            }
        }
        Ok(Response::new(event))
    }

    async fn list_events(&self, request: Request<ListEventsRequest>) -> Result<Response<ListEventsResponse>, Status> {
        let caller = principal(&request)?;
        let req = request.get_ref();
        let mut v = Violations::new();
        let mut filter = ListFilter::default();

        // The caller's scope narrows every listing; a requested region or grid must lie inside
        // it; a department lists only the events of its own tasks.
        let access = Access::of(&caller);
        let denied = || {
            let (asked, scope) = (&req.region_code, &caller.region_scope);
            Status::permission_denied(format!("region {asked:?} is outside the caller's scope {scope:?}"))
        };
        let Some(scope) = access.scope() else {
            let role = caller.role.as_str_name();
            return Err(Status::permission_denied(format!(
                "role {role} lists no events without a scope or department"
            )));
        };
        filter.department_id = access.department().map(str::to_string);
        match scope.narrow(&req.region_code) {
            Ok(Area::Everywhere) => {}
            Ok(Area::Grid(grid)) => filter.grid_code = Some(grid),
            Ok(Area::Region(code)) => match region::level(&code) {
                Ok(Level::City) => filter.city = Some(code),
                Ok(Level::County) => filter.county = Some(code),
                Ok(Level::Township) => filter.township = Some(code),
                Ok(Level::Village) | Err(_) => filter.village = Some(code),
            },
            Err(NarrowError::Outside) => return Err(denied()),
            Err(e @ NarrowError::BadCode(_)) => v.add("region_code", e.to_string()),
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
        let now = self.clock.now();
        let rating = rating::validate(request.get_ref()).map_err(violations_status)?;
        let number = &rating.tracking_number;
        // Staff rate only events they may read; the citizen app proves the number as for
        // GetEventByTrackingNumber, or anyone could rate any event by counting numbers.
        let staff = caller.has_role(crate::access::READERS);
        if !staff && rating.phone_last4.is_empty() {
            return Err(invalid_field("phone_last4", "is required: the last 4 digits of the reporter's phone number"));
        }
        let client = request.remote_addr().map(|a| a.ip());
        let attempt = self.lookups.admit(client, (!staff).then_some(number.as_str()))?;
        let not_found = || attempt.not_found(format!("no event with tracking number {number}"));
        let event_id = if staff {
            self.store.event_id_by_tracking_number(number).await
        } else {
            self.store.event_id_for_reporter(number, &rating.phone_last4).await
        };
        let event_id = event_id.map_err(|e| store_status("finding event", e))?.ok_or_else(not_found)?;
        if staff {
            let event = self.store.get_event(event_id).await.map_err(|e| store_status("reading event", e))?;
            self.readable(&caller, event.ok_or_else(not_found)?, not_found).await?;
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
