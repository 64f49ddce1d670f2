//! SQL on `reference_sets`: every reference data set ever put in force, newest last, so
//! replicas agree on the set in force and a restart finds it.

use sqlx::PgPool;

use super::StoreError;
use crate::reference::{ReferenceFiles, Versions};

/// The newest stored reference set and its sequence number.
pub async fn latest_reference_set(pool: &PgPool) -> Result<Option<(i64, ReferenceFiles)>, StoreError> {
    let row: Option<(i64, String, String, String, String)> = sqlx::query_as(
        "SELECT seq, catalog_toml, regions_toml, departments_toml, calendar_toml FROM reference_sets ORDER BY seq DESC LIMIT 1",
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(seq, catalog, regions, departments, calendar)| {
        (seq, ReferenceFiles { catalog, regions, departments, calendar })
    }))
}

/// The sequence number of the newest stored set, if any; cheaper than
/// [`latest_reference_set`] for checking whether another replica loaded one.
pub(crate) async fn newest_seq(pool: &PgPool) -> Result<Option<i64>, StoreError> {
    Ok(sqlx::query_scalar("SELECT max(seq) FROM reference_sets").fetch_one(pool).await?)
}

/// Records a reference set; returns its sequence number.
pub async fn insert_reference_set<'c, E: sqlx::PgExecutor<'c>>(
    executor: E,
    files: &ReferenceFiles,
    versions: &Versions,
    by: &str,
) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO reference_sets (catalog_version, regions_version, departments_version, calendar_version, \
         catalog_toml, regions_toml, departments_toml, calendar_toml, loaded_by, loaded_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now()) RETURNING seq",
    )
    .bind(&versions.catalog)
    .bind(&versions.regions)
    .bind(&versions.departments)
    .bind(&versions.calendar)
    .bind(&files.catalog)
    .bind(&files.regions)
    .bind(&files.departments)
    .bind(&files.calendar)
    .bind(by)
    .fetch_one(executor)
    .await?)
}
