//! `spawn_app`: one dispatch with its own nats-server and database, a client for it, a way to
//! publish intake's facts exactly as intake does, tokens for every role, and picks from the
//! shipped reference data.

use std::{
    sync::atomic::{AtomicU32, Ordering},
    time::Duration,
};

use async_nats::jetstream;
use chrono::{DateTime, Utc};
use civicgrid_dev::testing;
pub use civicgrid_dev::testing::{
    eventually,
    status::{expect_code, expect_invalid},
};
use civicgrid_dispatch::{
    Application, Settings,
    domain::{
        calendar::TimeType,
        routing::{self, Route, WhistleLevel},
        sla::Limit,
    },
    reference::{CatalogItem, ReferenceData},
};
use civicgrid_kit::{
    Shutdown,
    auth::{Claims, expiry_in, issue_token},
    bus,
    clock::Clock,
    config::ServiceSettings,
    region,
    runtime::StartError,
    time::to_proto,
};
use civicgrid_proto::v1::{
    Actor, Event, EventRated, EventReported, EventSource, EventStatus, GeoPoint, ListTasksRequest, Location, Rating,
    RegionPath, Role, StageClock, Task, TaskEvent, dispatch_service_client::DispatchServiceClient,
};
use prost::Message;
use tonic::{Request, metadata::MetadataValue, transport::Channel};

/// The HS256 secret the test dispatch checks tokens with.
pub const SECRET: &str = "dispatch-test-secret-0123456789";

/// dispatch's stream.
pub const DISPATCH_STREAM: &str = "CIVICGRID_DISPATCH";

/// How long a fact may take to show up on the bus after what causes it. The contract asks for
/// warnings within 1 s of their threshold; the rest is slack for a loaded machine.
pub const WITHIN: Duration = Duration::from_secs(2);

/// The township the tests' events are reported in, and its county and city.
pub const TOWNSHIP: &str = "411602001";
pub const COUNTY: &str = "411602";
/// Another county of the demo city, with no part in these tests' events.
pub const OTHER_COUNTY: &str = "411621";

pub struct TestApp {
    pub client: DispatchServiceClient<Channel>,
    pub nats: testing::TestNats,
    pub js: jetstream::Context,
    pub clock: Clock,
    pub refdata: ReferenceData,
    pub settings: Settings,
    /// A superuser pool on this test's database (to wait for the outbox).
    pub db: sqlx::PgPool,
    pub shutdown: Shutdown,
    pub handle: tokio::task::JoinHandle<Result<(), StartError>>,
}

/// Starts dispatch on `clock` (a manual one in these tests).
pub async fn spawn_app(clock: Clock) -> TestApp {
    spawn_app_with(clock, "").await
}

/// Starts dispatch with extra TOML settings layered over the test defaults.
pub async fn spawn_app_with(clock: Clock, extra: &str) -> TestApp {
    let nats = testing::nats().await.expect("nats-server");
    let db_url = testing::database().await.expect("database");
    let base = format!(
        "[nats]\nurl = \"{}\"\n[database]\nurl = \"{db_url}\"\nmax_connections = 20\n[grpc]\nlisten = \"127.0.0.1:0\"\n[metrics]\nlisten = \"127.0.0.1:0\"\n\
         [telemetry]\nlog = \"error\"\n[bus]\nrelay_poll_ms = 100\nretry_backoff_ms = 50\nmax_deliver = 3\n\
         [auth]\nhs256_secret = \"{SECRET}\"\n[dispatch]\nticker_interval_ms = 20\nwatch_poll_ms = 50\n",
        nats.url(),
    );
    let settings = Settings::from_layers(&[&base, extra]).expect("settings");
    let js = jetstream::new(async_nats::connect(nats.url()).await.expect("nats client"));
    // intake's stream exists before dispatch starts consuming from it, as in a deployment.
    bus::ensure_streams(&js, &civicgrid_contracts::intake::STREAM, &settings.common.nats).await.expect("intake stream");
    let app = Application::build(settings.clone(), clock.clone()).await.expect("build dispatch");
    let addr = app.addr();
    let shutdown = Shutdown::new();
    let handle = tokio::spawn(app.run_until_stopped(shutdown.clone()));
    let client = DispatchServiceClient::connect(format!("http://{addr}")).await.expect("connect");
    let refdata = ReferenceData::shipped().expect("shipped reference data");
    let db = sqlx::postgres::PgPoolOptions::new().max_connections(2).connect(&db_url).await.expect("test pool");
    TestApp { client, nats, js, clock, refdata, settings, db, shutdown, handle }
}

/// Another dispatch process sharing the first one's database and NATS.
pub struct Replica {
    pub client: DispatchServiceClient<Channel>,
    pub shutdown: Shutdown,
    pub handle: tokio::task::JoinHandle<Result<(), StartError>>,
}

impl Replica {
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.handle.await.expect("join").expect("replica stopped cleanly");
    }
}

// ---------------------------------------------------------------------------------------------
// Time

/// An instant given in the calendar's local time (UTC+08:00): `2026-11-16 09:00` or with
/// seconds.
pub fn local(s: &str) -> DateTime<Utc> {
    let with_seconds = if s.len() == 16 { format!("{s}:00") } else { s.to_string() };
    DateTime::parse_from_str(&format!("{with_seconds} +0800"), "%Y-%m-%d %H:%M:%S %z")
        .unwrap_or_else(|e| panic!("time `{s}`: {e}"))
        .to_utc()
}

/// Monday 16 November 2026, 09:00 local: an ordinary working day, no holiday near it.
pub fn monday_9am() -> DateTime<Utc> {
    local("2026-11-16 09:00")
}

/// When a stage clock's deadline falls (unset while paused).
pub fn deadline_of(clock: &StageClock) -> Option<DateTime<Utc>> {
    clock.deadline.as_ref().and_then(civicgrid_kit::time::from_proto)
}

/// When a stage clock stopped.
pub fn stopped_at(clock: &StageClock) -> Option<DateTime<Utc>> {
    clock.stopped_at.as_ref().and_then(civicgrid_kit::time::from_proto)
}

/// When a stage clock started.
pub fn started_at(clock: &StageClock) -> Option<DateTime<Utc>> {
    clock.started_at.as_ref().and_then(civicgrid_kit::time::from_proto)
}

impl TestApp {
    /// Moves the manual clock forward to `at`.
    pub fn set_time(&self, at: DateTime<Utc>) {
        let now = self.clock.now();
        assert!(at >= now, "the clock only moves forward: {at} is before {now}");
        self.clock.advance(at - now);
    }

    /// Starts a second dispatch on the same database, NATS and clock (another replica).
    pub async fn spawn_replica(&self) -> Replica {
        let app = Application::build(self.settings.clone(), self.clock.clone()).await.expect("build replica");
        let addr = app.addr();
        let shutdown = Shutdown::new();
        let handle = tokio::spawn(app.run_until_stopped(shutdown.clone()));
        let client = DispatchServiceClient::connect(format!("http://{addr}")).await.expect("connect replica");
        Replica { client, shutdown, handle }
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        self.handle.await.expect("join").expect("dispatch stopped cleanly");
    }

    /// Stops dispatch (its consumer, ticker and relay too), keeping NATS, the database and the
    /// clock, so a backlog can pile up.
    pub async fn halt(&mut self) {
        self.shutdown.cancel();
        let handle = std::mem::replace(&mut self.handle, tokio::spawn(async { Ok(()) }));
        handle.await.expect("join").expect("dispatch stopped cleanly");
    }

    /// Starts dispatch again after [`halt`](Self::halt), on the same database, NATS and clock.
    pub async fn resume(&mut self) {
        let app = Application::build(self.settings.clone(), self.clock.clone()).await.expect("rebuild dispatch");
        let addr = app.addr();
        self.shutdown = Shutdown::new();
        self.handle = tokio::spawn(app.run_until_stopped(self.shutdown.clone()));
        self.client = DispatchServiceClient::connect(format!("http://{addr}")).await.expect("connect");
    }
}

// ---------------------------------------------------------------------------------------------
// Tokens

fn token(sub: &str, role: &str, department_id: &str, region_scope: &str) -> String {
    issue_token(
        SECRET,
        &Claims {
            sub: sub.into(),
            role: role.into(),
            department_id: department_id.into(),
            region_scope: region_scope.into(),
            exp: expiry_in(Duration::from_secs(3600)),
            iss: None,
            aud: None,
        },
    )
    .expect("token")
}

/// A user of department `id`.
pub fn department(id: &str) -> String {
    token(&format!("user-of-{id}"), "department", id, "")
}

/// A center operator whose authority covers `scope`.
pub fn center(scope: &str) -> String {
    token(&format!("center-{scope}"), "center", "", scope)
}

/// A grid worker `sub` whose scope is `scope` (a grid code or a village code).
pub fn grid_worker(sub: &str, scope: &str) -> String {
    token(sub, "grid_worker", "", scope)
}

/// A city-wide administrator.
pub fn admin() -> String {
    token("admin-1", "admin", "", "")
}

/// Another city-wide administrator, with subject `sub` (its own idempotency key space).
pub fn admin_as(sub: &str) -> String {
    token(sub, "admin", "", "")
}

/// A citizen app (may not read tasks at all).
pub fn citizen() -> String {
    token("citizen-app-1", "citizen_app", "", "")
}

pub fn authed<T>(message: T, token: &str) -> Request<T> {
    let mut r = Request::new(message);
    r.metadata_mut().insert("authorization", MetadataValue::try_from(format!("Bearer {token}")).unwrap());
    r
}

/// A fresh idempotency key.
pub fn rid() -> String {
    format!("req-{}", uuid::Uuid::now_v7().simple())
}

// ---------------------------------------------------------------------------------------------
// Reference data picks

/// A grid of the shipped data and where it lies.
#[derive(Debug, Clone)]
pub struct GridPick {
    pub code: String,
    pub grid_worker: String,
    pub path: RegionPath,
}

impl TestApp {
    /// The first grid of the shipped data inside `township`.
    pub fn grid_in(&self, township: &str) -> GridPick {
        self.grids_in(township).into_iter().next().unwrap_or_else(|| panic!("no grid in {township}"))
    }

    /// Every grid of the shipped data inside `township`.
    pub fn grids_in(&self, township: &str) -> Vec<GridPick> {
        self.refdata
            .regions
            .grids()
            .iter()
            .filter(|g| g.village.starts_with(township))
            .map(|g| GridPick {
                code: g.code.clone(),
                grid_worker: g.grid_worker.clone(),
                path: region::path_of_grid(&g.code).expect("grid code"),
            })
            .collect()
    }

    /// How the shipped data routes `item` at `path`.
    pub fn route(&self, item: &CatalogItem, path: &RegionPath) -> Option<Route> {
        routing::route(&item.route_rule(), path, self.refdata.departments.directory())
    }

    /// The first catalog item (in catalog order) that `wanted` accepts, with its route at `path`.
    pub fn item_where(
        &self,
        path: &RegionPath,
        what: &str,
        wanted: impl Fn(&CatalogItem, Option<&Route>) -> bool,
    ) -> (CatalogItem, Option<Route>) {
        self.refdata
            .catalog
            .items()
            .iter()
            .map(|i| (i.clone(), self.route(i, path)))
            .find(|(i, r)| wanted(i, r.as_ref()))
            .unwrap_or_else(|| panic!("the shipped catalog has no {what}"))
    }

    /// A routine item routed to a lead department alone, whose sign-for limit is
    /// `sign_for` and handling limit `handle`.
    pub fn routine_item(&self, path: &RegionPath, sign_for: Limit, handle: Limit) -> (CatalogItem, Route) {
        let (item, route) = self.item_where(path, "routine item with one department and those limits", |i, r| {
            i.whistle == WhistleLevel::Routine
                && i.sign_for == sign_for
                && i.handle == handle
                && r.is_some_and(|r| r.assisting.is_empty())
        });
        (item, route.expect("routed"))
    }

    /// The catalog's usual routine item: 2 working hours to sign for, 16 to handle.
    pub fn ordinary_item(&self, path: &RegionPath) -> (CatalogItem, Route) {
        self.routine_item(path, Limit::new(2, TimeType::WorkingHours), Limit::new(16, TimeType::WorkingHours))
    }

    /// An urgent routine item: 1 continuous hour to sign for, 4 to handle.
    pub fn urgent_item(&self, path: &RegionPath) -> (CatalogItem, Route) {
        self.routine_item(path, Limit::new(1, TimeType::Urgent), Limit::new(4, TimeType::Urgent))
    }

    /// A routine item whose route names assisting departments as well as the lead.
    pub fn item_with_assisting(&self, path: &RegionPath) -> (CatalogItem, Route) {
        let (item, route) = self.item_where(path, "routed item with assisting departments", |i, r| {
            i.whistle == WhistleLevel::Routine && r.is_some_and(|r| !r.assisting.is_empty())
        });
        (item, route.expect("routed"))
    }

    /// Departments serving `path` (any level), other than those in `except`.
    pub fn departments_serving(&self, path: &RegionPath, except: &[&str]) -> Vec<String> {
        self.refdata
            .departments
            .directory()
            .all()
            .iter()
            .filter(|d| region::contains(&d.region_code, path) && !except.contains(&d.id.as_str()))
            .map(|d| d.id.clone())
            .collect()
    }

    /// A department that does not serve `path`.
    pub fn department_not_serving(&self, path: &RegionPath) -> String {
        self.refdata
            .departments
            .directory()
            .all()
            .iter()
            .find(|d| !region::contains(&d.region_code, path))
            .map(|d| d.id.clone())
            .expect("a department elsewhere")
    }
}

// ---------------------------------------------------------------------------------------------
// intake's facts, published as intake publishes them

static TRACKING_SEQ: AtomicU32 = AtomicU32::new(1);

/// A reported event of `item_code` in `grid`, as intake's `EventReported` carries it.
pub fn reported(item_code: &str, grid: &GridPick, at: DateTime<Utc>) -> EventReported {
    let path = grid.path.clone();
    let seq = TRACKING_SEQ.fetch_add(1, Ordering::Relaxed);
    let id = uuid::Uuid::now_v7().to_string();
    EventReported {
        event: Some(Event {
            id,
            tracking_number: format!("{}-{}-{seq:06}", path.county, at.format("%Y%m%d")),
            source: EventSource::GridWorker as i32,
            item_code: item_code.to_string(),
            location: Some(Location {
                point: Some(GeoPoint { latitude: 33.62, longitude: 114.65 }),
                grid_code: grid.code.clone(),
                region_code: [&path.village, &path.township, &path.county]
                    .into_iter()
                    .find(|c| !c.is_empty())
                    .cloned()
                    .unwrap_or_default(),
                address: "川汇区七一路 12 号".into(),
                region: Some(path.clone()),
            }),
            description: format!("事件 {item_code}：现场需要处置"),
            evidence_urls: vec!["https://img.example.org/report.jpg".into()],
            occurred_at: Some(to_proto(at)),
            reported_at: Some(to_proto(at)),
            status: EventStatus::Reported as i32,
            reports: vec![],
            history: vec![],
            version: 1,
        }),
        actor: Some(if grid.grid_worker.is_empty() {
            Actor {
                subject: "hotline-12345".into(),
                role: Role::CitizenApp as i32,
                department_id: String::new(),
                region_scope: String::new(),
            }
        } else {
            Actor {
                subject: grid.grid_worker.clone(),
                role: Role::GridWorker as i32,
                department_id: String::new(),
                region_scope: grid.code.clone(),
            }
        }),
    }
}

/// A place known only to its county (a hotline report without a grid or street).
pub fn county_only(county: &str) -> GridPick {
    GridPick { code: String::new(), grid_worker: String::new(), path: region::path_of(county).expect("county code") }
}

pub fn event_id(r: &EventReported) -> String {
    r.event.as_ref().expect("event").id.clone()
}

fn event_region(r: &EventReported) -> RegionPath {
    r.event.as_ref().and_then(|e| e.location.as_ref()).and_then(|l| l.region.clone()).expect("region")
}

/// A rating of `r`'s outcome, as intake's `EventRated` carries it.
pub fn rated(r: &EventReported, rating: Rating, comment: &str, at: DateTime<Utc>) -> EventRated {
    let event = r.event.as_ref().expect("event");
    EventRated {
        event_id: event.id.clone(),
        tracking_number: event.tracking_number.clone(),
        rating: rating as i32,
        comment: comment.into(),
        region: Some(event_region(r)),
        version: 2,
        rated_at: Some(to_proto(at)),
        actor: Some(Actor {
            subject: "citizen-app-1".into(),
            role: Role::CitizenApp as i32,
            department_id: String::new(),
            region_scope: String::new(),
        }),
        rating_id: uuid::Uuid::now_v7().to_string(),
    }
}

impl TestApp {
    /// Publishes an intake fact with intake's CloudEvents headers; `ce_id` and `msg_id` are
    /// usually the same fresh UUIDv7 (a publisher's retry keeps `ce-id` under a new
    /// `Nats-Msg-Id` once JetStream's duplicate window has passed).
    #[allow(clippy::too_many_arguments)]
    pub async fn publish_intake(
        &self,
        fact: &str,
        region: &RegionPath,
        type_name: &str,
        subject_id: &str,
        payload: Vec<u8>,
        ce_id: &str,
        msg_id: &str,
    ) {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("ce-specversion", "1.0");
        headers.insert("ce-id", ce_id);
        headers.insert("Nats-Msg-Id", msg_id);
        headers.insert("ce-type", format!("civicgrid.v1.{type_name}").as_str());
        headers.insert("ce-source", "civicgrid/intake");
        headers.insert("ce-time", self.clock.now().to_rfc3339().as_str());
        headers.insert("ce-subject", subject_id);
        headers.insert("content-type", "application/protobuf");
        self.js
            .publish_with_headers(bus::subject("intake", fact, region), headers, payload.into())
            .await
            .expect("publish")
            .await
            .expect("JetStream ack");
    }

    /// Publishes `r` as `event-reported`; returns its ce-id.
    pub async fn publish_reported(&self, r: &EventReported) -> String {
        let ce_id = uuid::Uuid::now_v7().to_string();
        self.publish_reported_as(r, &ce_id, &ce_id).await;
        ce_id
    }

    pub async fn publish_reported_as(&self, r: &EventReported, ce_id: &str, msg_id: &str) {
        let region = event_region(r);
        self.publish_intake("event-reported", &region, "EventReported", &event_id(r), r.encode_to_vec(), ce_id, msg_id)
            .await;
    }

    /// Publishes `rating` as `event-rated`; returns its ce-id.
    pub async fn publish_rated(&self, rating: &EventRated) -> String {
        let ce_id = uuid::Uuid::now_v7().to_string();
        self.publish_rated_as(rating, &ce_id, &ce_id).await;
        ce_id
    }

    pub async fn publish_rated_as(&self, rating: &EventRated, ce_id: &str, msg_id: &str) {
        let region = rating.region.clone().expect("region");
        self.publish_intake(
            "event-rated",
            &region,
            "EventRated",
            &rating.event_id,
            rating.encode_to_vec(),
            ce_id,
            msg_id,
        )
        .await;
    }

    /// Reports an event of `item_code` in `grid` now and waits for its `n` tasks (lead first).
    pub async fn report(&self, item_code: &str, grid: &GridPick, n: usize) -> (EventReported, Vec<Task>) {
        let r = reported(item_code, grid, self.clock.now());
        self.publish_reported(&r).await;
        let tasks = self.tasks_of(&event_id(&r), n).await;
        (r, tasks)
    }

    /// The tasks of an event as an administrator sees them, lead first, once there are `n`.
    pub async fn tasks_of(&self, event_id: &str, n: usize) -> Vec<Task> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let mut tasks = self.list_for_event(event_id).await;
            if tasks.len() >= n {
                tasks.sort_by_key(|t| (!t.lead, t.id.clone()));
                return tasks;
            }
            assert!(tokio::time::Instant::now() < deadline, "event {event_id} has {} of {n} tasks", tasks.len());
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub async fn list_for_event(&self, event_id: &str) -> Vec<Task> {
        let mut client = self.client.clone();
        let req = ListTasksRequest { event_id: event_id.into(), page_size: 500, ..Default::default() };
        client.list_tasks(authed(req, &admin())).await.expect("list tasks").into_inner().tasks
    }

    /// A task as the administrator sees it now.
    pub async fn task(&self, id: &str) -> Task {
        let mut client = self.client.clone();
        let req = civicgrid_proto::v1::GetTaskRequest { task_id: id.into() };
        client.get_task(authed(req, &admin())).await.expect("get task").into_inner()
    }
}

// ---------------------------------------------------------------------------------------------
// dispatch's facts on the bus

/// One message dispatch published.
#[derive(Debug, Clone)]
pub struct Published {
    pub subject: String,
    pub headers: std::collections::HashMap<String, String>,
    pub event: TaskEvent,
}

impl TestApp {
    /// Every message on CIVICGRID_DISPATCH so far, in stream order, once every change
    /// committed before the call is published.
    pub async fn published(&self) -> Vec<Published> {
        testing::outbox_drained(&self.db, "dispatch").await;
        testing::stream::messages(&self.js, DISPATCH_STREAM)
            .await
            .into_iter()
            .map(|m| Published {
                event: TaskEvent::decode(m.payload.clone()).expect("TaskEvent payload"),
                subject: m.subject,
                headers: m.headers,
            })
            .collect()
    }

    /// The facts published about `task_id`, in order.
    pub async fn published_for(&self, task_id: &str) -> Vec<Published> {
        self.published().await.into_iter().filter(|p| p.event.task_id == task_id).collect()
    }

    /// The fact names published about `task_id`, in order.
    pub async fn facts_of(&self, task_id: &str) -> Vec<String> {
        self.published_for(task_id).await.into_iter().map(|p| p.event.fact).collect()
    }

    /// Waits up to `within` for a published message that `wanted` accepts.
    pub async fn wait_published(&self, what: &str, within: Duration, wanted: impl Fn(&Published) -> bool) -> Published {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(p) = self.published().await.into_iter().find(|p| wanted(p)) {
                return p;
            }
            assert!(tokio::time::Instant::now() < deadline, "no {what} published within {within:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until `task_id` has exactly the facts `expected` on the bus (in order), and
    /// returns them.
    pub async fn wait_facts(&self, task_id: &str, expected: &[&str]) -> Vec<Published> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let got = self.published_for(task_id).await;
            let names: Vec<&str> = got.iter().map(|p| p.event.fact.as_str()).collect();
            if names.len() >= expected.len() {
                assert_eq!(names, expected, "facts published about task {task_id}");
                return got;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "task {task_id}: published {names:?}, expected {expected:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl TestApp {
    /// Waits until at least `n` facts about `task_id` are on the bus and no more arrive for
    /// 300 ms, and returns their names.
    pub async fn wait_facts_at_least(&self, task_id: &str, n: usize) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let mut last = Vec::new();
        loop {
            let got = self.facts_of(task_id).await;
            if got.len() >= n && got == last {
                return got;
            }
            assert!(tokio::time::Instant::now() < deadline, "task {task_id}: only {got:?}, expected {n} facts");
            last = got;
            tokio::time::sleep(Duration::from_millis(if last.len() >= n { 300 } else { 25 })).await;
        }
    }
}

/// The next change of a WatchTasks feed (10 s at most).
pub async fn next_change(
    feed: &mut tonic::Streaming<civicgrid_proto::v1::TaskChange>,
) -> civicgrid_proto::v1::TaskChange {
    tokio::time::timeout(Duration::from_secs(10), feed.message())
        .await
        .expect("a change within 10 s")
        .expect("feed error")
        .expect("feed ended")
}
