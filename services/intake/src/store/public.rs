//! What the public Open311 listing reads beside the events themselves: the latest status change
//! of each listed event and the department last named on it, in one statement for a page.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::FromRow;
use uuid::Uuid;

use super::{Store, StoreError};

/// The latest status change of an event.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct LatestChange {
    /// The event.
    pub event_id: Uuid,
    /// The fact that made it, e.g. `task-closed`.
    pub fact: String,
    /// When it happened at dispatch.
    pub at: DateTime<Utc>,
    /// The department last named on any change of the event; empty when none was.
    pub department_id: String,
}

impl Store {
    /// The latest status change of each of `events` that has one.
    pub async fn latest_changes(&self, events: &[Uuid]) -> Result<HashMap<Uuid, LatestChange>, StoreError> {
        if events.is_empty() {
            return Ok(HashMap::new());
        }
        let rows: Vec<LatestChange> = sqlx::query_as(
            "SELECT DISTINCT ON (h.event_id) h.event_id, h.fact, h.at, \
               COALESCE((SELECT d.department_id FROM status_history d \
                 WHERE d.event_id = h.event_id AND d.department_id <> '' ORDER BY d.seq DESC LIMIT 1), '') AS department_id \
             FROM status_history h WHERE h.event_id = ANY($1) ORDER BY h.event_id, h.seq DESC",
        )
        .bind(events)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|r| (r.event_id, r)).collect())
    }
}
