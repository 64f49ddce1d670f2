//! notify's stream, facts and consumers.

use civicgrid_proto::v1::NotifyEvent;

use crate::{Consumer, FactFamily, Stream, Subjects, Subscription, dispatch, intake, mediation, patrol};

/// The service name.
pub const SERVICE: &str = "notify";

/// A push delivery succeeded (`notify-delivered`) or was given up (`notify-failed`); each
/// carries a `civicgrid.v1.NotifyEvent`.
pub const NOTIFY_FACTS: FactFamily<NotifyEvent> = FactFamily::new(SERVICE, &["notify-delivered", "notify-failed"]);

/// `CIVICGRID_NOTIFY`.
pub const STREAM: Stream =
    Stream { service: SERVICE, published: &[NOTIFY_FACTS.published()], subjects: Subjects::Service };

/// Reports and merges tell reporters that their report arrived.
pub const INTAKE: Consumer = Consumer {
    service: SERVICE,
    durable: "notify-intake",
    source: intake::SERVICE,
    subscription: Subscription::Facts(&[intake::EVENT_REPORTED.name, intake::EVENT_MERGED.name]),
};

/// Every task fact notifies departments, centers, grid workers and reporters.
pub const DISPATCH: Consumer = Consumer {
    service: SERVICE,
    durable: "notify-dispatch",
    source: dispatch::SERVICE,
    subscription: Subscription::All,
};

/// Every case fact notifies justice offices, organisations, mediators, centers and police
/// stations (parties have no recipients on the bus: their contacts are mediation's own).
pub const MEDIATION: Consumer = Consumer {
    service: SERVICE,
    durable: "notify-mediation",
    source: mediation::SERVICE,
    subscription: Subscription::All,
};

/// Every patrol fact tells supervisors, the team's unit and centers of missed checkpoints, late
/// tours, members gone silent, findings and the daily presence. Its filter subjects are those of
/// `CIVICGRID_PATROL`, which holds the facts only: the members' positions
/// (`civicgrid.patrol.position.>`, a feed of their own) never reach notify.
pub const PATROL: Consumer =
    Consumer { service: SERVICE, durable: "notify-patrol", source: patrol::SERVICE, subscription: Subscription::All };
