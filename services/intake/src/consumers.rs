//! Bus handlers: dispatch's task facts keep each event's public status current.

use civicgrid_kit::bus::{HandleError, Handler, Incoming, inbox::BoxFuture};
use civicgrid_proto::v1::TaskEvent;
use prost::Message;
use sqlx::PgConnection;

use crate::store::{self, TaskApply};

/// The durable consumer name of [`TaskStatusHandler`].
pub const TASK_STATUS_CONSUMER: &str = "intake-task-status";

/// The subjects it reads: every fact dispatch publishes.
pub fn task_status_subjects() -> Vec<String> {
    vec!["civicgrid.dispatch.>".to_string()]
}

/// Applies `civicgrid.v1.TaskEvent` facts to events' public status.
pub struct TaskStatusHandler;

impl Handler for TaskStatusHandler {
    fn apply<'a>(&'a self, tx: &'a mut PgConnection, msg: &'a Incoming) -> BoxFuture<'a, Result<(), HandleError>> {
        Box::pin(async move {
            match msg.ce_type() {
                Some("civicgrid.v1.TaskEvent") => {}
                // Other dispatch facts (KPI snapshots and the like) say nothing to intake.
                Some(_) => return Ok(()),
                None => return Err(HandleError::Permanent("no ce-type header".into())),
            }
            let fact = TaskEvent::decode(msg.payload.clone())?;
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
}
