//! The service runtime: one lifecycle for every civicgrid service.
//!
//! A service is a declaration — a type implementing [`Service`]: its name, its migrations, its
//! settings, and [`Service::assemble`], which hands over its gRPC services, consumers and
//! background jobs as an [`Assembly`]. [`Application`] does everything else, the same way for
//! every service:
//!
//! 1. **build**: connect to PostgreSQL (confined to the service's schema) and migrate; connect to
//!    NATS and ensure the service's stream (from its contract) and the dead-letter stream; bind
//!    the gRPC and metrics listeners; assemble the service.
//! 2. **run**: serve gRPC behind the edge (readiness, authentication, metrics; `TCP_NODELAY`),
//!    with health that follows PostgreSQL and NATS and reflection of exactly what is served;
//!    serve `GET /metrics`; run the outbox relay, the consumers and the jobs.
//! 3. **drain**, on shutdown, within `runtime.drain_timeout_secs` in all: health says
//!    NOT_SERVING and the server stops taking calls and finishes those in flight → the consumers
//!    stop → the jobs stop, one after another in declared order → the outbox relay makes its
//!    last flush (so whatever the calls, consumers and jobs wrote is published) → NATS is
//!    flushed and the pool closed. What is still running at the limit is abandoned; nothing is
//!    lost by that (unacknowledged messages are redelivered, unpublished outbox rows wait for
//!    the next start).

mod assembly;
mod drain;
mod leader;

use std::{future::Future, net::SocketAddr, path::Path, time::Duration};

use async_nats::jetstream;
use sqlx::{PgPool, migrate::Migration};
use tokio::net::TcpListener;

pub use assembly::Assembly;
pub use leader::Leadership;

use crate::{
    Shutdown,
    access::{AccessError, Policy},
    auth::Authenticator,
    bus::{self, BusError, OutboxSignal},
    clock::Clock,
    config::{BusSettings, ConfigError, NatsSettings, ServiceSettings},
    db::{self, DbError},
    grpc::{
        self,
        edge::{Edge, Readiness},
        health::{Dependency, HealthLoop},
    },
    metrics::{self, Metrics, labels},
    storage::StoreError,
};

/// A civicgrid service, declared.
pub trait Service: Send + Sync + 'static {
    /// The service's name: its schema, its stream (`CIVICGRID_<NAME>`), its subject token.
    const NAME: &'static str;

    /// Its settings: the common ones plus its own section.
    type Settings: ServiceSettings;

    /// Whether only one process may run it at a time (it keeps state in memory): its replicas
    /// elect a leader and the others wait as standbys ([`Leadership`]). Most services share
    /// their work through the database and the bus, and run any number of replicas.
    const SINGLETON: bool = false;

    /// Its migrations, in order (the first is usually [`bus::TABLES_SQL`]: outbox and inbox).
    fn migrations() -> Vec<Migration>;

    /// Builds the service's parts on connected resources.
    fn assemble(ctx: &Context<Self::Settings>) -> impl Future<Output = Result<Assembly, StartError>> + Send;
}

/// What a service is assembled from: its settings and the resources the runtime opened.
#[derive(Clone)]
pub struct Context<T> {
    /// The service's settings.
    pub settings: T,
    /// The time source (a manual clock in tests).
    pub clock: Clock,
    /// A pool confined to the service's schema.
    pub pool: PgPool,
    /// The NATS client.
    pub nats: async_nats::Client,
    /// JetStream over it.
    pub js: jetstream::Context,
    /// Wakes the outbox relay; call [`OutboxSignal::wake`] after a commit that wrote outbox rows.
    pub outbox: OutboxSignal,
    /// The service's metrics registry, to add its own.
    pub metrics: Metrics,
    /// Cancelled when the service stops taking calls: long-lived streams (watch calls) end on it.
    pub calls_stopping: Shutdown,
}

/// Why a service could not start, or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Bad configuration (the message names the key).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Database set-up failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Bus set-up failed.
    #[error(transparent)]
    Bus(#[from] BusError),
    /// Storage failed while assembling.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A listener could not be bound.
    #[error("binding {what} on {addr}: {source}")]
    Bind {
        /// `grpc.listen` or `metrics.listen`.
        what: &'static str,
        /// The address.
        addr: String,
        /// The error.
        source: std::io::Error,
    },
    /// The gRPC server failed.
    #[error("grpc server: {0}")]
    Serve(String),
    /// An access table that does not match the service it guards.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// The service's own reason (rules that do not check, reference data that does not load).
    #[error(transparent)]
    Service(Box<dyn std::error::Error + Send + Sync>),
}

impl StartError {
    /// Wraps a service's own error.
    pub fn service(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        StartError::Service(Box::new(e))
    }
}

/// What a consumer is started with.
pub(crate) struct ConsumerDeps {
    pub(crate) pool: PgPool,
    pub(crate) js: jetstream::Context,
    pub(crate) bus: BusSettings,
    pub(crate) nats: NatsSettings,
    pub(crate) metrics: Metrics,
}

/// A built, not yet running service.
pub struct Application<S: Service> {
    ctx: Context<S::Settings>,
    listener: TcpListener,
    addr: SocketAddr,
    metrics_listener: TcpListener,
    metrics_addr: SocketAddr,
    assembly: Assembly,
}

async fn bind(what: &'static str, listen: &str) -> Result<(TcpListener, SocketAddr), StartError> {
    grpc::bind(listen).await.map_err(|source| StartError::Bind { what, addr: listen.to_string(), source })
}

impl<S: Service> Application<S> {
    /// Connects, migrates, ensures streams, binds and assembles. `clock` is the system clock
    /// except in tests.
    pub async fn build(settings: S::Settings, clock: Clock) -> Result<Self, StartError> {
        settings.check()?;
        let common = settings.common().clone();
        let schema = common.database.schema.clone().unwrap_or_else(|| S::NAME.to_string());
        let pool = db::connect(&common.database, &schema).await?;
        // Every service keeps the audit trail of what it publishes (crates/kit/src/audit).
        let mut migrations = S::migrations();
        migrations.extend(crate::audit::migrations());
        db::migrate(&pool, &schema, migrations).await?;
        let nats = bus::connect(&common.nats, S::NAME).await?;
        let js = jetstream::new(nats.clone());
        if let Some(stream) = civicgrid_contracts::stream_of(S::NAME) {
            bus::ensure_streams(&js, stream, &common.nats).await?;
        }
        // Certificates are read now: a bad path stops the start, naming the setting.
        grpc::tls::server_config(&common.grpc)?;
        let (listener, addr) = bind("grpc.listen", &common.grpc.listen).await?;
        let (metrics_listener, metrics_addr) = bind("metrics.listen", &common.metrics.listen).await?;
        let ctx = Context {
            settings,
            clock,
            pool,
            nats,
            js,
            outbox: OutboxSignal::default(),
            metrics: Metrics::new(S::NAME),
            calls_stopping: Shutdown::new(),
        };
        let assembly = S::assemble(&ctx).await?;
        Ok(Application { ctx, listener, addr, metrics_listener, metrics_addr, assembly })
    }

    /// The address the gRPC server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address `GET /metrics` is served on.
    pub fn metrics_addr(&self) -> SocketAddr {
        self.metrics_addr
    }

    /// The service's pool (for tests that look inside).
    pub fn pool(&self) -> &PgPool {
        &self.ctx.pool
    }

    /// Serves until `shutdown` is cancelled, then drains in order within
    /// `runtime.drain_timeout_secs`. Returns `Ok` after a stop (a gRPC server failing in the
    /// same instant is only logged), and `Err` when the gRPC server ended without one — the
    /// rest is drained in order then too.
    pub async fn run_until_stopped(self, shutdown: Shutdown) -> Result<(), StartError> {
        let Application { ctx, listener, addr, metrics_listener, metrics_addr, assembly } = self;
        let common = ctx.settings.common().clone();
        let drain_limit = Duration::from_secs(common.runtime.drain_timeout_secs.max(1));
        let calls = ctx.calls_stopping.clone();
        let stop_requested = shutdown.clone();
        {
            let calls = calls.clone();
            tokio::spawn(async move {
                shutdown.cancelled().await;
                calls.cancel();
            });
        }
        register_gauges(&ctx).await;

        // Background work, each part with its own stop token so the drain can order them.
        let relay_stop = Shutdown::new();
        let relay = bus::spawn_relay(
            ctx.pool.clone(),
            ctx.js.clone(),
            ctx.outbox.clone(),
            &common.bus,
            ctx.metrics.clone(),
            relay_stop.clone(),
        );
        let consumers_stop = Shutdown::new();
        let mut consumers = Vec::new();
        for (durable, start) in assembly.consumers {
            let deps = ConsumerDeps {
                pool: ctx.pool.clone(),
                js: ctx.js.clone(),
                bus: common.bus.clone(),
                nats: common.nats.clone(),
                metrics: ctx.metrics.clone(),
            };
            match start(deps, consumers_stop.clone()).await {
                Ok(handle) => consumers.push(handle),
                Err(e) => {
                    consumers_stop.cancel();
                    relay_stop.cancel();
                    return Err(StartError::Serve(format!("consumer {durable}: {e}")));
                }
            }
        }
        let jobs: Vec<(&'static str, Shutdown, tokio::task::JoinHandle<()>)> = assembly
            .jobs
            .into_iter()
            .map(|job| {
                let stop = Shutdown::new();
                (job.name, stop.clone(), tokio::spawn((job.run)(stop)))
            })
            .collect();

        // Health and the edge.
        let readiness = Readiness::default();
        let (reporter, health_service) = tonic_health::server::health_reporter();
        let dependencies = vec![Dependency::Postgres(ctx.pool.clone()), Dependency::Nats(ctx.nats.clone())];
        let health = HealthLoop {
            reporter,
            services: assembly.services.clone(),
            dependencies,
            readiness: readiness.clone(),
            metrics: ctx.metrics.clone(),
            every: Duration::from_millis(common.runtime.health_interval_ms.max(50)),
        };
        // Ready from the first call: the connections were just made.
        readiness.set(true);
        ctx.metrics.set_ready(true);
        let health_task = health.spawn(calls.clone());
        for (name, table) in assembly.services.iter().zip(&assembly.access) {
            if table.service != *name {
                return Err(AccessError::Mismatch {
                    service: (*name).into(),
                    problem: format!("declared with the table of {}", table.service),
                }
                .into());
            }
        }
        let edge = Edge::new(Authenticator::new(&common.auth)?, readiness, ctx.metrics.grpc().clone())
            .limit_failed_auth(common.auth.failed_per_minute)
            .admit_by(Policy::new(&assembly.access)?);
        let routes = grpc::reflection(assembly.routes.add_service(health_service), &assembly.services)
            .map_err(|e| StartError::Serve(format!("reflection: {e}")))?;

        let metrics_stop = Shutdown::new();
        let metrics_task = {
            let (m, stop) = (ctx.metrics.clone(), metrics_stop.clone());
            tokio::spawn(async move {
                if let Err(e) = metrics::serve(metrics_listener, m, stop).await {
                    tracing::error!(error = %e, "metrics server failed");
                }
            })
        };
        let tls = grpc::tls::server_config(&common.grpc)?;
        tracing::info!(service = S::NAME, grpc = %addr, metrics = %metrics_addr, tls = tls.is_some(), "serving");
        let mut grpc_task = tokio::spawn({
            let calls = calls.clone();
            async move {
                if let Err(e) = grpc::serve(listener, routes, edge, tls, calls.clone()).await {
                    tracing::error!(error = %e, "gRPC server failed");
                    calls.cancel();
                }
            }
        });
        let mut served: Result<(), StartError> = Ok(());
        tokio::select! {
            // A stop ends the server too: both may be ready at once, and then the stop is the
            // reason. (A server that fails cancels `calls` itself: that is not a stop.)
            biased;
            _ = stop_requested.cancelled() => {}
            ended = &mut grpc_task => {
                // The server ended on its own (its error is logged): stop the rest in order.
                served = Err(StartError::Serve(match ended {
                    Ok(()) => "the gRPC server stopped unexpectedly".to_string(),
                    Err(e) => e.to_string(),
                }));
                calls.cancel();
            }
        }

        // The drain: one deadline for all of it.
        let deadline = drain::deadline_in(drain_limit);
        tracing::info!(service = S::NAME, limit = ?drain_limit, "stopping: no new calls; draining");
        let mut steps = Vec::new();
        if !grpc_task.is_finished() {
            steps.push(drain::Step {
                name: "gRPC calls in flight".into(),
                stop: calls.clone(),
                tasks: vec![grpc_task],
            });
        }
        steps.push(drain::Step { name: "consumers".into(), stop: consumers_stop, tasks: consumers });
        for (name, stop, task) in jobs {
            steps.push(drain::Step { name: format!("job {name}"), stop, tasks: vec![task] });
        }
        steps.push(drain::Step { name: "outbox relay (last flush)".into(), stop: relay_stop, tasks: vec![relay] });
        steps.push(drain::Step {
            name: "metrics server".into(),
            stop: metrics_stop,
            tasks: vec![metrics_task, health_task],
        });
        let cut = drain::drain(steps, deadline).await;
        let _ = tokio::time::timeout_at(deadline, ctx.nats.flush()).await;
        let _ = tokio::time::timeout_at(deadline, ctx.pool.close()).await;
        if cut.is_empty() {
            tracing::info!(service = S::NAME, "stopped");
        } else {
            tracing::warn!(service = S::NAME, abandoned = ?cut, "stopped at the drain limit");
        }
        served
    }
}

/// Gauges every service has, read at scrape time: the outbox backlog and the pool.
async fn register_gauges<T>(ctx: &Context<T>) {
    let (pool, metrics) = (ctx.pool.clone(), ctx.metrics.clone());
    ctx.metrics
        .on_scrape(move || {
            let (pool, metrics) = (pool.clone(), metrics.clone());
            async move {
                let bus = metrics.bus();
                if let Ok((pending, age)) = bus::outbox::backlog(&pool).await {
                    bus.outbox_pending.set(pending);
                    bus.outbox_oldest_age.set(age);
                }
                let (size, idle) = (i64::from(pool.size()), pool.num_idle() as i64);
                bus.pool.get_or_create(&labels([("state", "idle")])).set(idle);
                bus.pool.get_or_create(&labels([("state", "in_use")])).set((size - idle).max(0));
            }
        })
        .await;
}

/// Loads service `S`'s settings: defaults → `config` (or `CIVICGRID_CONFIG`) → environment
/// (`CIVICGRID__…`, then `CIVICGRID_<SERVICE>__…`), checked. The caller starts telemetry once
/// per process (`crate::telemetry::init`), then [`serve`]s.
pub fn load_settings<S: Service>(config: Option<&Path>) -> Result<S::Settings, StartError> {
    Ok(S::Settings::load(S::NAME, config)?)
}

/// Serves service `S` with `settings` on the system clock until `shutdown`; a
/// [`Service::SINGLETON`] first waits for its turn to lead. Telemetry is the caller's.
pub async fn serve<S: Service>(settings: S::Settings, shutdown: Shutdown) -> Result<(), StartError> {
    if !S::SINGLETON {
        let app = Application::<S>::build(settings, Clock::System).await?;
        return app.run_until_stopped(shutdown).await;
    }
    let Some(leadership) = leader::await_turn::<S>(settings.common(), &shutdown).await? else {
        return Ok(());
    };
    let app = Application::<S>::build(settings, Clock::System).await?;
    // Losing the lock stops the service as a shutdown does, then fails the process.
    let stop = Shutdown::new();
    let watch = {
        let (stop, lost) = (stop.clone(), leadership.lost.clone());
        tokio::spawn(async move {
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = lost.cancelled() => {}
            }
            stop.cancel();
        })
    };
    let served = app.run_until_stopped(stop).await;
    watch.abort();
    if leadership.lost.is_cancelled() {
        return Err(StartError::Serve(format!("{} lost its leadership lock", S::NAME)));
    }
    served
}
