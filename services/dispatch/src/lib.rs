//! civicgrid dispatch (分流交办, 督办, 考核): routes reported events to departments, runs each
//! task's lifecycle, keeps its stage clocks on a business calendar, raises four-colour warnings
//! and escalations, and scores departments, regions and grid workers.
//!
//! - [`domain`](mod@domain): pure code — the business calendar and time types, stage clocks,
//!   warning colours and escalation, the task state machine with its permission checks,
//!   routing, and the assessment formulas;
//! - [`reference`](mod@reference): the reference data dispatch owns — item catalog, regions
//!   and grids, departments, calendar — loaded from versioned TOML files and checked, with an
//!   example dataset for the demo city 周口市 compiled in;
//! - [`store`]: all SQL; [`tasks`]: a stored task and what derives from it; [`grpc`]: the
//!   DispatchService handlers; [`consumers`]: intake's events; [`Application`]: the service.

pub mod config;
pub mod consumers;
pub mod domain;
pub mod grpc;
pub mod reference;
pub mod store;
pub mod tasks;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use civicgrid_kit::{
    Shutdown,
    auth::Authenticator,
    bus::{self, ConsumerSpec, OutboxSignal},
    clock::Clock,
    db,
    grpc::{self as kitgrpc, Dependency},
};
use civicgrid_proto::v1::dispatch_service_server::DispatchServiceServer;
use tokio::net::TcpListener;

pub use config::Settings;

/// The service name: schema, stream (`CIVICGRID_DISPATCH`) and subject token.
pub const SERVICE: &str = "dispatch";

/// dispatch's migrations, in order.
pub fn migrations() -> Vec<sqlx::migrate::Migration> {
    vec![
        db::migration(1, "bus outbox and inbox", bus::TABLES_SQL),
        db::migration(2, "dispatch tasks", include_str!("../migrations/0002_dispatch.sql")),
        db::migration(3, "reference sets", include_str!("../migrations/0003_reference_sets.sql")),
        db::migration(4, "change-feed snapshots", include_str!("../migrations/0004_change_snapshots.sql")),
    ]
}

/// Why dispatch could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] civicgrid_kit::config::ConfigError),
    /// Reference data that does not load or check.
    #[error(transparent)]
    Reference(#[from] reference::ReferenceError),
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

/// A built, not yet running dispatch.
pub struct Application {
    settings: Settings,
    clock: Clock,
    pool: sqlx::PgPool,
    client: async_nats::Client,
    listener: TcpListener,
    addr: SocketAddr,
    refdata: Arc<reference::ReferenceData>,
    reference_seq: i64,
}

impl Application {
    /// Loads the reference data, connects, migrates and binds. `clock` is the system clock
    /// except in tests.
    pub async fn build(settings: Settings, clock: Clock) -> Result<Self, Error> {
        let schema = settings.common.database.schema.clone().unwrap_or_else(|| SERVICE.to_string());
        let pool = db::connect(&settings.common.database, &schema).await?;
        db::migrate(&pool, &schema, migrations()).await?;
        // The newest stored set is in force; the configured files only seed the first one.
        let (seq, refdata) = match store::latest_reference_set(&pool).await.map_err(|e| Error::Serve(e.to_string()))? {
            Some((seq, files)) => (seq, files.parse()?),
            None => {
                let files = match settings.dispatch.reference_dir.as_deref().filter(|d| !d.is_empty()) {
                    Some(dir) => reference::ReferenceFiles::read_dir(std::path::Path::new(dir))?,
                    None => reference::ReferenceFiles::shipped(),
                };
                let refdata = files.parse()?;
                let seq = store::insert_reference_set(&pool, &files, &refdata.versions(), "configuration")
                    .await
                    .map_err(|e| Error::Serve(e.to_string()))?;
                (seq, refdata)
            }
        };
        let v = refdata.versions();
        tracing::info!(set = seq, catalog = %v.catalog, regions = %v.regions, departments = %v.departments, calendar = %v.calendar, "reference data in force");
        let client = bus::connect(&settings.common.nats, SERVICE).await?;
        let js = async_nats::jetstream::new(client.clone());
        bus::ensure_streams(&js, SERVICE, &settings.common.nats).await?;
        let (listener, addr) = kitgrpc::bind(&settings.common.grpc.listen)
            .await
            .map_err(|source| Error::Bind { addr: settings.common.grpc.listen.clone(), source })?;
        Ok(Application {
            settings,
            clock,
            pool,
            client,
            listener,
            addr,
            refdata: Arc::new(refdata),
            reference_seq: seq,
        })
    }

    /// The address the gRPC server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `shutdown` is cancelled, then drains.
    pub async fn run_until_stopped(self, shutdown: Shutdown) -> Result<(), Error> {
        let Application { settings, clock, pool, client, listener, addr, refdata, reference_seq } = self;
        let common = &settings.common;
        let js = async_nats::jetstream::new(client.clone());
        let signal = OutboxSignal::default();
        let store = Arc::new(store::Store::new(
            pool.clone(),
            refdata,
            reference_seq,
            signal.clone(),
            settings.dispatch.escalation_grace,
        ));
        let background = Shutdown::new();
        let relay = bus::spawn_relay(pool.clone(), js.clone(), signal, &common.bus, background.clone());
        let consumer = bus::run_consumer(
            pool.clone(),
            js.clone(),
            ConsumerSpec {
                service: SERVICE.into(),
                stream: bus::stream_name("intake"),
                durable: consumers::INTAKE_CONSUMER.into(),
                filter_subjects: consumers::intake_subjects(),
            },
            consumers::IntakeHandler { store: store.clone(), clock: clock.clone() },
            &common.bus,
            background.clone(),
        )
        .await?;
        let ticker = spawn_ticker(
            store.clone(),
            clock.clone(),
            Duration::from_millis(settings.dispatch.ticker_interval_ms.max(10)),
            settings.dispatch.ticker_batch.max(1),
            background.clone(),
        );

        let auth = Authenticator::new(&common.auth);
        let (reporter, health) = tonic_health::server::health_reporter();
        kitgrpc::spawn_readiness(
            reporter,
            vec!["civicgrid.v1.DispatchService"],
            vec![Dependency::Postgres(pool.clone()), Dependency::Nats(client.clone())],
            Duration::from_secs(2),
            shutdown.clone(),
        );
        let api = grpc::DispatchApi::new(
            store,
            clock,
            Duration::from_millis(settings.dispatch.watch_poll_ms.max(10)),
            shutdown.clone(),
        );
        let routes = kitgrpc::with_reflection(tonic::service::Routes::new(health))
            .map_err(|e| Error::Serve(e.to_string()))?
            .add_service(DispatchServiceServer::with_interceptor(api, auth));
        tracing::info!(%addr, "dispatch serving gRPC");
        let served = kitgrpc::serve(listener, routes, shutdown.clone()).await;
        tracing::info!("gRPC stopped; flushing the outbox");
        background.cancel();
        let _ = ticker.await;
        let _ = consumer.await;
        let _ = relay.await;
        let _ = client.flush().await;
        pool.close().await;
        served.map_err(|e| Error::Serve(e.to_string()))
    }
}

/// The warning ticker: every `every`, handles the tasks whose next colour change is due.
/// Drains in rounds while rounds come back full.
fn spawn_ticker(
    store: Arc<store::Store>,
    clock: Clock,
    every: Duration,
    batch: i64,
    stop: Shutdown,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut last_reference_check = tokio::time::Instant::now();
        loop {
            // A set loaded through another replica comes into force here within seconds.
            if last_reference_check.elapsed() > Duration::from_secs(5) {
                last_reference_check = tokio::time::Instant::now();
                if let Err(e) = store.reload_reference_if_newer().await {
                    tracing::warn!(error = %e, "checking for newer reference data failed");
                }
            }
            loop {
                match store.tick(clock.now(), batch).await {
                    Ok(n) if n as i64 >= batch => continue,
                    Ok(_) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "ticker round failed");
                        break;
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.cancelled() => return,
            }
        }
    })
}
