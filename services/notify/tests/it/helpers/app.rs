//! One notify under test: its own nats-server and database, test settings, starting,
//! stopping and crashing it, the test region and a manual clock.

use std::time::Duration;

use async_nats::jetstream;
use chrono::{DateTime, Utc};
use civicgrid_dev::testing;
use civicgrid_kit::{Shutdown, bus, clock::Clock, config::ServiceSettings, runtime::StartError, seal::Cipher};
use civicgrid_notify::{Application, Settings};
use civicgrid_proto::v1::{RegionPath, notify_service_client::NotifyServiceClient};
use tonic::transport::Channel;

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
/// The test village's mediation committee and one of its mediators.
pub const ORGANISATION: &str = "411602001001-vc";
pub const MEDIATOR: &str = "med-411602001001-01";
/// The test county's professional patrol team, the police bureau that runs it, and its two
/// supervisors' accounts.
pub const PATROL_TEAM: &str = "411602-zx-1";
pub const PATROL_UNIT: &str = "411602-gongan";
pub const SUPERVISORS: [&str; 2] = ["sup-411602-01", "sup-411602-02"];

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
    /// Where the running notify serves `GET /metrics`.
    pub metrics: std::net::SocketAddr,
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
    spawn_app_on(clock, &testing::database().await.expect("database"), extra).await
}

/// Starts notify on the database at `db_url` (one a test prepared: an older schema, say).
pub async fn spawn_app_on(clock: Clock, db_url: &str, extra: &str) -> TestApp {
    let nats = testing::nats().await.expect("nats-server");
    let settings = settings_for(&nats.url(), db_url, extra);
    let js = jetstream::new(async_nats::connect(nats.url()).await.expect("nats client"));
    // The producers' streams exist before notify consumes them, as in a deployment.
    for producer in [
        civicgrid_contracts::intake::STREAM,
        civicgrid_contracts::dispatch::STREAM,
        civicgrid_contracts::mediation::STREAM,
        civicgrid_contracts::patrol::STREAM,
    ] {
        bus::ensure_streams(&js, &producer, &settings.common.nats).await.expect("producer stream");
    }
    let mut app = TestApp {
        client: placeholder_client(),
        nats,
        js,
        clock,
        settings,
        shutdown: Shutdown::new(),
        metrics: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
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
            let _ = built.send((app.addr(), app.metrics_addr()));
            app.run_until_stopped(shutdown).await
        }));
        self.runtime = Some(runtime);
        let Ok((addr, metrics)) = addr.await else {
            let h = self.handle.take().expect("handle");
            panic!("build notify: {:?}", h.await.expect("join").err());
        };
        self.metrics = metrics;
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

    /// Moves the manual clock forward to `to` (not back).
    pub fn advance_to(&self, to: DateTime<Utc>) {
        let by = to - self.clock.now();
        assert!(by >= chrono::Duration::zero(), "the clock does not go back to {to}");
        self.clock.advance(by);
    }
}
