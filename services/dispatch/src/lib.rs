//! civicgrid dispatch (分流交办, 督办, 考核): routes reported events to departments, runs each
//! task's lifecycle, keeps its stage clocks on a business calendar, raises four-colour warnings
//! and escalations, and scores departments, regions and grid workers.
//!
//! [`Dispatch`] declares the service to the kit's runtime. Inside:
//! - [`domain`](mod@domain): pure code — the business calendar and time types, stage clocks,
//!   warning colours and escalation, the task state machine with its permission checks,
//!   routing, and the assessment formulas;
//! - [`reference`](mod@reference): the reference data dispatch owns — item catalog, regions
//!   and grids, departments, calendar — loaded from versioned TOML files and checked, with an
//!   example dataset for the demo city 周口市 compiled in;
//! - [`store`]: all SQL, one module per aggregate, behind the [`store::Store`] handle;
//! - [`usecase`]: what the service does, as `Store` methods — tasks for reported events,
//!   actions, ratings, the ticker round, reference loads, KPIs;
//! - [`planning`]: which tasks a reported event becomes; [`visibility`]: which tasks a caller
//!   may see (both pure);
//! - [`tasks`]: a stored task and what derives from it; [`grpc`]: the DispatchService
//!   handlers; [`consumers`]: intake's events; [`ticker`]: the warning job; [`metrics`]: open
//!   tasks by colour.

pub mod access;
pub mod config;
pub mod consumers;
pub mod domain;
pub mod grpc;
pub mod metrics;
pub mod planning;
pub mod reference;
pub mod store;
pub mod tasks;
pub mod ticker;
pub mod usecase;
pub mod visibility;

use std::{sync::Arc, time::Duration};

use civicgrid_kit::{
    bus, db,
    runtime::{Assembly, Context, Service, StartError},
};
use civicgrid_proto::v1::dispatch_service_server::DispatchServiceServer;

pub use config::Settings;

/// The service name: schema, stream (`CIVICGRID_DISPATCH`) and subject token.
pub const SERVICE: &str = civicgrid_contracts::dispatch::SERVICE;

/// dispatch, as the runtime runs it.
pub type Application = civicgrid_kit::runtime::Application<Dispatch>;

/// The dispatch service.
pub struct Dispatch;

impl Service for Dispatch {
    const NAME: &'static str = SERVICE;
    type Settings = Settings;

    fn migrations() -> Vec<sqlx::migrate::Migration> {
        vec![
            db::migration(1, "bus outbox and inbox", bus::TABLES_SQL),
            db::migration(2, "dispatch tasks", include_str!("../migrations/0002_dispatch.sql")),
            db::migration(3, "reference sets", include_str!("../migrations/0003_reference_sets.sql")),
            db::migration(4, "change-feed snapshots", include_str!("../migrations/0004_change_snapshots.sql")),
        ]
    }

    async fn assemble(ctx: &Context<Settings>) -> Result<Assembly, StartError> {
        let d = &ctx.settings.dispatch;
        let (seq, refdata) =
            store::reference_in_force(&ctx.pool, d.reference_dir.as_deref()).await.map_err(StartError::service)?;
        let store = Arc::new(store::Store::new(
            ctx.pool.clone(),
            Arc::new(refdata),
            seq,
            ctx.outbox.clone(),
            d.escalation_grace,
        ));
        metrics::register(&ctx.metrics, ctx.pool.clone()).await;
        let api = grpc::DispatchApi::new(
            store.clone(),
            ctx.clock.clone(),
            Duration::from_millis(d.watch_poll_ms.max(10)),
            ctx.calls_stopping.clone(),
        );
        let (every, batch) = (Duration::from_millis(d.ticker_interval_ms.max(10)), d.ticker_batch.max(1));
        let (ticker_store, clock) = (store.clone(), ctx.clock.clone());
        Ok(Assembly::new()
            .grpc(DispatchServiceServer::new(api), &access::ACCESS)
            .consumer(
                civicgrid_contracts::dispatch::INTAKE,
                consumers::IntakeHandler { store, clock: ctx.clock.clone() },
            )
            .job("warning ticker", move |stop| ticker::run(ticker_store, clock, every, batch, stop)))
    }
}
