//! dispatch as the bench runs it: its settings for a run, and a pool of the bench's own on
//! dispatch's schema.

use std::time::Duration;

use anyhow::{Context, Result};
use sqlx::{ConnectOptions, PgPool};

/// dispatch's settings for a run: its defaults, the URLs, a free port, `warn` logs.
pub fn settings(nats_url: &str, db_url: &str) -> Result<civicgrid_dispatch::Settings> {
    let toml = format!(
        "[nats]\nurl = \"{nats_url}\"\n[database]\nurl = \"{db_url}\"\n[grpc]\nlisten = \"127.0.0.1:0\"\n\
         [telemetry]\nlog = \"warn\"\n"
    );
    <civicgrid_dispatch::Settings as civicgrid_kit::config::ServiceSettings>::from_layers(&[&toml])
        .context("dispatch settings")
}

/// A pool of the bench's own on dispatch's schema (`application_name` civicgrid-bench, so
/// it is told apart from dispatch's connections in `pg_stat_activity`).
pub async fn dispatch_pool(db_url: &str, max_connections: u32) -> Result<PgPool> {
    let options = <sqlx::postgres::PgConnectOptions as std::str::FromStr>::from_str(db_url)
        .context("database URL")?
        .options([("search_path", civicgrid_dispatch::SERVICE)])
        .application_name("civicgrid-bench")
        .disable_statement_logging();
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(120))
        .connect_with(options)
        .await
        .context("pool on dispatch's schema")
}
