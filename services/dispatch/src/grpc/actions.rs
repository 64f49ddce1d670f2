//! Lifecycle actions (triage, sign for, return, extensions, suspend/resume, resolve, verify,
//! close): each handler checks its own fields, then [`DispatchApi::act`] checks the common
//! ones and runs the action in the store.

use civicgrid_kit::{
    auth::{Principal, principal},
    grpc::{REQUEST_ID_RULE, Violations, invalid_field, is_request_id},
    storage::store_status,
};
use civicgrid_proto::v1::{
    ApproveExtensionRequest, RequestExtensionRequest, ResolveRequest, Task, TaskReasonRequest, TaskRequest,
    TriageRequest,
};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::DispatchApi;
use crate::{
    domain::lifecycle::{Action, LifecycleError},
    store::ActError,
};

impl DispatchApi {
    /// Takes `action` for `caller` once the request is valid (`v` holds what the handler
    /// found wrong so far), and answers the task after it.
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

/// The gRPC status of an action not taken.
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

/// A reason must say something, briefly.
fn check_reason(v: &mut Violations, reason: &str) {
    let n = reason.trim().chars().count();
    v.check((2..=500).contains(&n), "reason", "must be 2 to 500 characters");
}

pub(super) async fn triage(api: &DispatchApi, request: Request<TriageRequest>) -> Result<Response<Task>, Status> {
    let caller = principal(&request)?;
    let r = request.into_inner();
    let mut v = Violations::new();
    v.check(!r.department_id.is_empty(), "department_id", "is required");
    api.act(caller, &r.request_id, &r.task_id, Action::Assign { department_id: r.department_id }, v).await
}

pub(super) async fn dismiss(api: &DispatchApi, request: Request<TaskReasonRequest>) -> Result<Response<Task>, Status> {
    let caller = principal(&request)?;
    let r = request.into_inner();
    let mut v = Violations::new();
    check_reason(&mut v, &r.reason);
    api.act(caller, &r.request_id, &r.task_id, Action::Dismiss { reason: r.reason.trim().into() }, v).await
}

pub(super) async fn sign_for(api: &DispatchApi, request: Request<TaskRequest>) -> Result<Response<Task>, Status> {
    let caller = principal(&request)?;
    let r = request.into_inner();
    api.act(caller, &r.request_id, &r.task_id, Action::SignFor, Violations::new()).await
}

pub(super) async fn return_task(
    api: &DispatchApi,
    request: Request<TaskReasonRequest>,
) -> Result<Response<Task>, Status> {
    let caller = principal(&request)?;
    let r = request.into_inner();
    let mut v = Violations::new();
    check_reason(&mut v, &r.reason);
    api.act(caller, &r.request_id, &r.task_id, Action::Return { reason: r.reason.trim().into() }, v).await
}

pub(super) async fn request_extension(
    api: &DispatchApi,
    request: Request<RequestExtensionRequest>,
) -> Result<Response<Task>, Status> {
    let caller = principal(&request)?;
    let r = request.into_inner();
    let mut v = Violations::new();
    v.check((1..=365).contains(&r.amount), "amount", "must be 1 to 365");
    check_reason(&mut v, &r.reason);
    let action = Action::RequestExtension { amount: r.amount, reason: r.reason.trim().into() };
    api.act(caller, &r.request_id, &r.task_id, action, v).await
}

pub(super) async fn approve_extension(
    api: &DispatchApi,
    request: Request<ApproveExtensionRequest>,
) -> Result<Response<Task>, Status> {
    let caller = principal(&request)?;
    let r = request.into_inner();
    let mut v = Violations::new();
    v.check(r.amount <= 365, "amount", "must be at most 365 (0 grants what was requested)");
    let action = Action::ApproveExtension { amount: (r.amount > 0).then_some(r.amount) };
    api.act(caller, &r.request_id, &r.task_id, action, v).await
}

pub(super) async fn refuse_extension(
    api: &DispatchApi,
    request: Request<TaskReasonRequest>,
) -> Result<Response<Task>, Status> {
    let caller = principal(&request)?;
    let r = request.into_inner();
    let mut v = Violations::new();
    check_reason(&mut v, &r.reason);
    api.act(caller, &r.request_id, &r.task_id, Action::RefuseExtension { reason: r.reason.trim().into() }, v).await
}

pub(super) async fn suspend(api: &DispatchApi, request: Request<TaskReasonRequest>) -> Result<Response<Task>, Status> {
    let caller = principal(&request)?;
    let r = request.into_inner();
    let mut v = Violations::new();
    check_reason(&mut v, &r.reason);
    api.act(caller, &r.request_id, &r.task_id, Action::Suspend { reason: r.reason.trim().into() }, v).await
}

pub(super) async fn resume(api: &DispatchApi, request: Request<TaskRequest>) -> Result<Response<Task>, Status> {
    let caller = principal(&request)?;
    let r = request.into_inner();
    api.act(caller, &r.request_id, &r.task_id, Action::Resume, Violations::new()).await
}

pub(super) async fn resolve(api: &DispatchApi, request: Request<ResolveRequest>) -> Result<Response<Task>, Status> {
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
    api.act(caller, &r.request_id, &r.task_id, action, v).await
}

pub(super) async fn verify(api: &DispatchApi, request: Request<TaskRequest>) -> Result<Response<Task>, Status> {
    let caller = principal(&request)?;
    let r = request.into_inner();
    api.act(caller, &r.request_id, &r.task_id, Action::Verify, Violations::new()).await
}

pub(super) async fn reject_verification(
    api: &DispatchApi,
    request: Request<TaskReasonRequest>,
) -> Result<Response<Task>, Status> {
    let caller = principal(&request)?;
    let r = request.into_inner();
    let mut v = Violations::new();
    check_reason(&mut v, &r.reason);
    let action = Action::RejectVerification { reason: r.reason.trim().into() };
    api.act(caller, &r.request_id, &r.task_id, action, v).await
}

pub(super) async fn close(api: &DispatchApi, request: Request<TaskRequest>) -> Result<Response<Task>, Status> {
    let caller = principal(&request)?;
    let r = request.into_inner();
    api.act(caller, &r.request_id, &r.task_id, Action::Close, Violations::new()).await
}
