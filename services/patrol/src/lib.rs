//! civicgrid patrol (巡逻防控): patrol teams walk routes of checkpoints past key places during
//! their shifts; the service takes their positions at a high rate, detects check-ins, raises
//! missed-checkpoint, late-tour and member-offline alarms, submits findings to intake and
//! reports tracks, coverage and presence (docs/patrol.md).
//!
//! [`Patrol`] declares the service to the kit's runtime. Inside:
//! - [`domain`](mod@domain): pure code — geometry and geofences, the spatial index, fix
//!   validation, tour progress, liveness, trips, coverage;
//! - [`convert`]: between the contract's messages and the domain, and the [`convert::Plan`] a
//!   shift walks;
//! - [`store`]: all SQL, one module per table;
//! - [`engine`]: the hot state in memory (teams, members' last fixes, active shifts) and what
//!   changes it: ingest, the shift walk, the alarm round;
//! - [`usecase`]: the rest of what the service does, one transaction each;
//! - [`grpc`]: the PatrolService handlers; [`feed`]: the positions feed's handler;
//!   [`jobs`]: the alarm, presence and retention jobs; [`metrics`]: patrol's own metrics.

pub mod access;
pub mod area;
pub mod config;
pub mod convert;
pub mod core;
pub mod domain;
pub mod engine;
pub mod feed;
pub mod grpc;
pub mod jobs;
pub mod metrics;
pub mod store;
pub mod usecase;

use std::{sync::Arc, time::Duration};

use civicgrid_kit::{
    bus, db,
    runtime::{Assembly, Context, Service, StartError},
};
use civicgrid_proto::v1::{intake_service_client::IntakeServiceClient, patrol_service_server::PatrolServiceServer};

pub use config::Settings;

/// The service name: schema, stream (`CIVICGRID_PATROL`) and subject token.
pub const SERVICE: &str = civicgrid_contracts::patrol::SERVICE;

/// patrol, as the runtime runs it.
pub type Application = civicgrid_kit::runtime::Application<Patrol>;

/// The patrol service.
pub struct Patrol;

impl Service for Patrol {
    const NAME: &'static str = SERVICE;
    // The engine keeps every active shift and each member's last fix in memory: one process
    // leads, its replicas stand by (docs/patrol.md, "Replicas").
    const SINGLETON: bool = true;
    type Settings = Settings;

    fn migrations() -> Vec<sqlx::migrate::Migration> {
        vec![
            db::migration(1, "bus outbox and inbox", bus::TABLES_SQL),
            db::migration(
                2,
                "patrol teams, places, routes, shifts, positions",
                include_str!("../migrations/0002_patrol.sql"),
            ),
        ]
    }

    async fn assemble(ctx: &Context<Settings>) -> Result<Assembly, StartError> {
        let p = &ctx.settings.patrol;
        let intake = civicgrid_kit::grpc::tls::channel("patrol.intake_url", &p.intake_url, &ctx.settings.common.grpc)?;
        let core = Arc::new(core::Core {
            pool: ctx.pool.clone(),
            signal: ctx.outbox.clone(),
            clock: ctx.clock.clone(),
            settings: p.clone(),
            metrics: metrics::PatrolMetrics::register(&ctx.metrics),
            intake: IntakeServiceClient::new(intake),
        });
        let engine = Arc::new(engine::Engine::load(core.clone()).await?);
        {
            let (engine, m) = (engine.clone(), core.metrics.clone());
            ctx.metrics
                .on_scrape(move || {
                    let (engine, m) = (engine.clone(), m.clone());
                    async move {
                        let (active, online) = engine.gauges().await;
                        m.active_shifts.set(active);
                        m.members_online.set(online);
                    }
                })
                .await;
        }
        let every = Duration::from_millis(p.ticker_interval_ms.max(10));
        let feed = feed::PositionsFeed { engine: engine.clone() };
        let (alarm_engine, presence_core, retention_core) = (engine.clone(), core.clone(), core.clone());
        Ok(Assembly::new()
            .grpc(PatrolServiceServer::new(grpc::PatrolApi::new(core, engine)), &access::ACCESS)
            .feed(civicgrid_contracts::patrol::POSITIONS, p.feed_options(), feed)
            .job("alarms", move |stop| jobs::alarms(alarm_engine, every, stop))
            .job("presence", move |stop| jobs::presence(presence_core, every, stop))
            .job("retention", move |stop| jobs::retention(retention_core, every, stop)))
    }
}
