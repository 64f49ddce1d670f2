//! civicgrid mediation (矛盾纠纷多元化解, 人民调解): disputes from application to agreement,
//! judicial confirmation and follow-up (docs/mediation.md).
//!
//! [`Mediation`] declares the service to the kit's runtime. Inside:
//! - [`domain`](mod@domain): pure code — the case state machine, deadlines, assignment,
//!   visibility, statistics, the agreement document, masking;
//! - [`reference`](mod@reference): organisations, mediators, calendar, as versioned sets;
//! - [`cases`]: a stored case and what derives from it;
//! - [`store`]: all SQL, one module per aggregate, behind the [`store::Store`] handle;
//! - [`usecase`]: what the service does, as `Store` methods — opening, every other change,
//!   reads, statistics, reference loads, the warning round;
//! - [`grpc`]: the MediationService handlers; [`consumers`]: dispatch's task facts;
//!   [`link`]: the calls that keep dispatch's tasks in step; [`ticker`]: the warning job;
//!   [`metrics`]: open and overdue cases.

pub mod access;
pub mod cases;
pub mod config;
pub mod consumers;
pub mod domain;
pub mod grpc;
pub mod link;
pub mod metrics;
pub mod reference;
pub mod store;
pub mod ticker;
pub mod usecase;

use std::{sync::Arc, time::Duration};

use civicgrid_kit::{
    bus, db,
    runtime::{Assembly, Context, Service, StartError},
};
use civicgrid_proto::v1::{
    dispatch_service_client::DispatchServiceClient, mediation_service_server::MediationServiceServer,
};

pub use config::Settings;

/// The service name: schema, stream (`CIVICGRID_MEDIATION`) and subject token.
pub const SERVICE: &str = civicgrid_contracts::mediation::SERVICE;

/// mediation, as the runtime runs it.
pub type Application = civicgrid_kit::runtime::Application<Mediation>;

/// The mediation service.
pub struct Mediation;

impl Service for Mediation {
    const NAME: &'static str = SERVICE;
    type Settings = Settings;

    fn migrations() -> Vec<sqlx::migrate::Migration> {
        vec![
            db::migration(1, "bus outbox and inbox", bus::TABLES_SQL),
            db::migration(2, "mediation cases", include_str!("../migrations/0002_mediation.sql")),
            db::migration(3, "case deadlines and call order", include_str!("../migrations/0003_case_links.sql")),
        ]
    }

    async fn assemble(ctx: &Context<Settings>) -> Result<Assembly, StartError> {
        let m = &ctx.settings.mediation;
        let in_force =
            usecase::reference_in_force(&ctx.pool, m.reference_dir.as_deref()).await.map_err(StartError::service)?;
        let store = Arc::new(store::Store::new(
            ctx.pool.clone(),
            in_force,
            m.cipher()?,
            m.policy(),
            m.justice_office_kinds.clone(),
            ctx.outbox.clone(),
        ));
        metrics::register(&ctx.metrics, store.clone(), ctx.clock.clone()).await;
        let channel =
            civicgrid_kit::grpc::tls::channel("mediation.dispatch_url", &m.dispatch_url, &ctx.settings.common.grpc)?;
        let every = Duration::from_millis(m.ticker_interval_ms.max(10));
        let link = link::DispatchLink {
            store: store.clone(),
            clock: ctx.clock.clone(),
            client: DispatchServiceClient::new(channel),
            auth: ctx.settings.common.auth.clone(),
            retry: Duration::from_millis(m.dispatch_retry_ms.max(10)),
            batch: 50,
            wake: store.link_signal(),
        };
        let (ticker_store, clock) = (store.clone(), ctx.clock.clone());
        let handler = consumers::DispatchHandler {
            store: store.clone(),
            clock: ctx.clock.clone(),
            dispute_items: m.dispute_items.clone(),
            justice_kinds: m.justice_office_kinds.clone(),
            opened: Default::default(),
        };
        Ok(Assembly::new()
            .grpc(MediationServiceServer::new(grpc::MediationApi::new(store, ctx.clock.clone())), &access::ACCESS)
            .consumer(civicgrid_contracts::mediation::DISPATCH, handler)
            .job("warning ticker", move |stop| ticker::run(ticker_store, clock, every, stop))
            .job("dispatch link", move |stop| link.run(every, stop)))
    }
}
