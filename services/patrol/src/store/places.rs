//! SQL on `places`: a key place is its `Place` message, with its region and risk beside it for
//! listings.

use chrono::{DateTime, Utc};
use civicgrid_proto::v1::Place;
use prost::Message;
use sqlx::{PgConnection, PgExecutor};

use super::{StoreError, decode};

/// Place `id`, locked for the transaction.
pub async fn lock(tx: &mut PgConnection, id: &str) -> Result<Option<Place>, StoreError> {
    let body: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT body FROM places WHERE id = $1 FOR UPDATE").bind(id).fetch_optional(tx).await?;
    body.map(|b| decode(&b)).transpose()
}

/// Place `id`.
pub async fn get<'c>(ex: impl PgExecutor<'c>, id: &str) -> Result<Option<Place>, StoreError> {
    let body: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT body FROM places WHERE id = $1").bind(id).fetch_optional(ex).await?;
    body.map(|b| decode(&b)).transpose()
}

/// Inserts or replaces a place (its `version` already raised).
pub async fn save(tx: &mut PgConnection, place: &Place, now: DateTime<Utc>) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO places (id, region_code, risk, body, version, updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (id) DO UPDATE SET region_code = EXCLUDED.region_code, risk = EXCLUDED.risk, \
           body = EXCLUDED.body, version = EXCLUDED.version, updated_at = EXCLUDED.updated_at",
    )
    .bind(&place.id)
    .bind(&place.region_code)
    .bind(place.risk)
    .bind(place.encode_to_vec())
    .bind(place.version)
    .bind(now)
    .execute(tx)
    .await?;
    Ok(())
}

/// Places whose region starts with `prefix` (see [`super::region_prefix`]), of `risk` (0: any),
/// after id `after`, by id.
pub async fn list<'c>(
    ex: impl PgExecutor<'c>,
    prefix: &str,
    risk: i32,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Place>, StoreError> {
    let bodies: Vec<Vec<u8>> = sqlx::query_scalar(
        "SELECT body FROM places WHERE region_code LIKE $1 AND ($2 = 0 OR risk = $2) AND ($3::text IS NULL OR id > $3) \
         ORDER BY id LIMIT $4",
    )
    .bind(prefix)
    .bind(risk)
    .bind(after)
    .bind(limit)
    .fetch_all(ex)
    .await?;
    bodies.iter().map(|b| decode(b)).collect()
}

/// The places `ids` (those that exist).
pub async fn by_ids<'c>(ex: impl PgExecutor<'c>, ids: &[String]) -> Result<Vec<Place>, StoreError> {
    let bodies: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT body FROM places WHERE id = ANY($1)").bind(ids).fetch_all(ex).await?;
    bodies.iter().map(|b| decode(b)).collect()
}

/// Every place whose region starts with `prefix` (coverage's time in key places).
pub async fn within<'c>(ex: impl PgExecutor<'c>, prefix: &str) -> Result<Vec<Place>, StoreError> {
    let bodies: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT body FROM places WHERE region_code LIKE $1").bind(prefix).fetch_all(ex).await?;
    bodies.iter().map(|b| decode(b)).collect()
}
