//! civicgrid notify (信息反馈): turns the facts of the other services into notifications for
//! people and systems, and delivers them.
//!
//! - [`rules`]: which facts notify whom, how urgently, in which words (a checked TOML file of
//!   rules and zh-CN/English templates);
//! - [`domain`](mod@domain): pure code — facts flattened for the rules, recipients and who may
//!   read them, quiet hours, digests and retry delays, the circuit breaker, the webhook signature;
//! - [`store`]: all SQL; [`consumers`]: the bus handlers; [`worker`]: the delivery worker;
//!   [`channels`]: webhooks and SMS; [`grpc`]: the NotifyService handlers;
//!   [`Application`]: the service.

pub mod channels;
pub mod config;
pub mod consumers;
pub mod domain;
pub mod grpc;
pub mod rules;
pub mod store;
pub mod worker;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use civicgrid_kit::{
    Shutdown,
    auth::Authenticator,
    bus::{self, ConsumerSpec, OutboxSignal},
    clock::Clock,
    config::ConfigError,
    db,
    grpc::{self as kitgrpc, Dependency},
    seal::Cipher,
};
use civicgrid_proto::v1::notify_service_server::NotifyServiceServer;
use tokio::net::TcpListener;

pub use config::Settings;

use crate::{
    channels::{
        sms::{HttpSms, LogSms, SmsGateway},
        webhook::WebhookClient,
    },
    domain::breaker::BreakerPolicy,
    worker::{Worker, WorkerPolicy},
};

/// The service name: schema, stream (`CIVICGRID_NOTIFY`) and subject token.
pub const SERVICE: &str = "notify";

/// notify's migrations, in order.
pub fn migrations() -> Vec<sqlx::migrate::Migration> {
    vec![
        db::migration(1, "bus outbox and inbox", bus::TABLES_SQL),
        db::migration(
            2,
            "notifications, deliveries, endpoints, preferences",
            include_str!("../migrations/0002_notify.sql"),
        ),
        db::migration(
            3,
            "delivery claims, waiting-delivery indexes, pending reporter facts",
            include_str!("../migrations/0003_claims_and_indexes.sql"),
        ),
    ]
}

/// Why notify could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Rules or templates that do not load or check.
    #[error(transparent)]
    Rules(#[from] rules::RulesError),
    /// The contact key is unusable.
    #[error("notify.contact_key: {0}")]
    Key(#[from] civicgrid_kit::seal::SealError),
    /// Database set-up failed.
    #[error(transparent)]
    Db(#[from] db::DbError),
    /// Bus set-up failed.
    #[error(transparent)]
    Bus(#[from] bus::BusError),
    /// An HTTP client could not be built.
    #[error("http client: {0}")]
    Http(#[from] reqwest::Error),
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

/// Loads the rules in force: the configured file, or the ones compiled in.
pub fn load_rules(settings: &Settings) -> Result<rules::Rules, Error> {
    match settings.notify.rules_file.as_deref().filter(|f| !f.is_empty()) {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Invalid {
                key: "notify.rules_file",
                reason: format!("cannot read {path}: {e}"),
            })?;
            Ok(rules::Rules::parse(&text, path)?)
        }
        None => Ok(rules::Rules::shipped()?),
    }
}

/// A built, not yet running notify.
pub struct Application {
    settings: Settings,
    clock: Clock,
    pool: sqlx::PgPool,
    client: async_nats::Client,
    listener: TcpListener,
    addr: SocketAddr,
    store: Arc<store::Store>,
    signal: OutboxSignal,
}

impl Application {
    /// Checks the rules and keys, connects, migrates and binds. `clock` is the system clock
    /// except in tests.
    pub async fn build(settings: Settings, clock: Clock) -> Result<Self, Error> {
        let rules = load_rules(&settings)?;
        let key = settings.notify.contact_key.as_deref().filter(|k| !k.is_empty()).ok_or(ConfigError::Missing {
            key: "notify.contact_key",
            hint: "set CIVICGRID__NOTIFY__CONTACT_KEY to the base64 of 32 random bytes, e.g. `openssl rand -base64 32`",
        })?;
        let cipher = Cipher::from_base64(key)?;
        let offset = settings.utc_offset()?;
        let locale = settings.notify.default_locale.clone();
        if !rules::LOCALES.contains(&locale.as_str()) {
            return Err(ConfigError::Invalid {
                key: "notify.default_locale",
                reason: format!("`{locale}`: use zh-CN or en"),
            }
            .into());
        }
        if settings.notify.sms.provider == "http" && settings.notify.sms.url.as_deref().is_none_or(str::is_empty) {
            return Err(
                ConfigError::Missing { key: "notify.sms.url", hint: "the HTTP SMS gateway needs its URL" }.into()
            );
        }
        if !matches!(settings.notify.sms.provider.as_str(), "log" | "http") {
            return Err(ConfigError::Invalid {
                key: "notify.sms.provider",
                reason: format!("`{}`: use log or http", settings.notify.sms.provider),
            }
            .into());
        }
        let schema = settings.common.database.schema.clone().unwrap_or_else(|| SERVICE.to_string());
        let pool = db::connect(&settings.common.database, &schema).await?;
        db::migrate(&pool, &schema, migrations()).await?;
        let client = bus::connect(&settings.common.nats, SERVICE).await?;
        let js = async_nats::jetstream::new(client.clone());
        bus::ensure_streams(&js, SERVICE, &settings.common.nats).await?;
        let (listener, addr) = kitgrpc::bind(&settings.common.grpc.listen)
            .await
            .map_err(|source| Error::Bind { addr: settings.common.grpc.listen.clone(), source })?;
        let signal = OutboxSignal::default();
        let max_age = (settings.notify.max_fact_age_hours > 0)
            .then(|| chrono::Duration::hours(settings.notify.max_fact_age_hours));
        let store = Arc::new(
            store::Store::new(pool.clone(), rules, cipher, offset, locale, signal.clone()).with_max_fact_age(max_age),
        );
        Ok(Application { settings, clock, pool, client, listener, addr, store, signal })
    }

    /// The address the gRPC server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The store (for tests and benchmarks that look inside).
    pub fn store(&self) -> Arc<store::Store> {
        self.store.clone()
    }

    /// Serves until `shutdown` is cancelled, then drains.
    pub async fn run_until_stopped(self, shutdown: Shutdown) -> Result<(), Error> {
        let Application { settings, clock, pool, client, listener, addr, store, signal } = self;
        let common = &settings.common;
        let n = &settings.notify;
        let js = async_nats::jetstream::new(client.clone());
        // Background work stops after the gRPC server, so the relay flushes what the last
        // calls wrote.
        let background = Shutdown::new();
        let relay = bus::spawn_relay(pool.clone(), js.clone(), signal, &common.bus, background.clone());
        let mut consumers = Vec::new();
        for (source, durable, subjects) in [
            ("intake", consumers::INTAKE_CONSUMER, consumers::intake_subjects()),
            ("dispatch", consumers::DISPATCH_CONSUMER, consumers::dispatch_subjects()),
        ] {
            consumers.push(
                bus::run_consumer(
                    pool.clone(),
                    js.clone(),
                    ConsumerSpec {
                        service: SERVICE.into(),
                        stream: bus::stream_name(source),
                        durable: durable.into(),
                        filter_subjects: subjects,
                    },
                    consumers::FactHandler { store: store.clone(), clock: clock.clone() },
                    &common.bus,
                    background.clone(),
                )
                .await?,
            );
        }
        let sms: Arc<dyn SmsGateway> = match n.sms.provider.as_str() {
            "http" => Arc::new(HttpSms::new(
                n.sms.url.clone().unwrap_or_default(),
                // An empty value (an unset key in a Secret) means no header, not an empty one.
                n.sms.authorization.clone().filter(|a| !a.trim().is_empty()),
                Duration::from_millis(n.sms.timeout_ms.max(1)),
            )?),
            _ => Arc::new(LogSms),
        };
        let worker = Worker {
            store: store.clone(),
            clock: clock.clone(),
            webhooks: WebhookClient::new(Duration::from_millis(n.webhook_timeout_ms.max(1)))?,
            sms,
            policy: WorkerPolicy {
                batch: n.worker_batch.max(1),
                concurrency: n.worker_concurrency.max(1),
                lease: chrono::Duration::seconds(n.claim_lease_secs.max(1)),
                max_attempts: n.max_attempts.max(1),
                retry_initial: Duration::from_millis(n.retry_initial_ms.max(1)),
                retry_max: Duration::from_secs(n.retry_max_secs.max(1)),
                breaker: BreakerPolicy {
                    threshold: n.breaker_failures.max(1),
                    open_for: chrono::Duration::seconds(n.breaker_open_secs.max(1)),
                },
                interval: Duration::from_millis(n.worker_interval_ms.max(10)),
            },
        }
        .spawn(background.clone());

        let auth = Authenticator::new(&common.auth);
        let (reporter, health) = tonic_health::server::health_reporter();
        kitgrpc::spawn_readiness(
            reporter,
            vec!["civicgrid.v1.NotifyService"],
            vec![Dependency::Postgres(pool.clone()), Dependency::Nats(client.clone())],
            Duration::from_secs(2),
            shutdown.clone(),
        );
        let api = grpc::NotifyApi::new(store, clock, Duration::from_millis(n.watch_poll_ms.max(10)), shutdown.clone())
            .allow_private_webhooks(n.allow_private_webhooks);
        let routes = kitgrpc::with_reflection(tonic::service::Routes::new(health))
            .map_err(|e| Error::Serve(e.to_string()))?
            .add_service(NotifyServiceServer::with_interceptor(api, auth));
        tracing::info!(%addr, "notify serving gRPC");
        let served = kitgrpc::serve(listener, routes, shutdown.clone()).await;
        tracing::info!("gRPC stopped; finishing deliveries in flight and flushing the outbox");
        background.cancel();
        let _ = worker.await;
        for c in consumers {
            let _ = c.await;
        }
        let _ = relay.await;
        let _ = client.flush().await;
        pool.close().await;
        served.map_err(|e| Error::Serve(e.to_string()))
    }
}
