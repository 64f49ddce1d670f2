//! SQL on `teams`: a team is its `Team` message, with its region and kind beside it for
//! listings.

use chrono::{DateTime, Utc};
use civicgrid_proto::v1::Team;
use prost::Message;
use sqlx::{PgConnection, PgExecutor};

use super::{StoreError, decode};

/// Team `id`, locked for the transaction.
pub async fn lock(tx: &mut PgConnection, id: &str) -> Result<Option<Team>, StoreError> {
    let body: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT body FROM teams WHERE id = $1 FOR UPDATE").bind(id).fetch_optional(tx).await?;
    body.map(|b| decode(&b)).transpose()
}

/// Team `id`.
pub async fn get<'c>(ex: impl PgExecutor<'c>, id: &str) -> Result<Option<Team>, StoreError> {
    let body: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT body FROM teams WHERE id = $1").bind(id).fetch_optional(ex).await?;
    body.map(|b| decode(&b)).transpose()
}

/// Inserts or replaces a team (its `version` already raised).
pub async fn save(tx: &mut PgConnection, team: &Team, now: DateTime<Utc>) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO teams (id, region_code, kind, body, version, updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (id) DO UPDATE SET region_code = EXCLUDED.region_code, kind = EXCLUDED.kind, \
           body = EXCLUDED.body, version = EXCLUDED.version, updated_at = EXCLUDED.updated_at",
    )
    .bind(&team.id)
    .bind(&team.region_code)
    .bind(team.kind)
    .bind(team.encode_to_vec())
    .bind(team.version)
    .bind(now)
    .execute(tx)
    .await?;
    Ok(())
}

/// Teams whose region starts with `prefix` (see [`super::region_prefix`]), of `kind` (0: any),
/// after id `after`, by id.
pub async fn list<'c>(
    ex: impl PgExecutor<'c>,
    prefix: &str,
    kind: i32,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Team>, StoreError> {
    let bodies: Vec<Vec<u8>> = sqlx::query_scalar(
        "SELECT body FROM teams WHERE region_code LIKE $1 AND ($2 = 0 OR kind = $2) AND ($3::text IS NULL OR id > $3) \
         ORDER BY id LIMIT $4",
    )
    .bind(prefix)
    .bind(kind)
    .bind(after)
    .bind(limit)
    .fetch_all(ex)
    .await?;
    bodies.iter().map(|b| decode(b)).collect()
}

/// Every team (the ingest engine keeps them all in memory).
pub async fn all<'c>(ex: impl PgExecutor<'c>) -> Result<Vec<Team>, StoreError> {
    let bodies: Vec<Vec<u8>> = sqlx::query_scalar("SELECT body FROM teams").fetch_all(ex).await?;
    bodies.iter().map(|b| decode(b)).collect()
}
