//! SQL on `findings`: what members reported to intake from a shift.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::StoreError;

/// A `findings` row.
#[derive(Debug, Clone)]
pub struct FindingRow {
    pub id: Uuid,
    pub shift_id: Uuid,
    pub member_id: String,
    pub event_id: String,
    pub tracking_number: String,
    pub reported_at: DateTime<Utc>,
}

/// Inserts a finding.
pub async fn insert(tx: &mut PgConnection, f: &FindingRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO findings (id, shift_id, member_id, event_id, tracking_number, reported_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(f.id)
    .bind(f.shift_id)
    .bind(&f.member_id)
    .bind(&f.event_id)
    .bind(&f.tracking_number)
    .bind(f.reported_at)
    .execute(tx)
    .await?;
    Ok(())
}
