//! Escalation (督办): when a task must escalate and writing it. Overdue past the grace
//! escalates once per stage clock; three reworks or three returning departments once per task.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::system_actor;
use crate::{
    domain::warning::{self, EscalationReason},
    store::{Store, StoreError, Writes, facts},
    tasks::TaskRow,
};

impl Store {
    /// Why `row` must escalate now, if it must (see [`TaskRow::escalation_reason`]), on the
    /// calendar in force.
    pub(crate) fn escalation_reason(&self, row: &TaskRow, now: DateTime<Utc>) -> Option<EscalationReason> {
        row.escalation_reason(&self.refdata().calendar.calendar, now, self.grace)
    }

    /// Escalates `row` for `reason` in memory, with its fact and message in `w`; the caller
    /// writes the row.
    pub(crate) fn escalate(&self, w: &mut Writes, row: &mut TaskRow, reason: EscalationReason, now: DateTime<Utc>) {
        row.escalated = true;
        row.escalated_to = warning::escalation_target(&row.center_region).or_else(|| Some(row.center_region.clone()));
        self.refresh_warning(row, now);
        row.version += 1;
        row.updated_at = now;
        let actor = system_actor();
        w.record(row, "task-escalated", &[], &actor, reason.as_str(), now);
        w.publish(&self.refdata(), row, "task-escalated", &actor, reason.as_str(), now);
    }

    /// Escalates `row` when [`escalation_reason`](Self::escalation_reason) says so and, for
    /// reworks and returns, it has not escalated for that reason before. Returns whether it did;
    /// the caller writes the row.
    pub(crate) async fn escalate_if_due(
        &self,
        tx: &mut PgConnection,
        w: &mut Writes,
        row: &mut TaskRow,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let Some(reason) = self.escalation_reason(row, now) else { return Ok(false) };
        // Overdue escalates once per stage clock; too many reworks or returns once per task.
        if reason != EscalationReason::Overdue {
            let done = w.has_fact(row.id, "task-escalated", reason.as_str())
                || facts::escalated_for(tx, row.id, reason.as_str()).await?;
            if done {
                return Ok(false);
            }
        }
        self.escalate(w, row, reason, now);
        Ok(true)
    }
}
