//! One round of the warning job: the cases whose next warning is due (claimed with `FOR UPDATE
//! SKIP LOCKED`, so replicas share them), a `case-warning` fact for each warning due (with its
//! deadline), the warnings recorded as given, and the next instant stored.

use chrono::{DateTime, Utc};

use super::system_actor;
use crate::{
    domain::deadlines,
    store::{Store, StoreError, Writes, case_facts::FactDetail, cases},
};

impl Store {
    /// Handles up to `limit` cases due at `now`; returns how many were claimed.
    pub async fn warn_due(&self, now: DateTime<Utc>, limit: i64) -> Result<usize, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut due = cases::claim_warnings_due(&mut tx, now, limit).await?;
        if due.is_empty() {
            tx.rollback().await?;
            return Ok(0);
        }
        let refdata = self.refdata();
        let actor = system_actor();
        let mut w = Writes::default();
        for case in &mut due {
            let clocks = case.row.clocks();
            let (warnings, _) =
                deadlines::warnings_due(&clocks, &refdata.calendar, &self.policy, &case.row.warnings_given, now);
            let mut facts = Vec::with_capacity(warnings.len());
            for (warning, deadline) in warnings {
                case.row.warnings_given.push(warning.key());
                facts.push((
                    "case-warning",
                    FactDetail { reason: warning.key(), deadline: Some(deadline.to_proto(now)), ..Default::default() },
                ));
            }
            if facts.is_empty() {
                // Nothing due after all (the set in force changed the deadlines): only the next
                // instant moves.
                case.row.refresh_deadlines(&refdata.calendar, &self.policy, now);
                cases::save(&mut tx, &case.row).await?;
            } else {
                self.write_change(&mut tx, &mut w, case, &facts, &actor, now).await?;
            }
        }
        let publishes = w.publishes();
        w.finish(&mut tx).await?;
        tx.commit().await?;
        if publishes {
            self.committed();
        }
        Ok(due.len())
    }
}
