//! intake built and run in-process as its integration tests do, driven over real gRPC:
//! [`Running`] starts and watches it, [`wait_published`] waits for its messages on the bus;
//! the loads are in `closed` (workers one call after another) and `open` (a fixed rate).

mod closed;
mod open;
pub mod report;

use std::{
    net::SocketAddr,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use anyhow::{Context, Result};
use async_nats::jetstream;
use civicgrid_intake::{Application, Settings, pii::PiiCipher};
use civicgrid_kit::{Shutdown, clock::Clock, config::DatabaseSettings, telemetry::TelemetryGuard};
use civicgrid_proto::v1::intake_service_client::IntakeServiceClient;
use sqlx::PgPool;
use tokio::task::JoinHandle;
use tonic::transport::{Channel, Endpoint};

use crate::env::Env;

pub use closed::closed_loop;
pub use open::{OpenLoop, open_loop};

/// A running intake and what the bench needs to watch it.
pub struct Running {
    /// Its gRPC address.
    pub addr: SocketAddr,
    /// The settings it was built with.
    pub settings: Settings,
    /// gRPC channels to it (one per 8 workers).
    pub channels: Vec<Channel>,
    /// A pool on intake's schema (outbox backlog).
    pool: PgPool,
    /// JetStream, through the bench's own connection.
    js: jetstream::Context,
    /// The bench's own NATS connection (observes the bus).
    observer: async_nats::Client,
    /// `CIVICGRID_INTAKE`.
    pub stream: String,
    shutdown: Shutdown,
    handle: JoinHandle<Result<(), civicgrid_kit::runtime::StartError>>,
    _telemetry: TelemetryGuard,
}

/// Messages in a stream and the time its last message was stored (Unix nanoseconds).
async fn stream_state(js: &jetstream::Context, name: &str) -> Result<(u64, i128)> {
    let mut s = js.get_stream(name).await.map_err(|e| anyhow::anyhow!("stream {name}: {e}"))?;
    let info = s.info().await.map_err(|e| anyhow::anyhow!("stream {name} info: {e}"))?;
    Ok((info.state.messages, info.state.last_timestamp.unix_timestamp_nanos()))
}

fn unix_nanos_now() -> i128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i128).unwrap_or(0)
}

/// Group-commit settings that differ from intake's defaults.
#[derive(Debug, Clone, Copy, Default)]
pub struct Batching {
    /// `intake.batch_max`.
    pub max: Option<u32>,
    /// `intake.batch_writers`.
    pub writers: Option<u32>,
}

impl Running {
    /// Builds intake with the settings its tests use (defaults + URLs, a free port, a fresh
    /// PII key, `warn` logs) and `batching`, starts it, and opens `channels` gRPC channels to it.
    pub async fn start(env: &Env, channels: usize, batching: Batching) -> Result<Running> {
        let mut toml = format!(
            "[nats]\nurl = \"{}\"\n[database]\nurl = \"{}\"\n[grpc]\nlisten = \"127.0.0.1:0\"\n[telemetry]\nlog = \"warn\"\n\
             [intake]\npii_key = \"{}\"\n",
            env.nats_url,
            env.db_url,
            PiiCipher::generate_key()
        );
        if let Some(max) = batching.max {
            toml.push_str(&format!("batch_max = {max}\n"));
        }
        if let Some(writers) = batching.writers {
            toml.push_str(&format!("batch_writers = {writers}\n"));
        }
        let settings: Settings =
            <Settings as civicgrid_kit::config::ServiceSettings>::from_layers(&[&toml]).context("intake settings")?;
        let telemetry = civicgrid_kit::telemetry::init("intake-bench", &settings.common.telemetry);
        let app = Application::build(settings.clone(), Clock::System).await.context("building intake")?;
        let addr = app.addr();
        let shutdown = Shutdown::new();
        let handle = tokio::spawn(app.run_until_stopped(shutdown.clone()));
        let mut chans = Vec::with_capacity(channels);
        for _ in 0..channels.max(1) {
            let channel = Endpoint::from_shared(format!("http://{addr}"))?
                .tcp_nodelay(true)
                .connect()
                .await
                .context("connecting to intake over gRPC")?;
            chans.push(channel);
        }
        let pool = civicgrid_kit::db::connect(
            &DatabaseSettings {
                url: Some(env.db_url.clone().into()),
                schema: None,
                max_connections: 2,
                acquire_timeout_secs: 10,
            },
            civicgrid_intake::SERVICE,
        )
        .await
        .context("pool on intake's schema")?;
        let observer = async_nats::connect(&env.nats_url).await.context("connecting to NATS")?;
        let js = jetstream::new(observer.clone());
        let stream = civicgrid_kit::bus::stream_name(civicgrid_intake::SERVICE);
        Ok(Running {
            addr,
            settings,
            channels: chans,
            pool,
            js,
            observer,
            stream,
            shutdown,
            handle,
            _telemetry: telemetry,
        })
    }

    fn client(&self, worker: usize) -> IntakeServiceClient<Channel> {
        IntakeServiceClient::new(self.channels[(worker / 8) % self.channels.len()].clone())
    }

    /// Messages in `CIVICGRID_INTAKE` now.
    pub async fn stream_messages(&self) -> Result<u64> {
        Ok(stream_state(&self.js, &self.stream).await?.0)
    }

    /// Average stored size of intake's messages, in bytes.
    pub async fn average_message_size(&self) -> Option<f64> {
        let mut s = self.js.get_stream(&self.stream).await.ok()?;
        let info = s.info().await.ok()?;
        (info.state.messages > 0).then(|| info.state.bytes as f64 / info.state.messages as f64)
    }

    /// Rows in intake's `events` table.
    pub async fn events(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(&self.pool).await?)
    }

    /// Outbox rows not yet published.
    async fn pending(&self) -> Result<i64> {
        Ok(civicgrid_kit::bus::outbox::pending_count(&self.pool).await?)
    }

    /// Stops intake (drains in-flight calls and the outbox) and waits for it.
    pub async fn stop(self) -> Result<()> {
        self.shutdown.cancel();
        match tokio::time::timeout(Duration::from_secs(60), self.handle).await {
            Ok(joined) => joined.context("intake task panicked")?.context("intake stopped with an error")?,
            Err(_) => anyhow::bail!("intake did not stop within 60 s"),
        }
        self.pool.close().await;
        Ok(())
    }
}

/// When the last accepted submission reached the bus.
pub struct Drain {
    /// Messages intake published since the phase started.
    pub published: u64,
    /// Seconds from the start of the phase until the last message was stored in the stream.
    pub last_publish_secs: f64,
    /// Seconds from the end of the submit window until then.
    pub after_window_secs: f64,
    /// Outbox rows still unpublished (0 unless timed out).
    pub pending: i64,
    /// True when the messages did not all arrive in time.
    pub timed_out: bool,
}

/// Waits until `CIVICGRID_INTAKE` holds `expected` more messages than at `stream_base` and the
/// outbox has nothing pending, polling every 5 ms. The time of the last publish is the stream's
/// `last_ts` (the server's clock, this machine's), or the moment the count was seen when that
/// looks inconsistent (a server on another host).
pub async fn wait_published(
    app: &Running,
    stream_base: u64,
    expected: u64,
    started: Instant,
    started_unix: i128,
    window_end: Instant,
    timeout: Duration,
) -> Result<Drain> {
    let give_up = Instant::now() + timeout;
    loop {
        let (messages, last_ts) = stream_state(&app.js, &app.stream).await?;
        let published = messages.saturating_sub(stream_base);
        if published >= expected {
            let seen = Instant::now();
            let pending = app.pending().await?;
            if pending == 0 || Instant::now() > give_up {
                let observed = seen.duration_since(started).as_secs_f64();
                let from_stream = (last_ts - started_unix) as f64 / 1e9;
                let last_publish_secs =
                    if from_stream > 0.0 && from_stream <= observed + 0.05 { from_stream } else { observed };
                let window_secs = window_end.duration_since(started).as_secs_f64();
                return Ok(Drain {
                    published,
                    last_publish_secs,
                    after_window_secs: (last_publish_secs - window_secs).max(0.0),
                    pending,
                    timed_out: pending != 0,
                });
            }
        }
        if Instant::now() > give_up {
            let pending = app.pending().await.unwrap_or(-1);
            let observed = started.elapsed().as_secs_f64();
            return Ok(Drain {
                published,
                last_publish_secs: observed,
                after_window_secs: window_end.elapsed().as_secs_f64(),
                pending,
                timed_out: true,
            });
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
