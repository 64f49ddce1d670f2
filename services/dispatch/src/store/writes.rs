//! [`Writes`]: what one transaction writes about tasks, collected as it goes and written
//! together.
//!
//! Every change to a task, in one transaction: the row, its facts (audit and assessment), the
//! outgoing `TaskEvent` (outbox) and a change-feed row. Collecting them turns a round trip per
//! row into one multi-row statement per table; the change-feed rows go last, under the feed's
//! lock.

use chrono::{DateTime, Utc};
use civicgrid_contracts::dispatch::TASK_FACTS;
use civicgrid_kit::{
    bus::{Envelope, OutboxBatch},
    time::to_proto,
};
use civicgrid_proto::v1::{self as pb, Actor, TaskEvent};
use prost::Message;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{StoreError, changes::ChangeColumns, facts::FactColumns, tasks};
use crate::{SERVICE, domain::kpi::RecordedFact, reference::ReferenceData, tasks::TaskRow};

/// What a transaction writes about tasks, collected as it goes and written together: new task
/// rows, facts, outgoing messages (outbox) and change-feed rows, one multi-row statement per
/// table instead of a round trip per row. Task rows that change are updated by the caller.
#[derive(Default)]
pub struct Writes {
    tasks: Vec<TaskRow>,
    facts: FactColumns,
    outbox: OutboxBatch,
    changes: ChangeColumns,
}

impl Writes {
    /// Writes the new tasks, facts and outgoing messages collected so far, so later statements
    /// of the transaction see them. The change-feed rows wait for [`finish`](Self::finish).
    pub async fn write_rows(&mut self, tx: &mut PgConnection) -> Result<(), StoreError> {
        tasks::insert(tx, &self.tasks).await?;
        self.tasks.clear();
        self.facts.insert(tx).await?;
        self.outbox.insert(tx).await?;
        Ok(())
    }

    /// Writes everything, the change-feed rows last: make it the transaction's last statement
    /// before COMMIT. Returns whether any task changed (so watchers and the relay are woken).
    pub async fn finish(mut self, tx: &mut PgConnection) -> Result<bool, StoreError> {
        self.write_rows(tx).await?;
        Ok(self.changes.insert(tx).await? > 0)
    }

    /// Queues a new task row.
    pub(crate) fn add_task(&mut self, row: TaskRow) {
        self.tasks.push(row);
    }

    /// Whether a fact `fact` with `reason` about `task_id` waits to be written.
    pub(crate) fn has_fact(&self, task_id: Uuid, fact: &str, reason: &str) -> bool {
        self.facts.has(task_id, fact, reason)
    }

    /// Records a fact of `row` (audit and assessment).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn record(
        &mut self,
        row: &TaskRow,
        fact: &str,
        recorded: &[RecordedFact],
        actor: &Actor,
        reason: &str,
        at: DateTime<Utc>,
    ) {
        self.facts.push(row.id, fact, recorded, actor, reason, row.version, at);
    }

    /// Queues the `TaskEvent` for `fact` (outbox) and the change-feed row, shown in the feed of
    /// the task's department.
    pub(crate) fn publish(
        &mut self,
        refdata: &ReferenceData,
        row: &TaskRow,
        fact: &str,
        actor: &Actor,
        reason: &str,
        at: DateTime<Utc>,
    ) {
        self.publish_for(refdata, row, fact, actor, reason, at, row.department_id.as_deref())
    }

    /// [`publish`](Self::publish), with the department whose feed shows the change given (a
    /// task leaving a department still shows in the feed of the one it left).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn publish_for(
        &mut self,
        refdata: &ReferenceData,
        row: &TaskRow,
        fact: &str,
        actor: &Actor,
        reason: &str,
        at: DateTime<Utc>,
        feed_department: Option<&str>,
    ) {
        let region = row.region();
        let status = row.task_state().map(|s| s.status()).unwrap_or(pb::TaskStatus::Unspecified);
        let event = TaskEvent {
            task_id: row.id.to_string(),
            event_id: row.event_id.to_string(),
            fact: fact.to_string(),
            status: status as i32,
            department_id: row.department_id.clone().unwrap_or_default(),
            region: Some(region.clone()),
            version: row.version,
            occurred_at: Some(to_proto(at)),
            actor: Some(actor.clone()),
            lead: row.lead,
            colour: row.colour as i32,
            escalated: row.escalated,
            escalated_to: row.escalated_to.clone().unwrap_or_default(),
            reason: reason.to_string(),
            item_code: row.item_code.clone(),
            rework_count: row.rework_count.max(0) as u32,
            grid_worker_id: row
                .grid_code
                .as_deref()
                .and_then(|g| refdata.regions.grid(g).map(|g| g.grid_worker.clone()))
                .unwrap_or_default(),
            grid_code: row.grid_code.clone().unwrap_or_default(),
            tracking_number: row.tracking_number.clone(),
        };
        let envelope = Envelope::family(&TASK_FACTS, fact, &region, row.id, &event);
        self.outbox.add(SERVICE, &envelope, at);
        self.changes.push(row, fact, feed_department, at, row.to_proto(refdata, at).encode_to_vec());
    }
}
