//! PostgreSQL: a pool confined to one service's schema, and migrations at start-up.

use std::{str::FromStr, time::Duration};

use sqlx::{
    ConnectOptions, PgPool,
    migrate::{Migration, MigrationType, Migrator},
    postgres::{PgConnectOptions, PgPoolOptions},
};

use crate::config::{ConfigError, DatabaseSettings};

/// Database errors of the plumbing.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// Bad settings.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The database refused or failed.
    #[error("database: {0}")]
    Sqlx(#[from] sqlx::Error),
    /// A migration failed.
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// True for a name fit to be a schema or role identifier (lower-case letters, digits, `_`).
pub fn is_identifier(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit()
}

/// Opens a pool whose connections see only `schema` (via `search_path`).
pub async fn connect(settings: &DatabaseSettings, schema: &str) -> Result<PgPool, DbError> {
    let url = settings.require_url()?;
    if !is_identifier(schema) {
        return Err(ConfigError::Invalid {
            key: "database.schema",
            reason: format!("`{schema}` is not a plain identifier"),
        }
        .into());
    }
    let options = PgConnectOptions::from_str(url)
        .map_err(|e| ConfigError::Invalid { key: "database.url", reason: e.to_string() })?
        .options([("search_path", schema)])
        .application_name(&format!("civicgrid-{schema}"))
        .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_secs(1));
    let pool = PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(Duration::from_secs(settings.acquire_timeout_secs))
        .connect_with(options)
        .await?;
    Ok(pool)
}

/// A migration from embedded SQL.
pub fn migration(version: i64, description: &'static str, sql: &'static str) -> Migration {
    Migration::new(version, description.into(), MigrationType::Simple, sqlx::SqlSafeStr::into_sql_str(sql), false)
}

/// Applies `migrations` inside `schema`, keeping the migrations table in that schema too.
/// Replicas starting at once are serialised by the migrator's advisory lock.
pub async fn migrate(pool: &PgPool, schema: &str, migrations: Vec<Migration>) -> Result<(), DbError> {
    if !is_identifier(schema) {
        return Err(ConfigError::Invalid {
            key: "database.schema",
            reason: format!("`{schema}` is not a plain identifier"),
        }
        .into());
    }
    let mut migrator = Migrator::with_migrations(migrations);
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
        .bind(schema)
        .fetch_one(pool)
        .await?;
    if !exists {
        // Only asked for when missing: a service role may lack CREATE on the database but own
        // its provisioned schema.
        migrator.create_schema(schema.to_string());
    }
    migrator.dangerous_set_table_name(format!("{schema}._sqlx_migrations"));
    migrator.run(pool).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        assert!(is_identifier("intake"));
        assert!(is_identifier("cg_0123abcd"));
        assert!(!is_identifier("Intake"));
        assert!(!is_identifier("a;drop"));
        assert!(!is_identifier("1abc"));
    }
}
