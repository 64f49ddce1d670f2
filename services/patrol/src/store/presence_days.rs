//! SQL on `presence_days`: the local days whose `presence-daily` facts were published, so each
//! day is published once (by whichever replica claims it).

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;

use super::StoreError;

/// Claims `day` for publishing; false when it was published already.
pub async fn claim(tx: &mut PgConnection, day: NaiveDate, now: DateTime<Utc>) -> Result<bool, StoreError> {
    Ok(sqlx::query("INSERT INTO presence_days (day, published_at) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(day)
        .bind(now)
        .execute(tx)
        .await?
        .rows_affected()
        == 1)
}
