//! Housekeeping (run by `crate::housekeeping`): old idempotency answers, the tracking
//! sequences of past days, and the personal data of reporters of long-closed events.

use chrono::{DateTime, Duration, Utc};

use super::{Store, StoreError};
use crate::domain::tracking;

impl Store {
    /// Forgets idempotency answers (of SubmitEvent and RateOutcome) older than `keep_answers` and drops the tracking sequences
    /// of days before yesterday (local time), so neither grows without bound.
    pub async fn housekeeping(&self, now: DateTime<Utc>, keep_answers: Duration) -> Result<(u64, usize), StoreError> {
        let mut forgotten = 0;
        for sql in
            ["DELETE FROM submissions WHERE created_at < $1", "DELETE FROM rating_requests WHERE created_at < $1"]
        {
            forgotten += sqlx::query(sql).bind(now - keep_answers).execute(&self.pool).await?.rows_affected();
        }
        let yesterday = tracking::day_of(now - Duration::days(1), self.offset);
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind = 'S' AND n.nspname = current_schema() AND c.relname LIKE 'tracking\\_%'",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut dropped = 0;
        for name in names {
            if let Some(safe) = tracking::expired_sequence(&name, &yesterday) {
                sqlx::query(sqlx::AssertSqlSafe(format!("DROP SEQUENCE IF EXISTS {safe}"))).execute(&self.pool).await?;
                dropped += 1;
            }
        }
        Ok((forgotten, dropped))
    }

    /// Erases the personal data of the reporters of events closed before `now - keep`: their
    /// sealed name and phone, the masked phone and the account id; returns how many reporters.
    /// An event reopened since (its status no longer CLOSED) keeps its reporters.
    pub async fn erase_closed_reporters(&self, now: DateTime<Utc>, keep: Duration) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE reporters r SET name_sealed = NULL, phone_sealed = NULL, phone_masked = '', account_id = '', \
               erased_at = $1 \
             WHERE r.erased_at IS NULL AND r.id IN ( \
               SELECT rp.reporter_id FROM reports rp JOIN events e ON e.id = rp.event_id \
               WHERE e.status = 6 \
                 AND (SELECT max(h.at) FROM status_history h WHERE h.event_id = e.id AND h.status = 6) < $2)",
        )
        .bind(now)
        .bind(now - keep)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}
