//! intake's stream, facts and consumer.

use civicgrid_proto::v1::{EventMerged, EventRated, EventReported};

use crate::{Consumer, Fact, Stream, Subjects, Subscription, dispatch};

/// The service name.
pub const SERVICE: &str = "intake";

/// A report opened a new event.
pub const EVENT_REPORTED: Fact<EventReported> = Fact::new(SERVICE, "event-reported");
/// A report was merged into an open event of the same thing.
pub const EVENT_MERGED: Fact<EventMerged> = Fact::new(SERVICE, "event-merged");
/// The reporter rated the outcome (回访).
pub const EVENT_RATED: Fact<EventRated> = Fact::new(SERVICE, "event-rated");

/// `CIVICGRID_INTAKE`.
pub const STREAM: Stream = Stream {
    service: SERVICE,
    published: &[EVENT_REPORTED.published(), EVENT_MERGED.published(), EVENT_RATED.published()],
    subjects: Subjects::Service,
};

/// Every task fact of dispatch keeps each event's public status current.
pub const TASK_STATUS: Consumer = Consumer {
    service: SERVICE,
    durable: "intake-task-status",
    source: dispatch::SERVICE,
    subscription: Subscription::All,
};
