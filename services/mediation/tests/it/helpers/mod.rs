//! `spawn_app`: one mediation with its own nats-server and database (and, for the tests of the
//! dispatch link, a real dispatch on the same NATS with a database of its own), a client for
//! it, and the manual clock's helpers. The rest of the toolkit, re-exported here: [`auth`]
//! tokens, [`parties`] and requests, [`bus`] facts published and read, [`steps`] the workflow's
//! calls.

mod auth;
mod bus;
mod parties;
mod steps;

use std::net::SocketAddr;

use async_nats::jetstream;
use chrono::{DateTime, Utc};
pub use civicgrid_dev::testing::status::{expect_code, expect_invalid};
use civicgrid_dev::{infra::free_port, testing};
use civicgrid_kit::{
    Shutdown, bus as kit_bus, clock::Clock, config::ServiceSettings, runtime::StartError, seal::Cipher,
};
use civicgrid_mediation::{Application, Settings};
use civicgrid_proto::v1::{
    dispatch_service_client::DispatchServiceClient, mediation_service_client::MediationServiceClient,
};
use tonic::transport::Channel;

pub use self::{auth::*, bus::*, parties::*, steps::*};

/// The HS256 secret every service of a test checks tokens with (as in a deployment).
pub const SECRET: &str = "mediation-test-secret-0123456789";

/// The township and villages the tests' cases are in (周口市川汇区陈州街道).
pub const TOWNSHIP: &str = "411602001";
pub const VILLAGE: &str = "411602001001";
pub const OTHER_VILLAGE: &str = "411602001002";
/// The justice office of the township, and the organisations of the two villages with their
/// first mediators (neighbour disputes).
pub const JUSTICE_OFFICE: &str = "411602001-sifa";
pub const ORGANISATION: &str = "411602001001-cw";
pub const OTHER_ORGANISATION: &str = "411602001002-cw";
pub const MEDIATOR: &str = "med-411602001001-cw-01";
pub const OTHER_MEDIATOR: &str = "med-411602001002-cw-01";

/// A dispatch running beside mediation.
pub struct TestDispatch {
    pub client: DispatchServiceClient<Channel>,
    pub shutdown: Shutdown,
    pub handle: tokio::task::JoinHandle<Result<(), StartError>>,
}

pub struct TestApp {
    pub client: MediationServiceClient<Channel>,
    /// Kept so the server lives as long as the test.
    pub _nats: testing::TestNats,
    pub js: jetstream::Context,
    pub clock: Clock,
    /// A superuser pool on mediation's database.
    pub db: sqlx::PgPool,
    pub metrics_addr: SocketAddr,
    pub shutdown: Shutdown,
    pub handle: tokio::task::JoinHandle<Result<(), StartError>>,
    pub dispatch: Option<TestDispatch>,
}

fn common(nats: &str, db: &str, metrics_port: u16) -> String {
    format!(
        "[nats]\nurl = \"{nats}\"\n[database]\nurl = \"{db}\"\nmax_connections = 10\n[grpc]\nlisten = \"127.0.0.1:0\"\n\
         [metrics]\nlisten = \"127.0.0.1:{metrics_port}\"\n[telemetry]\nlog = \"error\"\n\
         [bus]\nrelay_poll_ms = 100\nretry_backoff_ms = 50\nmax_deliver = 3\n[auth]\nhs256_secret = \"{SECRET}\"\n"
    )
}

/// Starts mediation alone on `clock`; its dispatch link points at a closed port.
pub async fn spawn_app(clock: Clock) -> TestApp {
    spawn(clock, false).await
}

/// Starts a dispatch and then mediation on the same NATS and `clock`.
pub async fn spawn_with_dispatch(clock: Clock) -> TestApp {
    spawn(clock, true).await
}

async fn start_dispatch(nats: &str, clock: &Clock) -> (TestDispatch, String) {
    let db = testing::database().await.expect("dispatch database");
    let toml = format!("{}[dispatch]\nticker_interval_ms = 20\n", common(nats, &db, 0));
    let settings = civicgrid_dispatch::Settings::from_layers(&[&toml]).expect("dispatch settings");
    let app = civicgrid_dispatch::Application::build(settings, clock.clone()).await.expect("build dispatch");
    let url = format!("http://{}", app.addr());
    let shutdown = Shutdown::new();
    let handle = tokio::spawn(app.run_until_stopped(shutdown.clone()));
    let client = DispatchServiceClient::connect(url.clone()).await.expect("connect dispatch");
    (TestDispatch { client, shutdown, handle }, url)
}

async fn spawn(clock: Clock, with_dispatch: bool) -> TestApp {
    let nats = testing::nats().await.expect("nats-server");
    let js = jetstream::new(async_nats::connect(nats.url()).await.expect("nats client"));
    let (dispatch, dispatch_url) = if with_dispatch {
        let (d, url) = start_dispatch(&nats.url(), &clock).await;
        (Some(d), url)
    } else {
        (None, "http://127.0.0.1:9".to_string())
    };
    let db_url = testing::database().await.expect("database");
    let metrics_port = free_port().expect("a free port");
    let toml = format!(
        "{}[mediation]\npii_key = \"{}\"\nticker_interval_ms = 20\ndispatch_retry_ms = 50\ndispatch_url = \"{dispatch_url}\"\n",
        common(&nats.url(), &db_url, metrics_port),
        Cipher::generate_key(),
    );
    let settings = Settings::from_layers(&[&toml]).expect("settings");
    // dispatch's stream exists before mediation consumes from it, as in a deployment; intake's
    // for the reports a test publishes to dispatch.
    for stream in [&civicgrid_contracts::dispatch::STREAM, &civicgrid_contracts::intake::STREAM] {
        kit_bus::ensure_streams(&js, stream, &settings.common.nats).await.expect("streams");
    }
    let app = Application::build(settings, clock.clone()).await.expect("build mediation");
    let (addr, metrics_addr) = (app.addr(), app.metrics_addr());
    let shutdown = Shutdown::new();
    let handle = tokio::spawn(app.run_until_stopped(shutdown.clone()));
    let client = MediationServiceClient::connect(format!("http://{addr}")).await.expect("connect");
    let db = sqlx::postgres::PgPoolOptions::new().max_connections(2).connect(&db_url).await.expect("test pool");
    TestApp { client, _nats: nats, js, clock, db, metrics_addr, shutdown, handle, dispatch }
}

/// An instant in the calendar's local time (UTC+08:00): `2026-11-16 09:00`.
pub fn local(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_str(&format!("{s}:00 +0800"), "%Y-%m-%d %H:%M:%S %z")
        .unwrap_or_else(|e| panic!("time `{s}`: {e}"))
        .to_utc()
}

/// Monday 16 November 2026, 09:00 local: an ordinary working day.
pub fn monday_9am() -> DateTime<Utc> {
    local("2026-11-16 09:00")
}

impl TestApp {
    /// Moves the manual clock forward to `at`.
    pub fn set_time(&self, at: DateTime<Utc>) {
        let now = self.clock.now();
        assert!(at >= now, "the clock only moves forward: {at} is before {now}");
        self.clock.advance(at - now);
    }

    /// Stops mediation (and dispatch, if any) cleanly.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.handle.await.expect("join").expect("mediation stopped cleanly");
        if let Some(d) = self.dispatch {
            d.shutdown.cancel();
            d.handle.await.expect("join").expect("dispatch stopped cleanly");
        }
    }
}
