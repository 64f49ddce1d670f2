//! dispatch's stream, task facts and consumer.

use civicgrid_proto::v1::TaskEvent;

use crate::{Consumer, FactFamily, Stream, Subjects, Subscription, intake};

/// The service name.
pub const SERVICE: &str = "dispatch";

/// Every task fact (docs/events.md, "The facts"); each carries a `civicgrid.v1.TaskEvent`
/// whose `fact` field repeats the name.
pub const TASK_FACTS: FactFamily<TaskEvent> = FactFamily::new(
    SERVICE,
    &[
        "task-awaiting-triage",
        "task-assigned",
        "task-signed",
        "task-returned",
        "task-extension-requested",
        "task-extended",
        "task-extension-refused",
        "task-suspended",
        "task-resumed",
        "task-resolved",
        "task-verified",
        "task-reworked",
        "task-closed",
        "task-reopened",
        "task-warning",
        "task-escalated",
    ],
);

/// `CIVICGRID_DISPATCH`.
pub const STREAM: Stream =
    Stream { service: SERVICE, published: &[TASK_FACTS.published()], subjects: Subjects::Service };

/// Reported events become tasks; ratings close or reopen them.
pub const INTAKE: Consumer = Consumer {
    service: SERVICE,
    durable: "dispatch-intake",
    source: intake::SERVICE,
    subscription: Subscription::Facts(&[intake::EVENT_REPORTED.name, intake::EVENT_RATED.name]),
};
