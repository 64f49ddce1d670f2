//! Provisioning for the embedded default and the tests: a database, and a login role plus a
//! schema per service.

use std::str::FromStr;

use civicgrid_kit::{
    config::ConfigError,
    db::{DbError, is_identifier},
};
use sqlx::{ConnectOptions, Executor, postgres::PgConnectOptions};

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
}
