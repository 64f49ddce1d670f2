//! SQL on `reference_sets`: every reference data set ever put in force, newest last, so
//! replicas agree on the set in force and a restart finds it.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::StoreError;
use crate::reference::{ReferenceFiles, Versions};

/// A stored set: its sequence number, files and when it was loaded.
pub type StoredSet = (i64, ReferenceFiles, DateTime<Utc>);

/// The newest stored reference set.
pub async fn latest(pool: &PgPool) -> Result<Option<StoredSet>, StoreError> {
    let row: Option<(i64, String, String, String, DateTime<Utc>)> = sqlx::query_as(
        "SELECT seq, organisations_toml, mediators_toml, calendar_toml, loaded_at \
         FROM reference_sets ORDER BY seq DESC LIMIT 1",
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(seq, organisations, mediators, calendar, at)| {
        (seq, ReferenceFiles { organisations, mediators, calendar }, at)
    }))
}

/// The sequence number of the newest stored set, if any; cheaper than [`latest`] for checking
/// whether another replica loaded one.
pub(crate) async fn newest_seq(pool: &PgPool) -> Result<Option<i64>, StoreError> {
    Ok(sqlx::query_scalar("SELECT max(seq) FROM reference_sets").fetch_one(pool).await?)
}

/// Records a reference set; returns its sequence number and when it was stored.
pub async fn insert<'c, E: sqlx::PgExecutor<'c>>(
    executor: E,
    files: &ReferenceFiles,
    versions: &Versions,
    by: &str,
) -> Result<(i64, DateTime<Utc>), StoreError> {
    Ok(sqlx::query_as(
        "INSERT INTO reference_sets (organisations_toml, mediators_toml, calendar_toml, organisations_version, \
         mediators_version, calendar_version, loaded_by) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING seq, loaded_at",
    )
    .bind(&files.organisations)
    .bind(&files.mediators)
    .bind(&files.calendar)
    .bind(&versions.organisations)
    .bind(&versions.mediators)
    .bind(&versions.calendar)
    .bind(by)
    .fetch_one(executor)
    .await?)
}
