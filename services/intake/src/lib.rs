//! civicgrid intake (一门受理): the single door for every report.
//!
//! [`Intake`] declares the service to the kit's runtime, which connects, migrates, serves and
//! drains it. Inside: [`domain`] (pure: validation, duplicates, tracking numbers, masking,
//! public status, ratings), [`store`] (all SQL), [`batcher`] (group commit), [`grpc`] (the
//! `IntakeService` handlers), [`open311`] (the GeoReport v2 HTTP facade, on the same store and
//! batcher), [`consumers`] (dispatch's task facts), [`housekeeping`], [`lookups`] (the budgets
//! of failed lookups by tracking number, shared by the gRPC API and the facade).

pub mod access;
pub mod batcher;
pub mod config;
pub mod consumers;
pub mod domain;
pub mod grpc;
pub mod housekeeping;
pub mod lookups;
pub mod open311;
pub mod pii;
pub mod store;

use std::sync::Arc;

use civicgrid_kit::{
    bus, db,
    runtime::{Assembly, Context, Service, StartError},
};
use civicgrid_proto::v1::intake_service_server::IntakeServiceServer;

pub use config::Settings;

/// The service name: schema, stream (`CIVICGRID_INTAKE`) and subject token.
pub const SERVICE: &str = civicgrid_contracts::intake::SERVICE;

/// intake, as the runtime runs it.
pub type Application = civicgrid_kit::runtime::Application<Intake>;

/// The intake service.
pub struct Intake;

impl Service for Intake {
    const NAME: &'static str = SERVICE;
    type Settings = Settings;

    fn migrations() -> Vec<sqlx::migrate::Migration> {
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
            db::migration(
                6,
                "the department of each event's task",
                include_str!("../migrations/0006_event_task_departments.sql"),
            ),
            db::migration(
                7,
                "erasure of reporters' personal data",
                include_str!("../migrations/0007_reporter_erasure.sql"),
            ),
        ]
    }

    async fn assemble(ctx: &Context<Settings>) -> Result<Assembly, StartError> {
        let s = &ctx.settings.intake;
        let store = Arc::new(store::Store::new(
            ctx.pool.clone(),
            s.cipher()?,
            ctx.outbox.clone(),
            s.offset()?,
            s.duplicate_radius_m,
            chrono::Duration::hours(s.duplicate_window_hours),
        ));
        let (submitter, writers) = batcher::queues(store.clone(), s.batch());
        let retention = housekeeping::Retention {
            answers: chrono::Duration::days(s.idempotency_retention_days.max(1)),
            personal_data: chrono::Duration::days(s.pii_retention_days.max(0)),
            every: std::time::Duration::from_secs(s.housekeeping_interval_secs.max(1)),
        };
        let (clock, housekeeping_store) = (ctx.clock.clone(), store.clone());
        let lookups = Arc::new(lookups::FailedLookups::new(s.lookup_limits()));
        let mut assembly = Assembly::new()
            .grpc(
                IntakeServiceServer::new(grpc::IntakeApi::new(
                    store.clone(),
                    submitter.clone(),
                    ctx.clock.clone(),
                    lookups.clone(),
                )),
                &access::ACCESS,
            )
            .consumer(civicgrid_contracts::intake::TASK_STATUS, consumers::TaskStatusHandler);
        if let Some(listener) = open311::bind(&s.open311).await? {
            let facade = open311::Facade::new(&s.open311, s.offset()?, store, submitter, ctx.clock.clone(), lookups)?;
            let calls = ctx.calls_stopping.clone();
            // It stops taking requests with the gRPC server, and before the writers that
            // answer its POSTs.
            assembly = assembly.job("open311", move |stop| async move {
                let token = calls.child_token();
                let cancel = token.clone();
                tokio::spawn(async move {
                    stop.cancelled().await;
                    cancel.cancel();
                });
                open311::serve(listener, Arc::new(facade), token).await
            });
        }
        Ok(assembly
            // Writers stop first: they answer the calls the server drained.
            .job("submission writers", move |stop| writers.run(stop))
            .job("housekeeping", move |stop| housekeeping::run(housekeeping_store, clock, retention, stop)))
    }
}
