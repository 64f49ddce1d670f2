//! `spawn_app`: one intake with its own nats-server and database, and a client for it.

use std::time::Duration;

use async_nats::jetstream;
use civicgrid_dev::testing;
pub use civicgrid_dev::testing::eventually;
use civicgrid_intake::{Application, Settings, pii::PiiCipher};
use civicgrid_kit::{Shutdown, bus::Incoming, clock::Clock, config::ServiceSettings, runtime::StartError};
use civicgrid_proto::v1::{
    EventSource, GeoPoint, Location, Reporter, SubmitEventRequest, intake_service_client::IntakeServiceClient,
};
use tonic::transport::Channel;

pub struct TestApp {
    pub client: IntakeServiceClient<Channel>,
    pub nats: testing::TestNats,
    pub js: jetstream::Context,
    /// Superuser URL of this test's database, to look inside intake's schema.
    pub db_url: String,
    pub addr: std::net::SocketAddr,
    pub shutdown: Shutdown,
    /// Where `GET /metrics` is served.
    pub metrics_addr: std::net::SocketAddr,
    pub handle: tokio::task::JoinHandle<Result<(), StartError>>,
    /// The settings it was built with.
    pub settings: Settings,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with("").await
}

/// Starts intake with extra TOML settings layered over the test defaults.
pub async fn spawn_app_with(extra: &str) -> TestApp {
    let nats = testing::nats().await.expect("nats-server");
    let db_url = testing::database().await.expect("database");
    let base = format!(
        "[nats]\nurl = \"{}\"\n[database]\nurl = \"{db_url}\"\nmax_connections = 30\n[grpc]\nlisten = \"127.0.0.1:0\"\n[metrics]\nlisten = \"127.0.0.1:0\"\n\
         [telemetry]\nlog = \"error\"\n[bus]\nrelay_poll_ms = 100\nretry_backoff_ms = 50\nmax_deliver = 3\n[intake]\npii_key = \"{}\"\n",
        nats.url(),
        PiiCipher::generate_key()
    );
    let settings = Settings::from_layers(&[&base, extra]).expect("settings");
    // Spans (and so trace context on the bus) exist only with the subscriber installed.
    static TELEMETRY: std::sync::OnceLock<civicgrid_kit::telemetry::TelemetryGuard> = std::sync::OnceLock::new();
    TELEMETRY.get_or_init(|| civicgrid_kit::telemetry::init("intake-test", &settings.common.telemetry));
    let app = Application::build(settings.clone(), Clock::System).await.expect("build intake");
    let (addr, metrics_addr) = (app.addr(), app.metrics_addr());
    let shutdown = Shutdown::new();
    let handle = tokio::spawn(app.run_until_stopped(shutdown.clone()));
    let client = IntakeServiceClient::connect(format!("http://{addr}")).await.expect("connect");
    let js = jetstream::new(async_nats::connect(nats.url()).await.expect("nats client"));
    TestApp { client, nats, js, db_url, addr, metrics_addr, shutdown, handle, settings }
}

impl TestApp {
    /// A pool on intake's schema, for assertions about what is stored.
    pub async fn db(&self) -> sqlx::PgPool {
        let settings = civicgrid_kit::config::DatabaseSettings {
            url: Some(self.db_url.clone().into()),
            schema: None,
            max_connections: 2,
            acquire_timeout_secs: 10,
        };
        civicgrid_kit::db::connect(&settings, "intake").await.expect("pool")
    }

    /// Every message on a stream so far.
    pub async fn messages(&self, stream: &str) -> Vec<Incoming> {
        testing::stream::messages(&self.js, stream).await
    }

    /// Waits until `stream` holds at least `n` messages and returns them all.
    pub async fn wait_messages(&self, stream: &str, n: usize) -> Vec<Incoming> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let count = match self.js.get_stream(stream).await {
                Ok(mut s) => s.info().await.map(|i| i.state.messages as usize).unwrap_or(0),
                Err(_) => 0,
            };
            if count >= n {
                return self.messages(stream).await;
            }
            assert!(tokio::time::Instant::now() < deadline, "stream {stream} has {count} of {n} messages");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        self.handle.await.expect("join").expect("intake stopped cleanly");
    }
}

/// A valid citizen report in grid 411602001001003 at (lat, lng).
pub fn report(request_id: &str, item: &str, lat: f64, lng: f64) -> SubmitEventRequest {
    SubmitEventRequest {
        request_id: request_id.to_string(),
        source: EventSource::CitizenApp as i32,
        item_code: item.to_string(),
        location: Some(Location {
            point: Some(GeoPoint { latitude: lat, longitude: lng }),
            grid_code: "411602001001003".into(),
            region_code: String::new(),
            address: "驿城区解放路 12 号".into(),
            region: None,
        }),
        description: "井盖缺失，夜间行人易跌落".into(),
        evidence_urls: vec!["https://img.example.org/manhole.jpg".into()],
        occurred_at: None,
        reporter: Some(Reporter {
            name: "张三".into(), phone: "13812345678".into(), account_id: "app-user-1".into()
        }),
    }
}
