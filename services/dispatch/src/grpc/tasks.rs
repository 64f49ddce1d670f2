//! Task reads: ListTasks, GetTask and WatchTasks (the change feed), each within what the
//! caller may see.

use civicgrid_kit::{
    auth::{Principal, principal},
    grpc::{
        Violations, invalid_field,
        paging::{Page, PageRequest},
        watch::{self, WatchStream},
    },
    region,
    storage::store_status,
};
use civicgrid_proto::v1::{
    self as pb, GetTaskRequest, ListTasksRequest, ListTasksResponse, Task, TaskChange, TaskStatus, WatchTasksRequest,
};
use prost::Message;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::DispatchApi;
use crate::store::{TaskFilter, Visibility};

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
pub(super) fn scope_filter(
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
            // A scope that names no region or grid lists nothing.
            let area = caller.scope().narrow("").map_err(|_| {
                Status::permission_denied(format!("region scope {:?} names no region or grid", caller.region_scope))
            })?;
            filter.set_region(area.code());
        }
    }
    if !region_code.is_empty() {
        if region::level(region_code).is_err() {
            v.add("region_code", "must be a 6, 9 or 12-digit region code");
        } else if !caller.covers_code(region_code) {
            return Err(Status::permission_denied(format!("region {region_code} is outside the caller's region")));
        } else {
            filter.set_region(region_code);
        }
    }
    Ok(filter)
}

pub(super) async fn list_tasks(
    api: &DispatchApi,
    request: Request<ListTasksRequest>,
) -> Result<Response<ListTasksResponse>, Status> {
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
    let rows = api.store.list(&filter, page.fetch()).await.map_err(|e| store_status("listing tasks", e))?;
    let (now, refdata) = (api.clock.now(), api.store.refdata());
    let page = Page::of(rows, &page, |r| r.id).map(|r| r.to_proto(&refdata, now));
    Ok(Response::new(ListTasksResponse { tasks: page.items, next_page_token: page.next_page_token }))
}

pub(super) async fn get_task(api: &DispatchApi, request: Request<GetTaskRequest>) -> Result<Response<Task>, Status> {
    let caller = principal(&request)?;
    let id = Uuid::parse_str(&request.get_ref().task_id).map_err(|_| invalid_field("task_id", "must be a UUID"))?;
    let row = api
        .store
        .get(id, &Visibility::of(&caller))
        .await
        .map_err(|e| store_status("reading task", e))?
        .ok_or_else(|| Status::not_found("no such task"))?;
    Ok(Response::new(row.to_proto(&api.store.refdata(), api.clock.now())))
}

pub(super) async fn watch_tasks(
    api: &DispatchApi,
    request: Request<WatchTasksRequest>,
) -> Result<Response<WatchStream<TaskChange>>, Status> {
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
        api.store.last_change().await.map_err(|e| store_status("reading the change feed", e))?
    } else {
        0
    };
    let (store, clock) = (api.store.clone(), api.clock.clone());
    let stream = watch::follow(cursor, api.follow.clone(), move |after, limit| {
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
