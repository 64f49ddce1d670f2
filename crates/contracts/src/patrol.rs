//! patrol's stream of facts and its feed of positions.

use civicgrid_proto::v1::{PatrolEvent, PositionFix};

use crate::{FactFamily, Feed, Stream, Subjects};

/// The service name.
pub const SERVICE: &str = "patrol";

/// Every patrol fact (docs/patrol.md); each carries a `civicgrid.v1.PatrolEvent` whose `fact`
/// field repeats the name.
pub const FACTS: FactFamily<PatrolEvent> = FactFamily::new(
    SERVICE,
    &[
        "shift-scheduled",
        "shift-started",
        "shift-ended",
        "shift-cancelled",
        "checkpoint-checked-in",
        "checkpoint-missed",
        "tour-completed",
        "tour-late",
        "member-offline",
        "member-online",
        "finding-reported",
        "presence-daily",
    ],
);

/// `CIVICGRID_PATROL`: the facts only, so that the positions under `civicgrid.patrol.position.>`
/// stay in [`POSITIONS`].
pub const STREAM: Stream = Stream { service: SERVICE, published: &[FACTS.published()], subjects: Subjects::Facts };

/// `CIVICGRID_PATROL_POSITIONS`: the members' devices publish a `civicgrid.v1.PositionFix` on
/// `civicgrid.patrol.position.<city>.<county>.<township>.<village>`; patrol reads them through
/// `patrol-positions`. The stream keeps a message only `patrol.fix_max_age_secs` (an older fix
/// would be refused anyway); the stored tracks are kept `patrol.position_retention_hours`.
pub const POSITIONS: Feed = Feed {
    service: SERVICE,
    name: "CIVICGRID_PATROL_POSITIONS",
    token: "position",
    durable: "patrol-positions",
    message: <PositionFix as prost::Name>::full_name,
};
