//! One warning-ticker round ([`Store::tick`]), set-based so a round costs a handful of
//! statements whatever its size.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use civicgrid_proto::v1::WarningColour;
use uuid::Uuid;

use super::system_actor;
use crate::{
    domain::warning::{self, EscalationReason},
    store::{Store, StoreError, Writes, facts, tasks},
};

impl Store {
    /// One ticker round, set-based: one statement claims every task whose next change is due
    /// by `now` (at most `batch`, the earliest first, rows other replicas or actions hold
    /// skipped); each gets its colour recomputed in memory, a change becoming `task-warning` and
    /// a due escalation `task-escalated`; then one statement updates the claimed rows (colour,
    /// escalation, next instant, version), one writes the facts, one the outgoing messages, and
    /// one appends the change-feed rows under the feed's lock. Returns how many tasks were
    /// visited.
    pub async fn tick(&self, now: DateTime<Utc>, batch: i64) -> Result<usize, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut rows = tasks::claim_due(&mut tx, now, batch).await?;
        if rows.is_empty() {
            tx.commit().await?;
            return Ok(0);
        }
        let visited = rows.len();
        // Reworks and returns escalate once per task: which candidates of this round already did,
        // in one query for the round.
        let candidates: Vec<Uuid> = rows
            .iter()
            .filter(|r| {
                warning::should_escalate(None, r.escalated, r.rework_count.max(0) as u32, &r.returned_by).is_some()
            })
            .map(|r| r.id)
            .collect();
        let done: HashSet<(Uuid, String)> =
            if candidates.is_empty() { HashSet::new() } else { facts::escalations_of(&mut tx, &candidates).await? };
        let mut w = Writes::default();
        let actor = system_actor();
        let refdata = self.refdata();
        for row in &mut rows {
            let before = row.colour;
            self.refresh_warning(row, now);
            if row.colour != before {
                row.version += 1;
                row.updated_at = now;
                let colour =
                    WarningColour::try_from(row.colour as i32).map(|c| c.as_str_name()).unwrap_or_default().to_string();
                w.record(row, "task-warning", &[], &actor, &colour, now);
                w.publish(&refdata, row, "task-warning", &actor, &colour, now);
            }
            let reason = self
                .escalation_reason(row, now)
                .filter(|r| *r == EscalationReason::Overdue || !done.contains(&(row.id, r.as_str().to_string())));
            if let Some(reason) = reason {
                self.escalate(&mut w, row, reason, now);
            }
        }
        // Unchanged rows get their next instant too (e.g. a later deadline after an extension).
        tasks::update_ticked(&mut tx, &rows).await?;
        let changed = w.finish(&mut tx).await?;
        tx.commit().await?;
        if changed {
            self.committed();
        }
        Ok(visited)
    }
}
