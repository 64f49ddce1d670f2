//! civicgrid notify (信息反馈): turns the facts of the other services into notifications for
//! people and systems, and delivers them.
//!
//! [`Notify`] declares the service to the kit's runtime. Inside:
//! - [`rules`]: which facts notify whom, how urgently, in which words (a checked TOML file of
//!   rules and zh-CN/English templates);
//! - [`domain`](mod@domain): pure code — facts flattened for the rules, recipients and who may
//!   read them, quiet hours, digests and retry delays, the circuit breaker, the webhook signature;
//! - [`store`]: all SQL, one module per aggregate; [`use_cases`]: what spans aggregates
//!   (recording facts, the delivery queue, digests, acknowledgement, removing an endpoint);
//! - [`consumers`]: the bus handlers; [`worker`]: the delivery worker, and [`handoff`], how
//!   deliveries due at once reach it without a claim; [`channels`]: webhooks and SMS;
//!   [`grpc`]: the NotifyService handlers; [`metrics`].

pub mod access;
pub mod channels;
pub mod config;
pub mod consumers;
pub mod domain;
pub mod grpc;
pub mod handoff;
pub mod metrics;
pub mod rules;
pub mod store;
pub mod use_cases;
pub mod worker;

use std::{sync::Arc, time::Duration};

use civicgrid_kit::{
    bus,
    config::ConfigError,
    db,
    runtime::{Assembly, Context, Service, StartError},
};
use civicgrid_proto::v1::notify_service_server::NotifyServiceServer;

pub use config::Settings;

/// The service name: schema, stream (`CIVICGRID_NOTIFY`) and subject token.
pub const SERVICE: &str = civicgrid_contracts::notify::SERVICE;

/// notify, as the runtime runs it.
pub type Application = civicgrid_kit::runtime::Application<Notify>;

/// The notify service.
pub struct Notify;

impl Service for Notify {
    const NAME: &'static str = SERVICE;
    type Settings = Settings;

    fn migrations() -> Vec<sqlx::migrate::Migration> {
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
            db::migration(4, "delivery trace context", include_str!("../migrations/0004_delivery_traces.sql")),
            db::migration(
                5,
                "inbox deliveries are their notifications",
                include_str!("../migrations/0005_inbox_deliveries.sql"),
            ),
        ]
    }

    async fn assemble(ctx: &Context<Settings>) -> Result<Assembly, StartError> {
        let n = &ctx.settings.notify;
        let store = Arc::new(store::Store::from_settings(&ctx.settings, ctx.pool.clone(), ctx.outbox.clone())?);
        let worker = worker::Worker::from_settings(&ctx.settings, store.clone(), ctx.clock.clone(), &ctx.metrics)
            .await
            .map_err(StartError::service)?;
        metrics::register(&ctx.metrics, ctx.pool.clone()).await;
        let api = grpc::NotifyApi::new(
            store.clone(),
            ctx.clock.clone(),
            Duration::from_millis(n.watch_poll_ms.max(10)),
            ctx.calls_stopping.clone(),
        )
        .allow_private_webhooks(n.allow_private_webhooks);
        let handler = || consumers::FactHandler::new(store.clone(), ctx.clock.clone());
        Ok(Assembly::new()
            .grpc(NotifyServiceServer::new(api), &access::ACCESS)
            .consumer(civicgrid_contracts::notify::INTAKE, handler())
            .consumer(civicgrid_contracts::notify::DISPATCH, handler())
            .consumer(civicgrid_contracts::notify::MEDIATION, handler())
            .consumer(civicgrid_contracts::notify::PATROL, handler())
            // Stops before the relay's last flush, so its notify-delivered rows are published.
            .job("delivery worker", move |stop| worker.run(stop)))
    }
}

/// Loads the rules in force: the configured file, or the ones compiled in.
pub fn load_rules(settings: &Settings) -> Result<rules::Rules, StartError> {
    match settings.notify.rules_file.as_deref().filter(|f| !f.is_empty()) {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Invalid {
                key: "notify.rules_file",
                reason: format!("cannot read {path}: {e}"),
            })?;
            rules::Rules::parse(&text, path).map_err(StartError::service)
        }
        None => rules::Rules::shipped().map_err(StartError::service),
    }
}
