//! Helpers of the reference data tests: the shipped versions, edited copies of the shipped
//! files, load requests, and reading versions and tasks through a given replica.

use std::time::Duration;

use civicgrid_dispatch::reference::{CatalogItem, ReferenceFiles};
use civicgrid_proto::v1::{
    GetReferenceVersionsRequest, ListTasksRequest, LoadReferenceDataRequest, ReferenceVersions, Stage, Task,
    dispatch_service_client::DispatchServiceClient,
};
use tonic::{Code, transport::Channel};

use crate::helpers::*;

/// The version every shipped file carries.
pub(super) const SHIPPED_VERSION: &str = "2026.11.1";

/// How long another replica may take to pick up a loaded set: the docs promise "within about
/// 5 s" (a fixed 5 s check in the ticker loop, on the runtime's monotonic clock, so the manual
/// clock cannot hurry it); the rest is slack for a loaded machine.
pub(super) const REPLICA_PICKUP: Duration = Duration::from_secs(12);

pub(super) fn versions(catalog: &str, regions: &str, departments: &str, calendar: &str) -> ReferenceVersions {
    ReferenceVersions {
        catalog: catalog.into(),
        regions: regions.into(),
        departments: departments.into(),
        calendar: calendar.into(),
    }
}

pub(super) fn shipped_versions() -> ReferenceVersions {
    versions(SHIPPED_VERSION, SHIPPED_VERSION, SHIPPED_VERSION, SHIPPED_VERSION)
}

/// Replaces the top-level `version` of one file.
pub(super) fn bump(text: &str, version: &str) -> String {
    let old = format!("version = \"{SHIPPED_VERSION}\"\n");
    assert!(text.contains(&old), "the shipped file has `{}`", old.trim());
    text.replacen(&old, &format!("version = \"{version}\"\n"), 1)
}

/// The shipped files with each file's version replaced by the matching one of `v`.
pub(super) fn shipped_as(v: &ReferenceVersions) -> ReferenceFiles {
    let f = ReferenceFiles::shipped();
    ReferenceFiles {
        catalog: bump(&f.catalog, &v.catalog),
        regions: bump(&f.regions, &v.regions),
        departments: bump(&f.departments, &v.departments),
        calendar: bump(&f.calendar, &v.calendar),
    }
}

/// Edits the `[[items]]` entry `code` of a catalog: each `(from, to)` replaces a whole line.
pub(super) fn edit_item(catalog: &str, code: &str, lines: &[(&str, &str)]) -> String {
    let head = format!("[[items]]\ncode = \"{code}\"\n");
    let start = catalog.find(&head).unwrap_or_else(|| panic!("no item `{code}` in the catalog"));
    let end = catalog[start + head.len()..].find("\n[[").map_or(catalog.len(), |i| start + head.len() + i + 1);
    let mut entry = catalog[start..end].to_string();
    for (from, to) in lines {
        let line = format!("{from}\n");
        assert!(entry.contains(&line), "item `{code}` has no line `{from}`:\n{entry}");
        entry = entry.replacen(&line, &format!("{to}\n"), 1);
    }
    format!("{}{entry}{}", &catalog[..start], &catalog[end..])
}

pub(super) fn load_request(request_id: &str, files: &ReferenceFiles) -> LoadReferenceDataRequest {
    LoadReferenceDataRequest {
        request_id: request_id.into(),
        catalog_toml: files.catalog.clone(),
        regions_toml: files.regions.clone(),
        departments_toml: files.departments.clone(),
        calendar_toml: files.calendar.clone(),
    }
}

/// The versions `client`'s dispatch has in force, asked as `token`.
pub(super) async fn versions_via(client: &DispatchServiceClient<Channel>, token: &str) -> ReferenceVersions {
    let mut client = client.clone();
    client
        .get_reference_versions(authed(GetReferenceVersionsRequest {}, token))
        .await
        .expect("GetReferenceVersions")
        .into_inner()
}

/// The tasks of an event as `client`'s dispatch lists them to an administrator, once there are
/// `n`, lead first.
pub(super) async fn tasks_via(client: &DispatchServiceClient<Channel>, event_id: &str, n: usize) -> Vec<Task> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let mut c = client.clone();
        let req = ListTasksRequest { event_id: event_id.into(), page_size: 500, ..Default::default() };
        let mut tasks = c.list_tasks(authed(req, &admin())).await.expect("list tasks").into_inner().tasks;
        if tasks.len() >= n {
            tasks.sort_by_key(|t| (!t.lead, t.id.clone()));
            return tasks;
        }
        assert!(tokio::time::Instant::now() < deadline, "event {event_id} has {} of {n} tasks", tasks.len());
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A changed set: the shipped one at new versions, with `item` led by department kind
/// `lead_kind`, 3 working hours to sign for (2 shipped) and 8 to handle (16 shipped).
pub(super) fn changed_set(v: &ReferenceVersions, item: &CatalogItem, lead_kind: &str) -> ReferenceFiles {
    assert_eq!(
        (item.sign_for.amount, item.handle.amount),
        (2, 16),
        "the ordinary item has 2 and 16 working hours in the shipped catalog"
    );
    let mut files = shipped_as(v);
    files.catalog = edit_item(
        &files.catalog,
        &item.code,
        &[
            (&format!("lead = \"{}\"", item.lead_kind), &format!("lead = \"{lead_kind}\"")),
            (
                "sign_for = { amount = 2, time_type = \"working_hours\" }",
                "sign_for = { amount = 3, time_type = \"working_hours\" }",
            ),
            (
                "handle = { amount = 16, time_type = \"working_hours\" }",
                "handle = { amount = 8, time_type = \"working_hours\" }",
            ),
        ],
    );
    files
}

/// Another department kind serving `township` that `item` may be led by, and that department.
pub(super) fn other_lead(app: &TestApp, item: &CatalogItem, township: &str) -> (String, String) {
    app.refdata
        .departments
        .directory()
        .all()
        .iter()
        .find(|d| {
            d.region_code == township
                && d.kind != item.lead_kind
                && d.kind != "grid"
                && !item.assisting_kinds.contains(&d.kind)
        })
        .map(|d| (d.kind.clone(), d.id.clone()))
        .expect("another department kind in the township")
}

pub(super) fn clock_of(task: &Task, stage: Stage) -> &civicgrid_proto::v1::StageClock {
    task.clocks.iter().find(|c| c.stage == stage as i32).unwrap_or_else(|| panic!("no {stage:?} clock: {task:?}"))
}

pub(super) fn violations(status: &tonic::Status) -> Vec<(String, String)> {
    civicgrid_kit::grpc::field_violations(status)
}

/// Loads `files` as an administrator with `request_id`, expects INVALID_ARGUMENT and returns its
/// field violations.
pub(super) async fn refused(
    client: &mut DispatchServiceClient<Channel>,
    request_id: &str,
    files: &ReferenceFiles,
    what: &str,
) -> Vec<(String, String)> {
    let answer = client.load_reference_data(authed(load_request(request_id, files), &admin())).await;
    violations(&expect_code(answer, Code::InvalidArgument, what))
}
