//! Who may call each intake RPC (enforced by the kit's edge; see docs/access.md).

use civicgrid_kit::access::{Rule, Scoping, Table};
use civicgrid_proto::v1::Role::{self, *};

/// Roles that may report events: everyone with eyes on the ground or a desk; mediators take
/// disputes through mediation, not intake.
const REPORTERS: &[Role] = &[GridWorker, CitizenApp, PatrolMember, Department, Center, CountyCenter, Admin];

/// Roles that read events other than by tracking number, each within its scope.
pub(crate) const READERS: &[Role] = &[GridWorker, Department, Center, CountyCenter, Admin];

/// Roles that record the reporter's rating (回访): the citizen app on the reporter's behalf,
/// the command center's callback operator, and admins. Grid workers verify fixes (复核) but do
/// not call reporters back; departments must not rate their own work; county centers only
/// subscribe.
const RATERS: &[Role] = &[CitizenApp, Center, Admin];

/// Everyone: a reporter without a staff role proves knowledge of the reporter's phone.
const ANYONE: &[Role] = &[Admin, Center, CountyCenter, Department, GridWorker, Mediator, PatrolMember, CitizenApp];

/// intake's table.
pub const ACCESS: Table = Table {
    service: "civicgrid.v1.IntakeService",
    rules: &[
        Rule { method: "SubmitEvent", roles: REPORTERS, scoping: Scoping::Placed, what: "report events" },
        Rule { method: "GetEvent", roles: READERS, scoping: Scoping::Hidden, what: "read events" },
        Rule {
            method: "GetEventByTrackingNumber",
            roles: ANYONE,
            scoping: Scoping::Hidden,
            what: "look events up by tracking number",
        },
        Rule { method: "ListEvents", roles: READERS, scoping: Scoping::Filtered, what: "list events" },
        Rule { method: "RateOutcome", roles: RATERS, scoping: Scoping::Hidden, what: "rate outcomes" },
    ],
};
