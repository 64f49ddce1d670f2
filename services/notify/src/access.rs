//! Who may call each notify RPC (enforced by the kit's edge; see docs/access.md). Every RPC
//! serves the caller's own recipients only: which inboxes a caller reads is
//! [`Recipient::visible_to`](crate::domain::recipients::Recipient::visible_to).

use civicgrid_kit::access::{Rule, Scoping, Table};
use civicgrid_proto::v1::Role::{self, *};

/// Every role has an inbox of its own (a patrol member as a patrol supervisor, a citizen's app
/// as the reporter's).
const ANYONE: &[Role] = &[Admin, Center, CountyCenter, Department, GridWorker, Mediator, PatrolMember, CitizenApp];
/// Webhooks serve organisations (departments, centers, leaders), not people.
const ORGANISATIONS: &[Role] = &[Admin, Center, CountyCenter, Department];

const fn own(method: &'static str, roles: &'static [Role], what: &'static str) -> Rule {
    Rule { method, roles, scoping: Scoping::Own, what }
}

/// notify's table.
pub const ACCESS: Table = Table {
    service: "civicgrid.v1.NotifyService",
    rules: &[
        own("ListInbox", ANYONE, "read inboxes"),
        own("WatchInbox", ANYONE, "watch inboxes"),
        own("MarkRead", ANYONE, "mark notifications read"),
        own("Acknowledge", ANYONE, "acknowledge notifications"),
        own("RegisterWebhook", ORGANISATIONS, "register webhooks"),
        own("ListWebhooks", ORGANISATIONS, "list webhooks"),
        own("DeleteWebhook", ORGANISATIONS, "delete webhooks"),
        own("GetPreferences", ANYONE, "read notification preferences"),
        own("SetPreferences", ANYONE, "change notification preferences"),
        own("ListDeliveries", ANYONE, "read deliveries"),
    ],
};
