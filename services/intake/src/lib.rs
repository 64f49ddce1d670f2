//! civicgrid intake (一门受理): the single door for every report.
//!
//! [`Application::build`] connects to PostgreSQL and NATS, migrates intake's schema, and binds
//! the gRPC port; [`Application::run_until_stopped`] serves `civicgrid.v1.IntakeService` (with
//! health and reflection), runs the outbox relay and the task-status consumer, and on shutdown
//! stops taking calls, finishes what is in flight and flushes the outbox.

pub mod batcher;
pub mod config;
pub mod consumers;
pub mod domain;
pub mod grpc;
pub mod pii;
pub mod store;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use civicgrid_kit::{
    Shutdown,
    auth::Authenticator,
    bus::{self, ConsumerSpec, OutboxSignal},
    clock::Clock,
    config::ConfigError,
    db,
    grpc::{self as kitgrpc, Dependency},
};
use civicgrid_proto::v1::intake_service_server::IntakeServiceServer;
use tokio::net::TcpListener;

pub use config::Settings;

/// The service name: schema, stream (`CIVICGRID_INTAKE`) and subject token.
pub const SERVICE: &str = "intake";

/// intake's migrations, in order.
pub fn migrations() -> Vec<sqlx::migrate::Migration> {
    vec![
        db::migration(1, "bus outbox and inbox", bus::TABLES_SQL),
        db::migration(2, "intake events", include_str!("../migrations/0002_intake.sql")),
        db::migration(3, "outcome ratings", include_str!("../migrations/0003_ratings.sql")),
        db::migration(4, "indexed duplicate search", include_str!("../migrations/0004_duplicate_search.sql")),
        db::migration(
            5,
            "longitude in the duplicate index",
            include_str!("../migrations/0005_duplicate_search_lng.sql"),
        ),
    ]
}

/// Why intake could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The PII key is unusable.
    #[error("intake.pii_key: {0}")]
    Pii(#[from] pii::PiiError),
    /// Database set-up failed.
    #[error(transparent)]
    Db(#[from] db::DbError),
    /// Bus set-up failed.
    #[error(transparent)]
    Bus(#[from] bus::BusError),
    /// The listener could not be bound.
    #[error("binding {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The error.
        source: std::io::Error,
    },
    /// The gRPC server failed.
    #[error("grpc server: {0}")]
    Serve(String),
}

/// A built, not yet running intake.
pub struct Application {
    settings: Settings,
    clock: Clock,
    pool: sqlx::PgPool,
    client: async_nats::Client,
    listener: TcpListener,
    addr: SocketAddr,
    cipher: pii::PiiCipher,
}

impl Application {
    /// Connects, migrates and binds. `clock` is the system clock except in tests.
    pub async fn build(settings: Settings, clock: Clock) -> Result<Self, Error> {
        let key = settings.intake.pii_key.as_deref().filter(|k| !k.is_empty()).ok_or(ConfigError::Missing {
            key: "intake.pii_key",
            hint: "set CIVICGRID__INTAKE__PII_KEY to the base64 of 32 random bytes, e.g. `openssl rand -base64 32`",
        })?;
        let cipher = pii::PiiCipher::from_base64(key)?;
        settings.intake.offset()?;
        let schema = settings.common.database.schema.clone().unwrap_or_else(|| SERVICE.to_string());
        let pool = db::connect(&settings.common.database, &schema).await?;
        db::migrate(&pool, &schema, migrations()).await?;
        let client = bus::connect(&settings.common.nats, SERVICE).await?;
        let js = async_nats::jetstream::new(client.clone());
        bus::ensure_streams(&js, SERVICE, &settings.common.nats).await?;
        let (listener, addr) = kitgrpc::bind(&settings.common.grpc.listen)
            .await
            .map_err(|source| Error::Bind { addr: settings.common.grpc.listen.clone(), source })?;
        Ok(Application { settings, clock, pool, client, listener, addr, cipher })
    }

    /// The address the gRPC server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `shutdown` is cancelled, then drains.
    pub async fn run_until_stopped(self, shutdown: Shutdown) -> Result<(), Error> {
        let Application { settings, clock, pool, client, listener, addr, cipher } = self;
        let common = &settings.common;
        let js = async_nats::jetstream::new(client.clone());
        let signal = OutboxSignal::default();
        // Background work stops after the gRPC server, so the relay flushes what the last
        // calls wrote.
        let background = Shutdown::new();
        let relay = bus::spawn_relay(pool.clone(), js.clone(), signal.clone(), &common.bus, background.clone());
        let consumer = bus::run_consumer(
            pool.clone(),
            js.clone(),
            ConsumerSpec {
                service: SERVICE.into(),
                stream: bus::stream_name("dispatch"),
                durable: consumers::TASK_STATUS_CONSUMER.into(),
                filter_subjects: consumers::task_status_subjects(),
            },
            consumers::TaskStatusHandler,
            &common.bus,
            background.clone(),
        )
        .await?;

        let offset = settings.intake.offset()?;
        let store = Arc::new(store::Store::new(
            pool.clone(),
            cipher,
            signal,
            offset,
            settings.intake.duplicate_radius_m,
            chrono::Duration::hours(settings.intake.duplicate_window_hours),
        ));
        let housekeeping = spawn_housekeeping(
            store.clone(),
            clock.clone(),
            chrono::Duration::days(settings.intake.idempotency_retention_days.max(1)),
            background.clone(),
        );
        // Submissions are written in batches until the gRPC server has answered its last call.
        let writers_stop = Shutdown::new();
        let (submitter, writers) = batcher::spawn(store.clone(), settings.intake.batch(), writers_stop.clone());
        let auth = Authenticator::new(&common.auth);
        let (reporter, health) = tonic_health::server::health_reporter();
        kitgrpc::spawn_readiness(
            reporter,
            vec!["civicgrid.v1.IntakeService"],
            vec![Dependency::Postgres(pool.clone()), Dependency::Nats(client.clone())],
            Duration::from_secs(2),
            shutdown.clone(),
        );
        let routes = kitgrpc::with_reflection(tonic::service::Routes::new(health))
            .map_err(|e| Error::Serve(e.to_string()))?
            .add_service(IntakeServiceServer::with_interceptor(grpc::IntakeApi::new(store, submitter, clock), auth));
        tracing::info!(%addr, "intake serving gRPC");
        let served = kitgrpc::serve(listener, routes, shutdown.clone()).await;
        tracing::info!("gRPC stopped; flushing the outbox");
        writers_stop.cancel();
        let _ = writers.await;
        background.cancel();
        let _ = relay.await;
        let _ = consumer.await;
        let _ = housekeeping.await;
        let _ = client.flush().await;
        pool.close().await;
        served.map_err(|e| Error::Serve(e.to_string()))
    }
}

/// Runs [`store::Store::housekeeping`] at start and every ten minutes until `stop`.
fn spawn_housekeeping(
    store: Arc<store::Store>,
    clock: Clock,
    keep_answers: chrono::Duration,
    stop: Shutdown,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match store.housekeeping(clock.now(), keep_answers).await {
                Ok((answers, sequences)) if answers + sequences as u64 > 0 => {
                    tracing::info!(
                        answers,
                        sequences,
                        "housekeeping: forgot old answers, dropped old tracking sequences"
                    )
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "housekeeping failed"),
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(600)) => {}
                _ = stop.cancelled() => return,
            }
        }
    })
}
