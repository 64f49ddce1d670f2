//! SQL on `routes`: a route is its `Route` message (checkpoints included), with its region
//! beside it for listings. A shift copies what it walks when it starts (`shifts.plan`), so a
//! later change of the route does not touch it.

use chrono::{DateTime, Utc};
use civicgrid_proto::v1::Route;
use prost::Message;
use sqlx::{PgConnection, PgExecutor};

use super::{StoreError, decode};

/// Route `id`, locked for the transaction.
pub async fn lock(tx: &mut PgConnection, id: &str) -> Result<Option<Route>, StoreError> {
    let body: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT body FROM routes WHERE id = $1 FOR UPDATE").bind(id).fetch_optional(tx).await?;
    body.map(|b| decode(&b)).transpose()
}

/// Route `id`.
pub async fn get<'c>(ex: impl PgExecutor<'c>, id: &str) -> Result<Option<Route>, StoreError> {
    let body: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT body FROM routes WHERE id = $1").bind(id).fetch_optional(ex).await?;
    body.map(|b| decode(&b)).transpose()
}

/// The routes `ids` (those that exist).
pub async fn by_ids<'c>(ex: impl PgExecutor<'c>, ids: &[String]) -> Result<Vec<Route>, StoreError> {
    let bodies: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT body FROM routes WHERE id = ANY($1)").bind(ids).fetch_all(ex).await?;
    bodies.iter().map(|b| decode(b)).collect()
}

/// Inserts or replaces a route (its `version` already raised).
pub async fn save(tx: &mut PgConnection, route: &Route, now: DateTime<Utc>) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO routes (id, region_code, body, version, updated_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (id) DO UPDATE SET region_code = EXCLUDED.region_code, body = EXCLUDED.body, \
           version = EXCLUDED.version, updated_at = EXCLUDED.updated_at",
    )
    .bind(&route.id)
    .bind(&route.region_code)
    .bind(route.encode_to_vec())
    .bind(route.version)
    .bind(now)
    .execute(tx)
    .await?;
    Ok(())
}

/// Routes whose region starts with `prefix`, after id `after`, by id.
pub async fn list<'c>(
    ex: impl PgExecutor<'c>,
    prefix: &str,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Route>, StoreError> {
    let bodies: Vec<Vec<u8>> = sqlx::query_scalar(
        "SELECT body FROM routes WHERE region_code LIKE $1 AND ($2::text IS NULL OR id > $2) ORDER BY id LIMIT $3",
    )
    .bind(prefix)
    .bind(after)
    .bind(limit)
    .fetch_all(ex)
    .await?;
    bodies.iter().map(|b| decode(b)).collect()
}
