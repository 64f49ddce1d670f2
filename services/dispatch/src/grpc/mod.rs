//! `civicgrid.v1.DispatchService`: validate → lifecycle (in the store's transaction) → answer;
//! errors mapped to gRPC status here.

use std::{sync::Arc, time::Duration};

use civicgrid_kit::{
    auth::{Principal, principal},
    clock::Clock,
    grpc::{
        REQUEST_ID_RULE, Violations, invalid_field, is_request_id,
        paging::{Page, PageRequest},
        watch::{self, Follow, WatchStream},
    },
    region,
    storage::store_status,
};
use civicgrid_proto::v1::{
    self as pb, ApproveExtensionRequest, GetGridWorkerKpisRequest, GetKpisRequest, GetReferenceVersionsRequest,
    GetTaskRequest, GridWorkerKpis, Kpis, ListTasksRequest, ListTasksResponse, LoadReferenceDataRequest,
    ReferenceVersions, RequestExtensionRequest, ResolveRequest, Role, Task, TaskChange, TaskReasonRequest, TaskRequest,
    TaskStatus, TriageRequest, WatchTasksRequest, dispatch_service_server::DispatchService,
};
use prost::Message;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::{
    domain::{
        kpi::Period,
        lifecycle::{Action, LifecycleError},
    },
    reference::{ReferenceError, ReferenceFiles},
    store::{ActError, LoadError, Store, TaskFilter, Visibility},
};

/// The gRPC handlers.
pub struct DispatchApi {
    store: Arc<Store>,
    clock: Clock,
    /// How WatchTasks follows the change feed (and ends when the service stops taking calls).
    follow: Follow,
}

impl DispatchApi {
    /// Handlers over `store`; WatchTasks polls every `watch_poll` and ends when `stopping` is
    /// cancelled, so a watching client cannot hold up a shutdown.
    pub fn new(store: Arc<Store>, clock: Clock, watch_poll: Duration, stopping: civicgrid_kit::Shutdown) -> Self {
        let follow = Follow { wake: store.change_signal(), poll: watch_poll, stopping, batch: 200 };
        DispatchApi { store, clock, follow }
    }

    async fn act(
        &self,
        caller: Principal,
        request_id: &str,
        task_id: &str,
        action: Action,
        mut v: Violations,
    ) -> Result<Response<Task>, Status> {
        if !is_request_id(request_id) {
            v.add("request_id", REQUEST_ID_RULE);
        }
        let id = Uuid::parse_str(task_id).ok();
        if id.is_none() {
            v.add("task_id", "must be a UUID");
        }
        v.into_result()?;
        let id = id.unwrap_or_default();
        let task = self.store.act(&caller, request_id, id, action, self.clock.now()).await.map_err(act_status)?;
        tracing::info!(task = %task.id, status = task.status, version = task.version, "task changed");
        Ok(Response::new(task))
    }
}

fn act_status(e: ActError) -> Status {
    match e {
        ActError::NotFound => Status::not_found("no such task"),
        ActError::Invalid { field, problem } => invalid_field(field, &problem),
        ActError::Lifecycle(LifecycleError::Invalid { field, problem }) => invalid_field(field, problem),
        ActError::Lifecycle(e @ LifecycleError::NotAllowed { .. }) => Status::permission_denied(e.to_string()),
        ActError::Lifecycle(e @ LifecycleError::IllegalTransition { .. }) => Status::failed_precondition(e.to_string()),
        ActError::Store(e) => store_status("changing task", e),
    }
}

fn check_reason(v: &mut Violations, reason: &str) {
    let n = reason.trim().chars().count();
    v.check((2..=500).contains(&n), "reason", "must be 2 to 500 characters");
}

/// Stored state names for a contract status.
fn states_of(status: TaskStatus) -> &'static [&'static str] {
    match status {
        TaskStatus::AwaitingTriage => &["awaiting_triage"],
        TaskStatus::Assigned => &["assigned"],
        TaskStatus::Signed => &["signed"],
        TaskStatus::InProgress => &["in_progress"],
        TaskStatus::Resolved => &["resolved"],
        TaskStatus::Verified => &["verified"],
        TaskStatus::Closed => &["closed"],
        TaskStatus::Suspended => &["suspended"],
        TaskStatus::Unspecified => &[],
    }
}

/// The listing or feed scope of `caller`, narrowed by the requested department and region.
fn scope_filter(
    caller: &Principal,
    department: &str,
    region_code: &str,
    v: &mut Violations,
) -> Result<TaskFilter, Status> {
    let mut filter = TaskFilter::default();
    match Visibility::of(caller) {
        Visibility::None => {
            return Err(Status::permission_denied(format!("role {} may not read tasks", caller.role.as_str_name())));
        }
        Visibility::Department(own) => {
            if !department.is_empty() && department != own {
                return Err(Status::permission_denied("a department sees only its own tasks"));
            }
            filter.department_id = Some(own);
        }
        Visibility::All | Visibility::Region(_) => {
            if !department.is_empty() {
                filter.department_id = Some(department.to_string());
            }
            if !caller.region_scope.is_empty() {
                filter.set_region(&caller.region_scope);
            }
        }
    }
    if !region_code.is_empty() {
        if region::level(region_code).is_err() {
            v.add("region_code", "must be a 6, 9 or 12-digit region code");
        } else if !region::within(region_code, &caller.region_scope) {
            return Err(Status::permission_denied(format!("region {region_code} is outside the caller's region")));
        } else {
            filter.set_region(region_code);
        }
    }
    Ok(filter)
}

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
            let scope = caller.region_scope.as_str();
            refdata.regions.grids().iter().filter(|g| g.grid_worker == worker_id).any(|g| {
                g.code == scope || region::path_of_grid(&g.code).is_ok_and(|path| region::contains(scope, &path))
            })
        }
        _ => false,
    }
}

#[tonic::async_trait]
impl DispatchService for DispatchApi {
    async fn list_tasks(&self, request: Request<ListTasksRequest>) -> Result<Response<ListTasksResponse>, Status> {
        let caller = principal(&request)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let mut filter = scope_filter(&caller, &req.department_id, &req.region_code, &mut v)?;
        let mut states = Vec::new();
        for (i, s) in req.statuses.iter().enumerate() {
            match TaskStatus::try_from(*s) {
                Ok(TaskStatus::Unspecified) | Err(_) => v.add(format!("statuses[{i}]"), "unknown TaskStatus value"),
                Ok(s) => states.extend(states_of(s).iter().map(|s| s.to_string())),
            }
        }
        if !states.is_empty() {
            filter.states = Some(states);
        }
        match pb::WarningColour::try_from(req.colour) {
            Ok(pb::WarningColour::Unspecified) => {}
            Ok(c) => filter.colour = Some(c as i16),
            Err(_) => v.add("colour", "unknown WarningColour value"),
        }
        if !req.event_id.is_empty() {
            match Uuid::parse_str(&req.event_id) {
                Ok(id) => filter.event_id = Some(id),
                Err(_) => v.add("event_id", "must be a UUID"),
            }
        }
        let page: PageRequest<Uuid> = PageRequest::parse(&mut v, req.page_size, &req.page_token);
        filter.before_id = page.after;
        v.into_result()?;
        let rows = self.store.list(&filter, page.fetch()).await.map_err(|e| store_status("listing tasks", e))?;
        let (now, refdata) = (self.clock.now(), self.store.refdata());
        let page = Page::of(rows, &page, |r| r.id).map(|r| r.to_proto(&refdata, now));
        Ok(Response::new(ListTasksResponse { tasks: page.items, next_page_token: page.next_page_token }))
    }

    async fn get_task(&self, request: Request<GetTaskRequest>) -> Result<Response<Task>, Status> {
        let caller = principal(&request)?;
        let id = Uuid::parse_str(&request.get_ref().task_id).map_err(|_| invalid_field("task_id", "must be a UUID"))?;
        let row = self
            .store
            .get(id, &Visibility::of(&caller))
            .await
            .map_err(|e| store_status("reading task", e))?
            .ok_or_else(|| Status::not_found("no such task"))?;
        Ok(Response::new(row.to_proto(&self.store.refdata(), self.clock.now())))
    }

    type WatchTasksStream = WatchStream<TaskChange>;

    async fn watch_tasks(
        &self,
        request: Request<WatchTasksRequest>,
    ) -> Result<Response<Self::WatchTasksStream>, Status> {
        let caller = principal(&request)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let filter = scope_filter(&caller, &req.department_id, "", &mut v)?;
        let visibility = Visibility::of(&caller);
        v.check(req.cursor >= 0, "cursor", "must not be negative");
        v.into_result()?;
        let cursor = if req.cursor > 0 {
            req.cursor
        } else if req.from_now {
            self.store.last_change().await.map_err(|e| store_status("reading the change feed", e))?
        } else {
            0
        };
        let (store, clock) = (self.store.clone(), self.clock.clone());
        let stream = watch::follow(cursor, self.follow.clone(), move |after, limit| {
            let (store, clock, filter, visibility) = (store.clone(), clock.clone(), filter.clone(), visibility.clone());
            async move {
                let changes = store
                    .changes_after(after, &filter, limit)
                    .await
                    .map_err(|e| store_status("reading the change feed", e))?;
                let mut out = Vec::with_capacity(changes.len());
                for (seq, task_id, fact, snapshot) in changes {
                    // The task as it was right after this change; rows written before snapshots
                    // existed fall back to the task as it is now, if still in the caller's scope.
                    let task = match snapshot.as_deref().map(Task::decode) {
                        Some(Ok(task)) => Some(task),
                        _ => store
                            .get(task_id, &visibility)
                            .await
                            .map_err(|e| store_status("reading task", e))?
                            .map(|row| row.to_proto(&store.refdata(), clock.now())),
                    };
                    out.push((seq, task.map(|task| TaskChange { cursor: seq, fact, task: Some(task) })));
                }
                Ok(out)
            }
        });
        Ok(Response::new(stream))
    }

    async fn triage(&self, request: Request<TriageRequest>) -> Result<Response<Task>, Status> {
        let caller = principal(&request)?;
        let r = request.into_inner();
        let mut v = Violations::new();
        v.check(!r.department_id.is_empty(), "department_id", "is required");
        self.act(caller, &r.request_id, &r.task_id, Action::Assign { department_id: r.department_id }, v).await
    }

    async fn dismiss(&self, request: Request<TaskReasonRequest>) -> Result<Response<Task>, Status> {
        let caller = principal(&request)?;
        let r = request.into_inner();
        let mut v = Violations::new();
        check_reason(&mut v, &r.reason);
        self.act(caller, &r.request_id, &r.task_id, Action::Dismiss { reason: r.reason.trim().into() }, v).await
    }

    async fn sign_for(&self, request: Request<TaskRequest>) -> Result<Response<Task>, Status> {
        let caller = principal(&request)?;
        let r = request.into_inner();
        self.act(caller, &r.request_id, &r.task_id, Action::SignFor, Violations::new()).await
    }

    async fn return_task(&self, request: Request<TaskReasonRequest>) -> Result<Response<Task>, Status> {
        let caller = principal(&request)?;
        let r = request.into_inner();
        let mut v = Violations::new();
        check_reason(&mut v, &r.reason);
        self.act(caller, &r.request_id, &r.task_id, Action::Return { reason: r.reason.trim().into() }, v).await
    }

    async fn request_extension(&self, request: Request<RequestExtensionRequest>) -> Result<Response<Task>, Status> {
        let caller = principal(&request)?;
        let r = request.into_inner();
        let mut v = Violations::new();
        v.check((1..=365).contains(&r.amount), "amount", "must be 1 to 365");
        check_reason(&mut v, &r.reason);
        let action = Action::RequestExtension { amount: r.amount, reason: r.reason.trim().into() };
        self.act(caller, &r.request_id, &r.task_id, action, v).await
    }

    async fn approve_extension(&self, request: Request<ApproveExtensionRequest>) -> Result<Response<Task>, Status> {
        let caller = principal(&request)?;
        let r = request.into_inner();
        let mut v = Violations::new();
        v.check(r.amount <= 365, "amount", "must be at most 365 (0 grants what was requested)");
        let action = Action::ApproveExtension { amount: (r.amount > 0).then_some(r.amount) };
        self.act(caller, &r.request_id, &r.task_id, action, v).await
    }

    async fn refuse_extension(&self, request: Request<TaskReasonRequest>) -> Result<Response<Task>, Status> {
        let caller = principal(&request)?;
        let r = request.into_inner();
        let mut v = Violations::new();
        check_reason(&mut v, &r.reason);
        self.act(caller, &r.request_id, &r.task_id, Action::RefuseExtension { reason: r.reason.trim().into() }, v).await
    }

    async fn suspend(&self, request: Request<TaskReasonRequest>) -> Result<Response<Task>, Status> {
        let caller = principal(&request)?;
        let r = request.into_inner();
        let mut v = Violations::new();
        check_reason(&mut v, &r.reason);
        self.act(caller, &r.request_id, &r.task_id, Action::Suspend { reason: r.reason.trim().into() }, v).await
    }

    async fn resume(&self, request: Request<TaskRequest>) -> Result<Response<Task>, Status> {
        let caller = principal(&request)?;
        let r = request.into_inner();
        self.act(caller, &r.request_id, &r.task_id, Action::Resume, Violations::new()).await
    }

    async fn resolve(&self, request: Request<ResolveRequest>) -> Result<Response<Task>, Status> {
        let caller = principal(&request)?;
        let r = request.into_inner();
        let mut v = Violations::new();
        v.check((2..=2000).contains(&r.result.trim().chars().count()), "result", "must be 2 to 2000 characters");
        v.check(r.evidence_urls.len() <= 9, "evidence_urls", "at most 9 links");
        for (i, url) in r.evidence_urls.iter().enumerate() {
            let ok = (url.starts_with("https://") || url.starts_with("http://"))
                && url.chars().count() <= 500
                && !url.contains(char::is_whitespace);
            v.check(ok, &format!("evidence_urls[{i}]"), "must be an http(s) URL of at most 500 characters");
        }
        let action = Action::Resolve { result: r.result.trim().into(), evidence_urls: r.evidence_urls };
        self.act(caller, &r.request_id, &r.task_id, action, v).await
    }

    async fn verify(&self, request: Request<TaskRequest>) -> Result<Response<Task>, Status> {
        let caller = principal(&request)?;
        let r = request.into_inner();
        self.act(caller, &r.request_id, &r.task_id, Action::Verify, Violations::new()).await
    }

    async fn reject_verification(&self, request: Request<TaskReasonRequest>) -> Result<Response<Task>, Status> {
        let caller = principal(&request)?;
        let r = request.into_inner();
        let mut v = Violations::new();
        check_reason(&mut v, &r.reason);
        let action = Action::RejectVerification { reason: r.reason.trim().into() };
        self.act(caller, &r.request_id, &r.task_id, action, v).await
    }

    async fn close(&self, request: Request<TaskRequest>) -> Result<Response<Task>, Status> {
        let caller = principal(&request)?;
        let r = request.into_inner();
        self.act(caller, &r.request_id, &r.task_id, Action::Close, Violations::new()).await
    }

    async fn get_kpis(&self, request: Request<GetKpisRequest>) -> Result<Response<Kpis>, Status> {
        let caller = principal(&request)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let period = kpi_period(req.period, &mut v);
        let filter = scope_filter(&caller, &req.department_id, &req.region_code, &mut v)?;
        if caller.role == Role::GridWorker {
            return Err(Status::permission_denied(
                "assessment figures are for centers, departments and administrators",
            ));
        }
        // A center may score only departments serving inside its region.
        if !req.department_id.is_empty() && !caller.region_scope.is_empty() {
            let inside = self
                .store
                .refdata()
                .departments
                .get(&req.department_id)
                .is_some_and(|d| region::within(&d.region_code, &caller.region_scope));
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
        let k = self
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

    async fn get_grid_worker_kpis(
        &self,
        request: Request<GetGridWorkerKpisRequest>,
    ) -> Result<Response<GridWorkerKpis>, Status> {
        let caller = principal(&request)?;
        if !matches!(caller.role, Role::GridWorker | Role::Center | Role::CountyCenter | Role::Admin) {
            return Err(Status::permission_denied(format!(
                "role {} may not read grid workers' figures",
                caller.role.as_str_name()
            )));
        }
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
        if !may_read_grid_worker(&caller, &worker_id, &self.store.refdata()) {
            return Err(Status::permission_denied(if caller.role == Role::GridWorker {
                "a grid worker may read only their own figures".to_string()
            } else {
                format!("grid worker {worker_id} has no grid inside the caller's region")
            }));
        }
        let k = self
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

    async fn get_reference_versions(
        &self,
        request: Request<GetReferenceVersionsRequest>,
    ) -> Result<Response<ReferenceVersions>, Status> {
        let caller = principal(&request)?;
        if caller.role == Role::Unspecified {
            return Err(Status::permission_denied("no role"));
        }
        let v = self.store.refdata().versions();
        Ok(Response::new(ReferenceVersions {
            catalog: v.catalog,
            regions: v.regions,
            departments: v.departments,
            calendar: v.calendar,
        }))
    }

    async fn load_reference_data(
        &self,
        request: Request<LoadReferenceDataRequest>,
    ) -> Result<Response<ReferenceVersions>, Status> {
        let caller = principal(&request)?;
        if caller.role != Role::Admin {
            return Err(Status::permission_denied("only an administrator may load reference data"));
        }
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
        match self.store.load_reference(&caller, &r.request_id, files).await {
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
