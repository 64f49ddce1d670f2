//! Bearer tokens, region and grid scopes, and who may read which events (docs/grpc.md).

use civicgrid_kit::auth::{Claims, expiry_in, issue_token};
use civicgrid_proto::v1::{
    GetEventByTrackingNumberRequest, GetEventRequest, ListEventsRequest, SubmitEventRequest, SubmitEventResponse,
    TaskStatus, intake_service_client::IntakeServiceClient,
};
use tonic::{Code, Request, metadata::MetadataValue, transport::Channel};

use crate::{
    bus::{dispatch_stream, fact, publish_fact},
    helpers::{TestApp, eventually, report, spawn_app_with},
};

pub const SECRET: &str = "test-secret-0123456789";

fn claims(role: &str, department_id: &str, scope: &str) -> Claims {
    Claims {
        sub: format!("{role}-1"),
        role: role.into(),
        department_id: department_id.into(),
        region_scope: scope.into(),
        exp: expiry_in(std::time::Duration::from_secs(600)),
        iss: None,
        aud: None,
    }
}

pub fn token(role: &str, scope: &str) -> String {
    issue_token(SECRET, &claims(role, "", scope)).unwrap()
}

fn department(department_id: &str, scope: &str) -> String {
    issue_token(SECRET, &claims("department", department_id, scope)).unwrap()
}

async fn spawn_authed() -> TestApp {
    spawn_app_with(&format!("[auth]\nhs256_secret = \"{SECRET}\"\n")).await
}

/// A citizen's report like [`report`]'s, in grid `grid`.
fn report_in(request_id: &str, grid: &str, lat: f64) -> SubmitEventRequest {
    let mut r = report(request_id, "01.02.003", lat, 114.02);
    r.location.as_mut().unwrap().grid_code = grid.into();
    r
}

/// Submits `request` as `token`; the answer.
async fn submitted(
    client: &mut IntakeServiceClient<Channel>,
    request: SubmitEventRequest,
    token: &str,
) -> SubmitEventResponse {
    client.submit_event(authed(request, token)).await.unwrap().into_inner()
}

fn get(event_id: &str) -> GetEventRequest {
    GetEventRequest { event_id: event_id.into() }
}

fn listing(region_code: &str) -> ListEventsRequest {
    ListEventsRequest { region_code: region_code.into(), ..Default::default() }
}

pub fn authed<T>(message: T, token: &str) -> Request<T> {
    let mut r = Request::new(message);
    r.metadata_mut().insert("authorization", MetadataValue::try_from(format!("Bearer {token}")).unwrap());
    r
}

#[tokio::test]
async fn tokens_roles_and_region_scopes_are_enforced() {
    let app = spawn_authed().await;
    let mut client: IntakeServiceClient<Channel> = app.client.clone();

    let status = client.submit_event(report("auth-0001", "01.02.003", 32.98, 114.02)).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let status = client
        .submit_event(authed(report("auth-0001", "01.02.003", 32.98, 114.02), "Bearer nonsense"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);

    let citizen = token("citizen_app", "");
    let answer = client
        .submit_event(authed(report("auth-0002", "01.02.003", 32.98, 114.02), &citizen))
        .await
        .unwrap()
        .into_inner();
    // A citizen app follows its reports by tracking number and phone, but cannot browse.
    let by_number =
        GetEventByTrackingNumberRequest { tracking_number: answer.tracking_number.clone(), phone_last4: "5678".into() };
    assert!(client.get_event_by_tracking_number(authed(by_number, &citizen)).await.is_ok());
    let status = client.list_events(authed(ListEventsRequest::default(), &citizen)).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);

    // A grid worker of township 411602002 cannot report into 411602001, nor read it: to it the
    // event does not exist.
    let worker = token("grid_worker", "411602002");
    let status =
        client.submit_event(authed(report("auth-0003", "01.02.003", 32.98, 114.02), &worker)).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let get = GetEventRequest { event_id: answer.event_id.clone() };
    assert_eq!(client.get_event(authed(get.clone(), &worker)).await.unwrap_err().code(), Code::NotFound);

    // A county center sees its county, and only its county.
    let county = token("county_center", "411602");
    assert!(client.get_event(authed(get, &county)).await.is_ok());
    let mine = client.list_events(authed(ListEventsRequest::default(), &county)).await.unwrap().into_inner();
    assert_eq!(mine.events.len(), 1);
    let other = ListEventsRequest { region_code: "411603".into(), ..Default::default() };
    assert_eq!(client.list_events(authed(other, &county)).await.unwrap_err().code(), Code::PermissionDenied);

    // Health and reflection stay open for probes.
    let channel =
        tonic::transport::Endpoint::from_shared(format!("http://{}", app.addr)).unwrap().connect().await.unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let served =
        health.check(tonic_health::pb::HealthCheckRequest { service: String::new() }).await.unwrap().into_inner();
    assert_eq!(served.status, tonic_health::pb::health_check_response::ServingStatus::Serving as i32);
    app.stop().await;
}

#[tokio::test]
async fn a_grid_worker_scoped_to_its_grid_reports_reads_and_lists_there_only() {
    let app = spawn_authed().await;
    let mut client = app.client.clone();
    let worker = token("grid_worker", "411602001001003");
    let mine = submitted(&mut client, report_in("grid-0001", "411602001001003", 32.98), &worker).await;
    let seen = client.get_event(authed(get(&mine.event_id), &worker)).await.unwrap().into_inner();
    assert_eq!(seen.location.unwrap().grid_code, "411602001001003");
    // Next door (same village, another grid) and another county: reported by the center.
    let center = token("center", "");
    let next_door = submitted(&mut client, report_in("grid-0002", "411602001001004", 32.5), &center).await;
    let away = submitted(&mut client, report_in("grid-0003", "411603002001001", 32.0), &center).await;
    for other in [&next_door.event_id, &away.event_id] {
        let status = client.get_event(authed(get(other), &worker)).await.unwrap_err();
        assert_eq!(status.code(), Code::NotFound, "{status:?}");
    }

    for asked in ["", "411602001001003"] {
        let listed = client.list_events(authed(listing(asked), &worker)).await.unwrap().into_inner().events;
        let ids: Vec<&str> = listed.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, [mine.event_id.as_str()], "asked {asked:?}");
    }
    for wider in ["411602001001", "411602", "411602001001004"] {
        let status = client.list_events(authed(listing(wider), &worker)).await.unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied, "{wider}: {status:?}");
    }
    let status = client.list_events(authed(listing("4116020010010"), &worker)).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let status = client.submit_event(authed(report_in("grid-0004", "411602001001004", 32.4), &worker)).await;
    assert_eq!(status.unwrap_err().code(), Code::PermissionDenied);
    // Without a grid, a village code alone is not inside the grid either.
    let mut by_village = report_in("grid-0005", "", 32.3);
    by_village.location.as_mut().unwrap().region_code = "411602001001".into();
    let status = client.submit_event(authed(by_village, &worker)).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    // A grid worker with no scope at all reads nothing.
    let unscoped = token("grid_worker", "");
    let status = client.get_event(authed(get(&mine.event_id), &unscoped)).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let status = client.list_events(authed(listing(""), &unscoped)).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    app.stop().await;
}

/// Publishes the assignment of task `task` of `event_id` to `department` and waits until intake
/// recorded it.
async fn assign(app: &TestApp, event_id: &str, task: &str, department: &str) {
    let mut f = fact(event_id, "task-assigned", TaskStatus::Assigned, 1);
    (f.task_id, f.department_id) = (task.into(), department.into());
    let ce_id = format!("{event_id}-{task}");
    publish_fact(&app.js, &ce_id, &ce_id, &f).await;
    let db = app.db().await;
    let (id, task) = (uuid::Uuid::parse_str(event_id).unwrap(), task.to_string());
    eventually(&format!("{task} of {event_id} recorded"), || {
        let (db, task) = (db.clone(), task.clone());
        async move {
            sqlx::query_scalar::<_, bool>(
                "SELECT EXISTS (SELECT 1 FROM event_tasks WHERE event_id = $1 AND task_id = $2)",
            )
            .bind(id)
            .bind(task)
            .fetch_one(&db)
            .await
            .unwrap()
        }
    })
    .await;
}

#[tokio::test]
async fn departments_read_only_the_events_of_their_own_tasks_in_their_scope() {
    let app = spawn_authed().await;
    dispatch_stream(&app).await;
    let mut client = app.client.clone();
    let citizen = token("citizen_app", "");
    let here = submitted(&mut client, report_in("dept-0001", "411602001001003", 32.98), &citizen).await.event_id;
    let there = submitted(&mut client, report_in("dept-0002", "411603002001001", 32.0), &citizen).await.event_id;
    let untasked = submitted(&mut client, report_in("dept-0003", "411602001001004", 32.5), &citizen).await.event_id;
    assign(&app, &here, "task-here", "chengguan").await;
    assign(&app, &there, "task-there-1", "chengguan").await;
    assign(&app, &there, "task-there-2", "gongan").await;

    // chengguan of county 411602: the event of its task there, nothing of county 411603 (where
    // it has a task too), nothing without a task of its own.
    let county_a = department("chengguan", "411602");
    let listed = client.list_events(authed(listing(""), &county_a)).await.unwrap().into_inner().events;
    assert_eq!(listed.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), [here.as_str()]);
    client.get_event(authed(get(&here), &county_a)).await.unwrap();
    for hidden in [&there, &untasked] {
        let status = client.get_event(authed(get(hidden), &county_a)).await.unwrap_err();
        assert_eq!(status.code(), Code::NotFound, "{status:?}");
    }
    let status = client.list_events(authed(listing("411603"), &county_a)).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);

    // gongan of county 411602 has no task here: the event is not there for it.
    let other = department("gongan", "411602");
    let status = client.get_event(authed(get(&here), &other)).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert!(client.list_events(authed(listing(""), &other)).await.unwrap().into_inner().events.is_empty());
    // gongan unscoped (dispatch's own rule: a department's tasks wherever they are) sees its
    // task's event in 411603 only.
    let unscoped = department("gongan", "");
    let listed = client.list_events(authed(listing(""), &unscoped)).await.unwrap().into_inner().events;
    assert_eq!(listed.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), [there.as_str()]);
    // A department token without a department reads nothing.
    let nobody = department("", "411602");
    assert_eq!(client.get_event(authed(get(&here), &nobody)).await.unwrap_err().code(), Code::NotFound);
    assert_eq!(client.list_events(authed(listing(""), &nobody)).await.unwrap_err().code(), Code::PermissionDenied);
    app.stop().await;
}

#[tokio::test]
async fn counting_tracking_numbers_reads_nothing_without_the_reporters_phone() {
    let app = spawn_authed().await;
    let mut client = app.client.clone();
    let citizen = token("citizen_app", "");
    let mine = submitted(&mut client, report_in("count-0001", "411602001001003", 32.98), &citizen).await;
    let mut theirs = report_in("count-0002", "411602001001003", 32.5);
    theirs.reporter.as_mut().unwrap().phone = "13900001111".into();
    let theirs = submitted(&mut client, theirs, &citizen).await;
    let lookup = |number: &str, last4: &str| {
        let r = GetEventByTrackingNumberRequest { tracking_number: number.into(), phone_last4: last4.into() };
        authed(r, &citizen)
    };

    // The next number, with my phone's ending or none: nothing; an unused number alike.
    let status = client.get_event_by_tracking_number(lookup(&theirs.tracking_number, "")).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let wrong = client.get_event_by_tracking_number(lookup(&theirs.tracking_number, "5678")).await.unwrap_err();
    let unused = mine.tracking_number.replace("-000001", "-000099");
    let missing = client.get_event_by_tracking_number(lookup(&unused, "5678")).await.unwrap_err();
    assert_eq!((wrong.code(), missing.code()), (Code::NotFound, Code::NotFound), "{wrong:?} {missing:?}");
    let status = client.get_event_by_tracking_number(lookup(&mine.tracking_number, "56a8")).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);

    // With the proof: the event, without its reporters' ids and phones.
    let event = client.get_event_by_tracking_number(lookup(&mine.tracking_number, "5678")).await.unwrap();
    let event = event.into_inner();
    assert_eq!(event.id, mine.event_id);
    assert!(event.reports.iter().all(|r| r.masked_phone.is_empty() && r.reporter_id.is_empty()), "{event:?}");
    let event = client.get_event_by_tracking_number(lookup(&theirs.tracking_number, "1111")).await.unwrap();
    assert_eq!(event.into_inner().id, theirs.event_id);

    // Staff read by number as by id: in their scope, NOT_FOUND outside it.
    let by = |number: &str, t: &str| {
        authed(GetEventByTrackingNumberRequest { tracking_number: number.into(), ..Default::default() }, t)
    };
    let county = token("county_center", "411602");
    let event = client.get_event_by_tracking_number(by(&theirs.tracking_number, &county)).await.unwrap();
    assert_eq!(event.into_inner().reports[0].masked_phone, "139****1111");
    let elsewhere = token("county_center", "411603");
    let status = client.get_event_by_tracking_number(by(&theirs.tracking_number, &elsewhere)).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let status = client.get_event_by_tracking_number(by(&theirs.tracking_number, &token("mediator", ""))).await;
    assert_eq!(status.unwrap_err().code(), Code::InvalidArgument, "a mediator gives the proof too");
    app.stop().await;
}

#[tokio::test]
async fn a_token_expired_ten_seconds_ago_is_unauthenticated() {
    let app = spawn_authed().await;
    let mut client = app.client.clone();
    let mut c = claims("admin", "", "");
    c.exp = expiry_in(std::time::Duration::ZERO) - 10;
    let expired = issue_token(SECRET, &c).unwrap();
    let status = client.list_events(authed(listing(""), &expired)).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    client.list_events(authed(listing(""), &token("admin", ""))).await.unwrap();
    app.stop().await;
}
