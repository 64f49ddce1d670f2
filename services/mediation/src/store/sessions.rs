//! SQL on `sessions`: a case's mediation sessions, scheduled and then recorded as held or
//! adjourned.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use civicgrid_kit::time::to_proto;
use civicgrid_proto::v1::Session;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use super::StoreError;

/// A `sessions` row.
#[derive(Debug, Clone, FromRow)]
pub struct SessionRow {
    pub id: Uuid,
    pub case_id: Uuid,
    pub scheduled_at: DateTime<Utc>,
    pub place: String,
    pub status: String,
    pub attended_party_ids: Vec<Uuid>,
    pub record: String,
    pub recorded_at: Option<DateTime<Utc>>,
}

impl SessionRow {
    /// The session as answers show it.
    pub fn to_proto(&self) -> Session {
        Session {
            session_id: self.id.to_string(),
            scheduled_at: Some(to_proto(self.scheduled_at)),
            place: self.place.clone(),
            status: self.status.clone(),
            attended_party_ids: self.attended_party_ids.iter().map(Uuid::to_string).collect(),
            record: self.record.clone(),
            recorded_at: self.recorded_at.map(to_proto),
        }
    }
}

const COLUMNS: &str = "id, case_id, scheduled_at, place, status, attended_party_ids, record, recorded_at";

/// Writes a session: inserts a scheduled one, or records it as held or adjourned.
pub async fn save(tx: &mut PgConnection, s: &SessionRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO sessions (id, case_id, scheduled_at, place, status, attended_party_ids, record, recorded_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, attended_party_ids = EXCLUDED.attended_party_ids, \
           record = EXCLUDED.record, recorded_at = EXCLUDED.recorded_at",
    )
    .bind(s.id)
    .bind(s.case_id)
    .bind(s.scheduled_at)
    .bind(&s.place)
    .bind(&s.status)
    .bind(&s.attended_party_ids)
    .bind(&s.record)
    .bind(s.recorded_at)
    .execute(tx)
    .await?;
    Ok(())
}

/// The sessions of the cases `ids`, by case, each case's in the order they were scheduled.
pub async fn of_cases<'c, E: sqlx::PgExecutor<'c>>(
    executor: E,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<SessionRow>>, StoreError> {
    let rows: Vec<SessionRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM sessions WHERE case_id = ANY($1) ORDER BY case_id, id"
    )))
    .bind(ids)
    .fetch_all(executor)
    .await?;
    Ok(super::by_case(rows, |s| s.case_id))
}
