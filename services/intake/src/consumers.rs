//! Bus handlers: dispatch's task facts keep each event's public status current, a batch at a
//! time (falling back to one at a time when a batch holds something it cannot apply).

use civicgrid_kit::bus::{HandleError, Handler, Incoming, inbox::BoxFuture};
use civicgrid_proto::v1::TaskEvent;
use sqlx::PgConnection;

use crate::store::{self, TaskApply};

/// Applies `civicgrid.v1.TaskEvent` facts to events' public status (consumer contract
/// `civicgrid_contracts::intake::TASK_STATUS`).
pub struct TaskStatusHandler;

impl Handler for TaskStatusHandler {
    fn apply_batch<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        msgs: &'a [&'a Incoming],
    ) -> BoxFuture<'a, Result<(), HandleError>> {
        Box::pin(async move {
            let mut facts = Vec::with_capacity(msgs.len());
            for msg in msgs {
                match msg.ce_type() {
                    Some(_) if msg.carries::<TaskEvent>() => facts.push(msg.decode::<TaskEvent>()?),
                    Some(_) => {}
                    None => return Err(HandleError::Permanent("no ce-type header".into())),
                }
            }
            match store::apply_task_events(tx, &facts).await? {
                Some(stale) => {
                    if stale > 0 {
                        tracing::debug!(stale, "stale task facts ignored");
                    }
                    Ok(())
                }
                // The runner applies them one by one, and the unknown one is dead-lettered.
                None => Err(HandleError::Transient("a fact of the batch names an unknown event".into())),
            }
        })
    }

    fn apply<'a>(&'a self, tx: &'a mut PgConnection, msg: &'a Incoming) -> BoxFuture<'a, Result<(), HandleError>> {
        Box::pin(async move {
            match msg.ce_type() {
                Some(_) if msg.carries::<TaskEvent>() => {}
                // Other dispatch facts (KPI snapshots and the like) say nothing to intake.
                Some(_) => return Ok(()),
                None => return Err(HandleError::Permanent("no ce-type header".into())),
            }
            let fact: TaskEvent = msg.decode()?;
            match store::apply_task_event(tx, &fact).await? {
                TaskApply::Applied => Ok(()),
                TaskApply::Stale => {
                    tracing::debug!(task = %fact.task_id, version = fact.version, "stale task fact ignored");
                    Ok(())
                }
                TaskApply::UnknownEvent => Err(HandleError::Permanent(format!("unknown event `{}`", fact.event_id))),
            }
        })
    }

    /// A task fact is applied only when its `version` is newer than the one `event_tasks` holds
    /// for the task, read under the event row's lock (`FOR UPDATE`): a fact applied again is
    /// stale and writes nothing, so the consumer keeps no inbox rows (one a task fact).
    fn idempotent(&self) -> bool {
        true
    }
}
