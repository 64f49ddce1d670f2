//! `spawn_app`: one notify with its own nats-server and database, a client for it, ways to
//! publish intake's and dispatch's facts as they do, tokens for every role, and a webhook
//! receiver on loopback.

#![allow(dead_code)]

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use async_nats::jetstream;
use chrono::{DateTime, Utc};
use civicgrid_dev::testing;
use civicgrid_kit::{
    Shutdown,
    auth::{Claims, expiry_in, issue_token},
    bus::{self, Envelope, envelope::to_header_map},
    clock::Clock,
    config::ServiceSettings,
    runtime::StartError,
    seal::Cipher,
    time::to_proto,
};
use civicgrid_notify::{Application, Settings};
use civicgrid_proto::v1::{
    Actor, Event, EventMerged, EventReport, EventReported, ListDeliveriesRequest, ListInboxRequest, Location,
    Notification, NotifyEvent, RegionPath, Role, TaskEvent, TaskStatus, WarningColour,
    notify_service_client::NotifyServiceClient,
};
use prost::Message;
use tonic::{Request, metadata::MetadataValue, transport::Channel};

/// The HS256 secret the test notify checks tokens with.
pub const SECRET: &str = "notify-test-secret-0123456789ab";

/// How long something may take to show up.
pub const WITHIN: Duration = Duration::from_secs(10);

pub const CITY: &str = "411600";
pub const COUNTY: &str = "411602";
pub const TOWNSHIP: &str = "411602001";
pub const VILLAGE: &str = "411602001001";
pub const GRID: &str = "411602001001001";
pub const DEPT: &str = "cg-411602";
pub const OTHER_DEPT: &str = "hb-411602";
pub const GRID_WORKER: &str = "gw-411602001001001";

pub fn path() -> RegionPath {
    RegionPath { city: CITY.into(), county: COUNTY.into(), township: TOWNSHIP.into(), village: VILLAGE.into() }
}

/// Monday 16 November 2026, 09:00 Beijing time.
pub fn monday_9am() -> DateTime<Utc> {
    local("2026-11-16 09:00")
}

/// A Beijing wall-clock time.
pub fn local(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_str(&format!("{s}:00 +0800"), "%Y-%m-%d %H:%M:%S %z").expect("time").to_utc()
}

pub struct TestApp {
    pub client: NotifyServiceClient<Channel>,
    pub nats: testing::TestNats,
    pub js: jetstream::Context,
    pub clock: Clock,
    pub settings: Settings,
    pub shutdown: Shutdown,
    pub handle: Option<tokio::task::JoinHandle<Result<(), StartError>>>,
    /// notify's own runtime: every task notify spawns (worker, consumers, relay) lives in it, so
    /// [`TestApp::crash`] can drop them all at once, as a killed process would.
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // A runtime may not be dropped (blocking) inside the test's async context.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Test settings: fast polling, a fresh contact key, auth on.
pub fn settings_for(nats_url: &str, db_url: &str, extra: &str) -> Settings {
    let base = format!(
        "[nats]\nurl = \"{nats_url}\"\n[database]\nurl = \"{db_url}\"\nmax_connections = 10\n[grpc]\nlisten = \"127.0.0.1:0\"\n[metrics]\nlisten = \"127.0.0.1:0\"\n\
         [telemetry]\nlog = \"error\"\n[bus]\nrelay_poll_ms = 50\nretry_backoff_ms = 50\nmax_deliver = 3\n\
         [auth]\nhs256_secret = \"{SECRET}\"\n\
         [notify]\ncontact_key = \"{}\"\nworker_interval_ms = 20\nwatch_poll_ms = 50\nwebhook_timeout_ms = 1000\n\
         allow_private_webhooks = true\n",
        Cipher::generate_key(),
    );
    Settings::from_layers(&[&base, extra]).expect("settings")
}

/// Starts notify on `clock` with extra TOML settings layered over the test defaults.
pub async fn spawn_app_with(clock: Clock, extra: &str) -> TestApp {
    let nats = testing::nats().await.expect("nats-server");
    let db_url = testing::database().await.expect("database");
    let settings = settings_for(&nats.url(), &db_url, extra);
    let js = jetstream::new(async_nats::connect(nats.url()).await.expect("nats client"));
    // The producers' streams exist before notify consumes them, as in a deployment.
    for producer in [civicgrid_contracts::intake::STREAM, civicgrid_contracts::dispatch::STREAM] {
        bus::ensure_streams(&js, &producer, &settings.common.nats).await.expect("producer stream");
    }
    let mut app = TestApp {
        client: placeholder_client(),
        nats,
        js,
        clock,
        settings,
        shutdown: Shutdown::new(),
        handle: None,
        runtime: None,
    };
    app.start().await;
    app
}

pub async fn spawn_app(clock: Clock) -> TestApp {
    spawn_app_with(clock, "").await
}

fn placeholder_client() -> NotifyServiceClient<Channel> {
    NotifyServiceClient::new(Channel::from_static("http://127.0.0.1:9").connect_lazy())
}

impl TestApp {
    /// Starts (or restarts) notify on the same database and NATS, in a runtime of its own.
    pub async fn start(&mut self) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("notify's runtime");
        self.shutdown = Shutdown::new();
        let (settings, clock, shutdown) = (self.settings.clone(), self.clock.clone(), self.shutdown.clone());
        let (built, addr) = tokio::sync::oneshot::channel();
        // Built inside its runtime: the pool's and the NATS client's tasks must die with it.
        self.handle = Some(runtime.spawn(async move {
            let app = Application::build(settings, clock).await?;
            let _ = built.send(app.addr());
            app.run_until_stopped(shutdown).await
        }));
        self.runtime = Some(runtime);
        let Ok(addr) = addr.await else {
            let h = self.handle.take().expect("handle");
            panic!("build notify: {:?}", h.await.expect("join").err());
        };
        self.client = NotifyServiceClient::connect(format!("http://{addr}")).await.expect("connect");
    }

    /// Stops notify gracefully.
    pub async fn stop(&mut self) {
        self.shutdown.cancel();
        if let Some(h) = self.handle.take() {
            h.await.expect("join").expect("notify stopped cleanly");
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }

    /// Kills notify mid-flight: every one of its tasks (gRPC, worker, consumers, relay) is
    /// dropped at whatever await it was in; open transactions roll back when their
    /// connections close, and nothing is drained or acknowledged.
    pub async fn crash(&mut self) {
        self.handle = None;
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }

    /// Moves the manual clock.
    pub fn advance(&self, by: chrono::Duration) {
        self.clock.advance(by);
    }

    // -----------------------------------------------------------------------------------------
    // Publishing facts as the producers do

    /// Publishes `msg` on `subject` with CloudEvents headers; returns the ce-id.
    pub async fn publish<M: Message + prost::Name>(
        &self,
        service: &str,
        subject: String,
        aggregate: &str,
        msg: &M,
    ) -> String {
        let id = uuid::Uuid::now_v7();
        self.publish_as(service, subject, aggregate, msg, id).await;
        id.to_string()
    }

    /// Publishes with a chosen ce-id (to test redelivery); the Nats-Msg-Id is fresh, so
    /// JetStream's own de-duplication does not hide the copy.
    pub async fn publish_as<M: Message + prost::Name>(
        &self,
        service: &str,
        subject: String,
        aggregate: &str,
        msg: &M,
        ce_id: uuid::Uuid,
    ) {
        let envelope = Envelope::of(subject.clone(), aggregate, msg);
        let mut headers = envelope.headers(service, ce_id, self.clock.now());
        headers.insert("Nats-Msg-Id".into(), uuid::Uuid::now_v7().to_string());
        self.js
            .publish_with_headers(subject, to_header_map(&headers), envelope.payload.clone().into())
            .await
            .expect("publish")
            .await
            .expect("ack");
    }

    /// Publishes a dispatch task fact; returns its ce-id.
    pub async fn publish_task(&self, e: &TaskEvent) -> String {
        let region = e.region.clone().unwrap_or_default();
        self.publish("dispatch", bus::subject("dispatch", &e.fact, &region), &e.task_id, e).await
    }

    /// Publishes intake's `event-reported`; returns its ce-id.
    pub async fn publish_reported(&self, r: &EventReported) -> String {
        let event = r.event.clone().unwrap_or_default();
        let region = event.location.clone().unwrap_or_default().region.unwrap_or_default();
        self.publish("intake", bus::subject("intake", "event-reported", &region), &event.id, r).await
    }

    /// Publishes intake's `event-merged`; returns its ce-id.
    pub async fn publish_merged(&self, m: &EventMerged) -> String {
        let region = m.region.clone().unwrap_or_default();
        self.publish("intake", bus::subject("intake", "event-merged", &region), &m.event_id, m).await
    }

    // -----------------------------------------------------------------------------------------
    // Reading notify

    /// `recipient`'s inbox as `token` sees it, newest first.
    pub async fn inbox(&self, recipient: &str, token: &str) -> Vec<Notification> {
        let mut c = self.client.clone();
        let req = ListInboxRequest { recipient: recipient.into(), page_size: 500, ..Default::default() };
        c.list_inbox(authed(req, token)).await.expect("list inbox").into_inner().notifications
    }

    /// Waits until `recipient`'s inbox holds at least `n` notifications; returns them oldest first.
    pub async fn wait_inbox(&self, recipient: &str, n: usize) -> Vec<Notification> {
        let deadline = tokio::time::Instant::now() + WITHIN;
        loop {
            let mut got = self.inbox(recipient, &admin()).await;
            if got.len() >= n {
                got.reverse();
                return got;
            }
            assert!(tokio::time::Instant::now() < deadline, "{recipient} has {} of {n} notifications", got.len());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The deliveries of a notification.
    pub async fn deliveries_of(&self, notification_id: &str) -> Vec<civicgrid_proto::v1::Delivery> {
        let mut c = self.client.clone();
        let req =
            ListDeliveriesRequest { notification_id: notification_id.into(), page_size: 500, ..Default::default() };
        c.list_deliveries(authed(req, &admin())).await.expect("list deliveries").into_inner().deliveries
    }

    /// Waits until `check` accepts the deliveries of a notification; returns them.
    pub async fn wait_deliveries(
        &self,
        notification_id: &str,
        what: &str,
        check: impl Fn(&[civicgrid_proto::v1::Delivery]) -> bool,
    ) -> Vec<civicgrid_proto::v1::Delivery> {
        let deadline = tokio::time::Instant::now() + WITHIN;
        loop {
            let d = self.deliveries_of(notification_id).await;
            if check(&d) {
                return d;
            }
            assert!(tokio::time::Instant::now() < deadline, "{what}: deliveries are {d:#?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Every message notify published on CIVICGRID_NOTIFY so far.
    pub async fn published(&self) -> Vec<(String, NotifyEvent)> {
        testing::stream::messages(&self.js, "CIVICGRID_NOTIFY")
            .await
            .into_iter()
            .map(|m| (m.subject.clone(), NotifyEvent::decode(m.payload.clone()).expect("NotifyEvent")))
            .collect()
    }

    /// Waits for a published notify fact that `wanted` accepts.
    pub async fn wait_published(&self, what: &str, wanted: impl Fn(&str, &NotifyEvent) -> bool) -> NotifyEvent {
        let deadline = tokio::time::Instant::now() + WITHIN;
        loop {
            if let Some((_, e)) = self.published().await.into_iter().find(|(s, e)| wanted(s, e)) {
                return e;
            }
            assert!(tokio::time::Instant::now() < deadline, "no {what} published");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Facts

/// A task fact about task `task` of event `event`, in the test village, for department `DEPT`.
pub fn task_fact(fact: &str, task: &str, event: &str) -> TaskEvent {
    TaskEvent {
        task_id: task.into(),
        event_id: event.into(),
        fact: fact.into(),
        status: TaskStatus::Assigned as i32,
        department_id: DEPT.into(),
        region: Some(path()),
        version: 1,
        occurred_at: Some(to_proto(Utc::now())),
        actor: Some(Actor { subject: "civicgrid-dispatch".into(), role: Role::Admin as i32, ..Default::default() }),
        lead: true,
        colour: WarningColour::Blue as i32,
        item_code: "0101001".into(),
        grid_code: GRID.into(),
        grid_worker_id: GRID_WORKER.into(),
        tracking_number: format!("411602-20261116-{:06}", rand_seq()),
        ..Default::default()
    }
}

fn rand_seq() -> u32 {
    (uuid::Uuid::now_v7().as_u128() % 999_999) as u32
}

/// intake's `event-reported` of a new event by `reporter_id`.
pub fn reported(event: &str, reporter_id: &str) -> EventReported {
    EventReported {
        event: Some(Event {
            id: event.into(),
            tracking_number: format!("411602-20261116-{:06}", rand_seq()),
            item_code: "0101001".into(),
            location: Some(Location {
                grid_code: GRID.into(),
                region: Some(path()),
                address: "人民路 1 号".into(),
                ..Default::default()
            }),
            reports: vec![EventReport { reporter_id: reporter_id.into(), ..Default::default() }],
            ..Default::default()
        }),
        actor: None,
    }
}

/// intake's `event-merged` of another report by `reporter_id`.
pub fn merged(event: &str, reporter_id: &str, count: i32) -> EventMerged {
    EventMerged {
        event_id: event.into(),
        tracking_number: "411602-20261116-000001".into(),
        report: Some(EventReport { reporter_id: reporter_id.into(), ..Default::default() }),
        report_count: count,
        version: 2,
        region: Some(path()),
        actor: None,
    }
}

pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

// ---------------------------------------------------------------------------------------------
// Tokens

pub fn token(sub: &str, role: &str, department: &str, scope: &str) -> String {
    let claims = Claims {
        sub: sub.into(),
        role: role.into(),
        department_id: department.into(),
        region_scope: scope.into(),
        exp: expiry_in(Duration::from_secs(3600)),
        iss: None,
        aud: None,
    };
    issue_token(SECRET, &claims).expect("token")
}

pub fn admin() -> String {
    token("admin-1", "admin", "", "")
}

pub fn department(dept: &str) -> String {
    token(&format!("{dept}-officer"), "department", dept, "")
}

pub fn center(scope: &str) -> String {
    token(&format!("center-{scope}"), "center", "", scope)
}

pub fn grid_worker(sub: &str) -> String {
    token(sub, "grid_worker", "", VILLAGE)
}

pub fn citizen_app() -> String {
    token("citizen-app-1", "citizen_app", "", "")
}

pub fn authed<T>(message: T, token: &str) -> Request<T> {
    let mut r = Request::new(message);
    r.metadata_mut().insert("authorization", MetadataValue::try_from(format!("Bearer {token}")).expect("header"));
    r
}

// ---------------------------------------------------------------------------------------------
// A webhook receiver on loopback

/// One call the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
    pub at: std::time::Instant,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str).unwrap_or("")
    }
}

/// How the receiver answers.
#[derive(Debug, Clone, Copy)]
pub enum Answer {
    /// With this status.
    Status(u16),
    /// After this long (longer than the webhook timeout makes a timeout), with 200.
    Slow(Duration),
}

/// A real HTTP server that records every call and answers from a script (then 200).
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    calls: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<std::collections::VecDeque<Answer>>>,
}

impl Receiver {
    /// Starts a receiver on a free loopback port.
    pub async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind receiver");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        let receiver =
            Receiver { url, calls: Arc::new(Mutex::new(Vec::new())), script: Arc::new(Mutex::new(Default::default())) };
        let r = receiver.clone();
        let app = axum::Router::new().fallback(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let r = r.clone();
            async move {
                let answer = r.script.lock().expect("script").pop_front();
                r.calls.lock().expect("calls").push(Received {
                    headers: headers
                        .iter()
                        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or_default().to_string()))
                        .collect(),
                    body: body.to_vec(),
                    at: std::time::Instant::now(),
                });
                match answer {
                    Some(Answer::Status(code)) => {
                        axum::http::StatusCode::from_u16(code).unwrap_or(axum::http::StatusCode::OK)
                    }
                    Some(Answer::Slow(d)) => {
                        tokio::time::sleep(d).await;
                        axum::http::StatusCode::OK
                    }
                    None => axum::http::StatusCode::OK,
                }
            }
        });
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        receiver
    }

    /// Answers the next calls like this, in order.
    pub fn script(&self, answers: &[Answer]) {
        self.script.lock().expect("script").extend(answers.iter().copied());
    }

    pub fn calls(&self) -> Vec<Received> {
        self.calls.lock().expect("calls").clone()
    }

    /// Waits until at least `n` calls arrived.
    pub async fn wait_calls(&self, n: usize) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + WITHIN;
        loop {
            let calls = self.calls();
            if calls.len() >= n {
                return calls;
            }
            assert!(tokio::time::Instant::now() < deadline, "receiver got {} of {n} calls", calls.len());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Registers `url` as a webhook of `recipient` with `secret`; returns the endpoint id.
pub async fn register(app: &TestApp, recipient: &str, url: &str, secret: &str) -> String {
    let mut c = app.client.clone();
    let req = civicgrid_proto::v1::RegisterWebhookRequest {
        recipient: recipient.into(),
        url: url.into(),
        secret: secret.into(),
        description: "test receiver".into(),
        request_id: new_id(),
    };
    c.register_webhook(authed(req, &admin())).await.expect("register webhook").into_inner().id
}

// ---------------------------------------------------------------------------------------------
// Webhook deliveries, endpoints, preferences, dead letters and the database

/// Polls `probe` until it answers `Ok`, for up to [`WITHIN`]; fails with `what` and the last
/// `Err` (what was seen instead).
pub async fn eventually<T>(what: &str, mut probe: impl AsyncFnMut() -> Result<T, String>) -> T {
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        match probe().await {
            Ok(t) => return t,
            Err(seen) => assert!(tokio::time::Instant::now() < deadline, "{what}: {seen}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The webhook delivery among a notification's deliveries.
pub fn webhook_delivery(d: &[civicgrid_proto::v1::Delivery]) -> Option<&civicgrid_proto::v1::Delivery> {
    d.iter().find(|d| d.channel == civicgrid_proto::v1::Channel::Webhook as i32)
}

/// The instant of a protobuf timestamp.
pub fn at(ts: Option<&prost_types::Timestamp>) -> DateTime<Utc> {
    ts.and_then(civicgrid_kit::time::from_proto).expect("a timestamp")
}

impl TestApp {
    /// Waits until the delivery of `notification_id` on `channel` satisfies `check`; returns it.
    pub async fn wait_channel(
        &self,
        notification_id: &str,
        channel: civicgrid_proto::v1::Channel,
        what: &str,
        check: impl Fn(&civicgrid_proto::v1::Delivery) -> bool,
    ) -> civicgrid_proto::v1::Delivery {
        let d = self
            .wait_deliveries(notification_id, what, |d| d.iter().any(|d| d.channel == channel as i32 && check(d)))
            .await;
        d.into_iter().find(|d| d.channel == channel as i32 && check(d)).expect("checked")
    }

    /// Waits until the webhook delivery of `notification_id` satisfies `check`; returns it.
    pub async fn wait_webhook(
        &self,
        notification_id: &str,
        what: &str,
        check: impl Fn(&civicgrid_proto::v1::Delivery) -> bool,
    ) -> civicgrid_proto::v1::Delivery {
        self.wait_channel(notification_id, civicgrid_proto::v1::Channel::Webhook, what, check).await
    }

    /// Moves the manual clock forward to `to` (not back).
    pub fn advance_to(&self, to: DateTime<Utc>) {
        let by = to - self.clock.now();
        assert!(by >= chrono::Duration::zero(), "the clock does not go back to {to}");
        self.clock.advance(by);
    }

    /// `recipient`'s webhook endpoints as an administrator sees them.
    pub async fn webhooks(&self, recipient: &str, include_inactive: bool) -> Vec<civicgrid_proto::v1::WebhookEndpoint> {
        let mut c = self.client.clone();
        let req = civicgrid_proto::v1::ListWebhooksRequest { recipient: recipient.into(), include_inactive };
        c.list_webhooks(authed(req, &admin())).await.expect("list webhooks").into_inner().endpoints
    }

    /// Waits until `recipient`'s only endpoint satisfies `check`; returns it.
    pub async fn wait_endpoint(
        &self,
        recipient: &str,
        what: &str,
        check: impl Fn(&civicgrid_proto::v1::WebhookEndpoint) -> bool,
    ) -> civicgrid_proto::v1::WebhookEndpoint {
        eventually(what, async || {
            let mut e = self.webhooks(recipient, false).await;
            assert_eq!(e.len(), 1, "{recipient} has one endpoint");
            if check(&e[0]) { Ok(e.remove(0)) } else { Err(format!("the endpoint is {e:#?}")) }
        })
        .await
    }

    /// Stores preferences as an administrator.
    pub async fn set_prefs(&self, p: civicgrid_proto::v1::Preferences) -> civicgrid_proto::v1::Preferences {
        let mut c = self.client.clone();
        let req = civicgrid_proto::v1::SetPreferencesRequest { preferences: Some(p) };
        c.set_preferences(authed(req, &admin())).await.expect("set preferences").into_inner()
    }

    /// Waits for the last dead letter on `subject`.
    pub async fn wait_dead_letter(&self, subject: &str) -> jetstream::message::StreamMessage {
        eventually(&format!("a dead letter on {subject}"), async || {
            let stream = self.js.get_stream("CIVICGRID_DEADLETTER").await.map_err(|e| e.to_string())?;
            stream.get_last_raw_message_by_subject(subject).await.map_err(|e| e.to_string())
        })
        .await
    }

    /// A pool on notify's schema, to look at what is stored.
    pub async fn db(&self) -> sqlx::PgPool {
        civicgrid_kit::db::connect(&self.settings.common.database, civicgrid_notify::SERVICE).await.expect("db")
    }
}

/// Proves that the delivery worker has made a whole pass (digests, re-escalations, sends)
/// after the moment it is called, without sleeping: a fact for a desk of its own goes out as a
/// webhook call, twice. The worker's pass ends with the round that sends the first call, so the
/// second call is sent by a pass that began after the first one was seen.
pub struct Probe {
    receiver: Receiver,
}

/// The department the probe's facts are for.
pub const PROBE_DEPT: &str = "probe-411602";

impl Probe {
    /// Registers the probe's receiver for [`PROBE_DEPT`].
    pub async fn register(app: &TestApp) -> Probe {
        let receiver = Receiver::start().await;
        register(app, &format!("department:{PROBE_DEPT}"), &receiver.url, "probe-secret-0123456789").await;
        Probe { receiver }
    }

    /// Returns once the worker has made a pass that began after this call.
    pub async fn pass(&self, app: &TestApp) {
        for _ in 0..2 {
            let seen = self.receiver.calls().len();
            let mut fact = task_fact("task-assigned", &new_id(), &new_id());
            fact.department_id = PROBE_DEPT.into();
            app.publish_task(&fact).await;
            self.receiver.wait_calls(seen + 1).await;
        }
    }
}
