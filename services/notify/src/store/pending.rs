//! Task facts waiting for their event's reporters (`pending_reporter_facts`): a closure that
//! overtook its report is parked here until intake's fact about the event arrives. Both sides
//! hold `REPORTERS_LOCK` (`store/reporters.rs`).

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, types::Json};

use super::StoreError;
use crate::domain::facts::Fact;

/// Parks `waiting` facts, received at `now`, until their events' reporters are known; a fact
/// parked already stays as it is. No statement for none.
pub(crate) async fn park(tx: &mut PgConnection, waiting: &[&Fact], now: DateTime<Utc>) -> Result<(), StoreError> {
    if waiting.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO pending_reporter_facts (event_id, source_id, fact, created_at) \
         SELECT e, s, f, $4 FROM unnest($1::text[], $2::text[], $3::jsonb[]) AS p(e, s, f) \
         ON CONFLICT DO NOTHING",
    )
    .bind(waiting.iter().map(|f| f.event_id.clone()).collect::<Vec<_>>())
    .bind(waiting.iter().map(|f| f.source_event_id.clone()).collect::<Vec<_>>())
    .bind(waiting.iter().map(|f| f.to_json()).collect::<Vec<_>>())
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Takes (deletes and returns) the facts parked for `events`.
pub(crate) async fn take(tx: &mut PgConnection, events: &[String]) -> Result<Vec<Fact>, StoreError> {
    let kept: Vec<Json<Value>> =
        sqlx::query_scalar("DELETE FROM pending_reporter_facts WHERE event_id = ANY($1) RETURNING fact")
            .bind(events)
            .fetch_all(&mut *tx)
            .await?;
    Ok(kept.iter().filter_map(|k| Fact::from_json(&k.0)).collect())
}
