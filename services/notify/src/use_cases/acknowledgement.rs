//! Notices that ask for acknowledgement (督办): acknowledging one publishes `notify-delivered`
//! for its inbox delivery; one nobody acknowledged in time is published as `notify-failed` and
//! escalates once more, as a `notify-unacknowledged` fact for the rules.

use chrono::{DateTime, Utc};
use civicgrid_kit::bus::outbox::OutboxRow;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    domain::{
        facts::{self, Fact},
        notices::NOT_ACKNOWLEDGED,
    },
    store::{Store, StoreError, deliveries, notifications, outbox},
};

impl Store {
    /// Acknowledges notification `id` at `now` (reading it too). The first acknowledgement
    /// stands; a repeat changes nothing.
    /// The first acknowledgement publishes `notify-delivered` for the notice's inbox delivery:
    /// only now has it been received.
    pub async fn acknowledge(&self, id: Uuid, request_id: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        // A notice already reported as not acknowledged in time keeps that verdict.
        if notifications::set_acknowledged(&mut tx, id, request_id, now).await? == Some(true) {
            let rows = inbox_verdicts(&mut tx, &[id], "notify-delivered", "", now).await?;
            outbox::insert(&mut tx, &rows).await?;
        }
        tx.commit().await?;
        self.signal.wake();
        Ok(())
    }

    /// Escalates, once, the notices due for acknowledgement at `now` that nobody acknowledged:
    /// each becomes a `notify-unacknowledged` fact for the rules. Returns how many escalated.
    pub async fn reescalate_due(&self, now: DateTime<Utc>, limit: i64) -> Result<usize, StoreError> {
        let mut tx = self.pool.begin().await?;
        let due = notifications::unacknowledged_due(&mut tx, now, limit).await?;
        if due.is_empty() {
            return Ok(0);
        }
        let ids: Vec<Uuid> = due.iter().map(|(id, _)| *id).collect();
        let facts: Vec<Fact> = due.iter().map(|(_, u)| facts::unacknowledged(u, self.offset)).collect();
        let recorded = self.record_facts(&mut tx, &facts, now).await?;
        notifications::mark_reescalated(&mut tx, &ids, now).await?;
        let verdicts = inbox_verdicts(&mut tx, &ids, "notify-failed", NOT_ACKNOWLEDGED, now).await?;
        outbox::insert(&mut tx, &verdicts).await?;
        let n = ids.len();
        tx.commit().await?;
        if n > 0 {
            self.committed(recorded);
        }
        Ok(n)
    }
}

/// `fact` (notify-delivered or notify-failed) for the inbox deliveries of `notifications`.
async fn inbox_verdicts(
    tx: &mut PgConnection,
    notifications: &[Uuid],
    fact: &str,
    error: &str,
    now: DateTime<Utc>,
) -> Result<Vec<OutboxRow>, StoreError> {
    let inbox = deliveries::inbox_of(tx, notifications).await?;
    Ok(inbox.iter().map(|d| outbox::verdict_row(d, fact, error, now)).collect())
}
