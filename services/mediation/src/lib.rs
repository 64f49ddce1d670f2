//! civicgrid mediation (矛盾纠纷多元化解, 人民调解): disputes from application to agreement,
//! judicial confirmation and follow-up (docs/mediation.md).
//!
//! [`Mediation`] declares the service to the kit's runtime. Inside: [`domain`] (pure: the case
//! state machine, deadlines, assignment, visibility, statistics, the agreement document,
//! masking), [`reference`] (organisations, mediators, calendar), and the service's storage,
//! handlers, consumer and jobs.

pub mod config;
pub mod domain;
pub mod reference;

use civicgrid_kit::{
    bus, db,
    runtime::{Assembly, Context, Service, StartError},
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
        ]
    }

    async fn assemble(_ctx: &Context<Settings>) -> Result<Assembly, StartError> {
        Ok(Assembly::new())
    }
}
