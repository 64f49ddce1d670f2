//! `spawn_app`: one patrol with its own nats-server and database (and, for findings, a real
//! intake on the same NATS with a database of its own), a client for it, and the manual
//! clock's helpers. The rest of the toolkit: [`auth`] tokens, [`city`] teams, places and
//! routes to put, [`bus`] positions published and facts read back.

mod auth;
mod bus;
mod city;
mod steps;

use std::net::SocketAddr;

use async_nats::jetstream;
use chrono::{DateTime, Utc};
pub use civicgrid_dev::testing::status::{expect_code, expect_invalid};
use civicgrid_dev::{
    infra::free_port,
    testing::{self, proxy::TcpProxy},
};
use civicgrid_kit::{Shutdown, clock::Clock, config::ServiceSettings, runtime::StartError, seal::Cipher};
use civicgrid_patrol::{Application, Settings};
use civicgrid_proto::v1::{intake_service_client::IntakeServiceClient, patrol_service_client::PatrolServiceClient};
use tonic::transport::Channel;

pub use self::{auth::*, bus::*, city::*, steps::*};

/// The HS256 secret every service of a test checks tokens with.
pub const SECRET: &str = "patrol-test-secret-0123456789abc";

/// An intake running beside patrol.
pub struct TestIntake {
    pub client: IntakeServiceClient<Channel>,
    pub shutdown: Shutdown,
    pub handle: tokio::task::JoinHandle<Result<(), StartError>>,
}

pub struct TestApp {
    pub client: PatrolServiceClient<Channel>,
    pub _nats: testing::TestNats,
    pub js: jetstream::Context,
    pub clock: Clock,
    /// A superuser pool on patrol's database.
    pub db: sqlx::PgPool,
    pub metrics_addr: SocketAddr,
    pub shutdown: Shutdown,
    pub handle: tokio::task::JoinHandle<Result<(), StartError>>,
    pub intake: Option<TestIntake>,
    /// The proxy between patrol and PostgreSQL, when the test cuts it.
    pub proxy: Option<TcpProxy>,
}

fn common(nats: &str, db: &str, metrics_port: u16) -> String {
    format!(
        "[nats]\nurl = \"{nats}\"\n[database]\nurl = \"{db}\"\nmax_connections = 10\n[grpc]\nlisten = \"127.0.0.1:0\"\n\
         [metrics]\nlisten = \"127.0.0.1:{metrics_port}\"\n[telemetry]\nlog = \"error\"\n\
         [bus]\nrelay_poll_ms = 100\nretry_backoff_ms = 50\nmax_deliver = 3\n[auth]\nhs256_secret = \"{SECRET}\"\n"
    )
}

/// Starts patrol alone on `clock`; its intake URL points at a closed port.
pub async fn spawn_app(clock: Clock) -> TestApp {
    spawn(clock, false, false).await
}

/// Starts an intake and then patrol on the same NATS and `clock`.
pub async fn spawn_with_intake(clock: Clock) -> TestApp {
    spawn(clock, true, false).await
}

/// Starts patrol reaching PostgreSQL through a proxy the test can cut.
pub async fn spawn_behind_proxy(clock: Clock) -> TestApp {
    spawn(clock, false, true).await
}

async fn start_intake(nats: &str, clock: &Clock) -> (TestIntake, String) {
    let db_url = testing::database().await.expect("intake database");
    let toml = format!("{}[intake]\npii_key = \"{}\"\n", common(nats, &db_url, 0), Cipher::generate_key());
    let settings = civicgrid_intake::Settings::from_layers(&[&toml]).expect("intake settings");
    let app = civicgrid_intake::Application::build(settings, clock.clone()).await.expect("build intake");
    let url = format!("http://{}", app.addr());
    let shutdown = Shutdown::new();
    let handle = tokio::spawn(app.run_until_stopped(shutdown.clone()));
    let client = IntakeServiceClient::connect(url.clone()).await.expect("connect intake");
    (TestIntake { client, shutdown, handle }, url)
}

async fn spawn(clock: Clock, with_intake: bool, proxied: bool) -> TestApp {
    let nats = testing::nats().await.expect("nats-server");
    let js = jetstream::new(async_nats::connect(nats.url()).await.expect("nats client"));
    let (intake, intake_url) = if with_intake {
        let (i, url) = start_intake(&nats.url(), &clock).await;
        (Some(i), url)
    } else {
        (None, "http://127.0.0.1:9".to_string())
    };
    let db_url = testing::database().await.expect("database");
    let (proxy, service_db_url) = if proxied {
        let (p, url) = TcpProxy::for_url(&db_url).await;
        (Some(p), url)
    } else {
        (None, db_url.clone())
    };
    let metrics_port = free_port().expect("a free port");
    let toml = format!(
        "{}[patrol]\nticker_interval_ms = 20\nintake_url = \"{intake_url}\"\noffline_after_secs = 300\n",
        common(&nats.url(), &service_db_url, metrics_port),
    );
    // Behind the proxy, a lost database is noticed in a second rather than five.
    let outage = if proxied { "[database]\nacquire_timeout_secs = 1\n" } else { "" };
    let settings = Settings::from_layers(&[&toml, outage]).expect("settings");
    let app = Application::build(settings, clock.clone()).await.expect("build patrol");
    let (addr, metrics_addr) = (app.addr(), app.metrics_addr());
    let shutdown = Shutdown::new();
    let handle = tokio::spawn(app.run_until_stopped(shutdown.clone()));
    let client = PatrolServiceClient::connect(format!("http://{addr}")).await.expect("connect");
    let db = sqlx::postgres::PgPoolOptions::new().max_connections(2).connect(&db_url).await.expect("test pool");
    TestApp { client, _nats: nats, js, clock, db, metrics_addr, shutdown, handle, intake, proxy }
}

/// An instant in local time (UTC+08:00): `2026-11-16 09:00`.
pub fn local(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_str(&format!("{s}:00 +0800"), "%Y-%m-%d %H:%M:%S %z")
        .unwrap_or_else(|e| panic!("time `{s}`: {e}"))
        .to_utc()
}

/// Monday 16 November 2026, 08:00 local.
pub fn monday_8am() -> DateTime<Utc> {
    local("2026-11-16 08:00")
}

impl TestApp {
    /// Moves the manual clock forward to `at`.
    pub fn set_time(&self, at: DateTime<Utc>) {
        let now = self.clock.now();
        assert!(at >= now, "the clock only moves forward: {at} is before {now}");
        self.clock.advance(at - now);
    }

    /// Stops patrol (and intake, if any) cleanly.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.handle.await.expect("join").expect("patrol stopped cleanly");
        if let Some(i) = self.intake {
            i.shutdown.cancel();
            i.handle.await.expect("join").expect("intake stopped cleanly");
        }
    }
}
