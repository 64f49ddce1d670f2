//! `spawn_app`: one dispatch with its own nats-server and database, a client for it, and the
//! manual clock's helpers. The rest of the tests' toolkit, re-exported here: [`auth`] tokens
//! for every role, [`picks`] from the shipped reference data, [`intake`] facts published as
//! intake publishes them, and [`published`] what dispatch put on the bus.

mod auth;
mod intake;
mod picks;
mod published;

use std::time::Duration;

use async_nats::jetstream;
use chrono::{DateTime, Utc};
use civicgrid_dev::testing;
pub use civicgrid_dev::testing::{
    eventually,
    status::{expect_code, expect_invalid},
};
use civicgrid_dispatch::{Application, Settings, reference::ReferenceData};
use civicgrid_kit::{Shutdown, bus, clock::Clock, config::ServiceSettings, runtime::StartError};
use civicgrid_proto::v1::{StageClock, dispatch_service_client::DispatchServiceClient};
use tonic::transport::Channel;

pub use self::{auth::*, intake::*, picks::*, published::*};

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
