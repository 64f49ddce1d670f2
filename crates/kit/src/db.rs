//! PostgreSQL: a pool confined to one service's schema, migrations at start-up, and the
//! provisioning the embedded default and tests need (a database, a role and schema per service).

use std::{str::FromStr, time::Duration};

use sqlx::{
    ConnectOptions, Executor, PgPool,
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
fn is_identifier(name: &str) -> bool {
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

/// Creates database `name` on the server at `admin_url` unless it exists; returns its URL.
pub async fn ensure_database(admin_url: &str, name: &str) -> Result<String, DbError> {
    if !is_identifier(name) {
        return Err(
            ConfigError::Invalid { key: "database", reason: format!("`{name}` is not a plain identifier") }.into()
        );
    }
    let options = PgConnectOptions::from_str(admin_url)
        .map_err(|e| ConfigError::Invalid { key: "database.url", reason: e.to_string() })?;
    let mut conn = options.connect().await?;
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(name)
        .fetch_one(&mut conn)
        .await?;
    if !exists {
        let sql = format!("CREATE DATABASE \"{name}\"");
        if let Err(e) = conn.execute(sqlx::AssertSqlSafe(sql)).await {
            // Another process may have created it in the meantime.
            let code = e.as_database_error().and_then(|d| d.code()).map(|c| c.to_string());
            if code.as_deref() != Some("42P04") && code.as_deref() != Some("23505") {
                return Err(e.into());
            }
        }
    }
    Ok(with_database(admin_url, name))
}

/// `url` with its database replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    // postgres://user@host:port/db → keep everything up to the path.
    let after_scheme = base.find("://").map(|i| i + 3).unwrap_or(0);
    let root = match base[after_scheme..].find('/') {
        Some(i) => &base[..after_scheme + i],
        None => base,
    };
    match query {
        Some(q) => format!("{root}/{name}?{q}"),
        None => format!("{root}/{name}"),
    }
}

/// Creates a login role named `service` owning schema `service` in the database at `db_url`
/// (idempotent), so the service can touch only its own schema. Returns the service's URL.
pub async fn provision_service(db_url: &str, service: &str) -> Result<String, DbError> {
    if !is_identifier(service) {
        return Err(
            ConfigError::Invalid { key: "service", reason: format!("`{service}` is not a plain identifier") }.into()
        );
    }
    let options = PgConnectOptions::from_str(db_url)
        .map_err(|e| ConfigError::Invalid { key: "database.url", reason: e.to_string() })?;
    let mut conn = options.connect().await?;
    // One provisioning at a time: CREATE ROLE / SCHEMA race between concurrent callers.
    conn.execute("SELECT pg_advisory_lock(7305001)").await?;
    let result = async {
        let role_exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
            .bind(service)
            .fetch_one(&mut conn)
            .await?;
        if !role_exists {
            conn.execute(sqlx::AssertSqlSafe(format!("CREATE ROLE \"{service}\" LOGIN"))).await?;
        }
        conn.execute(sqlx::AssertSqlSafe(format!(
            "CREATE SCHEMA IF NOT EXISTS \"{service}\" AUTHORIZATION \"{service}\""
        )))
        .await?;
        Ok::<_, sqlx::Error>(())
    }
    .await;
    conn.execute("SELECT pg_advisory_unlock(7305001)").await?;
    result?;
    let mut url = url_with_user(db_url, service);
    if !url.contains("application_name") {
        url.push_str(if url.contains('?') { "&" } else { "?" });
        url.push_str(&format!("application_name=civicgrid-{service}"));
    }
    Ok(url)
}

/// `url` with its user replaced by `user` (and no password).
fn url_with_user(url: &str, user: &str) -> String {
    let Some(i) = url.find("://") else { return url.to_string() };
    let (scheme, rest) = url.split_at(i + 3);
    let host_part = match rest.find('@') {
        Some(at) if rest[..at].find('/').is_none() => &rest[at + 1..],
        _ => rest,
    };
    format!("{scheme}{user}@{host_part}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_rewrites() {
        assert_eq!(with_database("postgres://postgres@127.0.0.1:5/postgres", "x"), "postgres://postgres@127.0.0.1:5/x");
        assert_eq!(with_database("postgres://h:5", "x"), "postgres://h:5/x");
        assert_eq!(with_database("postgres://h:5/a?sslmode=disable", "x"), "postgres://h:5/x?sslmode=disable");
        assert_eq!(url_with_user("postgres://postgres:pw@h:5/db", "intake"), "postgres://intake@h:5/db");
        assert_eq!(url_with_user("postgres://h:5/db", "intake"), "postgres://intake@h:5/db");
    }

    #[test]
    fn identifiers() {
        assert!(is_identifier("intake"));
        assert!(is_identifier("cg_0123abcd"));
        assert!(!is_identifier("Intake"));
        assert!(!is_identifier("a;drop"));
        assert!(!is_identifier("1abc"));
    }
}
