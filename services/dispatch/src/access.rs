//! Who may call each dispatch RPC (enforced by the kit's edge; see docs/access.md). Which tasks
//! a caller reaches is [`Visibility`](crate::visibility::Visibility)'s, and who may take an
//! action on a reached task is the lifecycle's (domain/lifecycle/permissions.rs): a department
//! only on its own tasks, a center within its region.

use civicgrid_kit::access::{Rule, Scoping, Table};
use civicgrid_proto::v1::Role::{self, *};

/// Roles that read tasks, each within its visibility.
const READERS: &[Role] = &[Admin, Center, CountyCenter, Department, GridWorker];
/// The command center's decisions.
const CENTERS: &[Role] = &[Admin, Center];
/// A department's own work; a grid worker's on a task the grid handles itself.
const HANDLERS: &[Role] = &[Department, GridWorker];
/// Verification (复核): the task's grid worker or a center.
const VERIFIERS: &[Role] = &[Admin, Center, GridWorker];
/// Anyone: reference versions say which data the suite runs on.
const ANYONE: &[Role] = &[Admin, Center, CountyCenter, Department, GridWorker, Mediator, PatrolMember, CitizenApp];

const fn hidden(method: &'static str, roles: &'static [Role], what: &'static str) -> Rule {
    Rule { method, roles, scoping: Scoping::Hidden, what }
}

/// dispatch's table.
pub const ACCESS: Table = Table {
    service: "civicgrid.v1.DispatchService",
    rules: &[
        Rule { method: "ListTasks", roles: READERS, scoping: Scoping::Filtered, what: "read tasks" },
        hidden("GetTask", READERS, "read tasks"),
        Rule { method: "WatchTasks", roles: READERS, scoping: Scoping::Filtered, what: "watch tasks" },
        hidden("Triage", CENTERS, "triage tasks"),
        hidden("Dismiss", CENTERS, "dismiss tasks"),
        hidden("SignFor", HANDLERS, "sign for tasks"),
        hidden("ReturnTask", HANDLERS, "return tasks"),
        hidden("RequestExtension", HANDLERS, "request extensions"),
        hidden("ApproveExtension", CENTERS, "approve extensions"),
        hidden("RefuseExtension", CENTERS, "refuse extensions"),
        hidden("Suspend", CENTERS, "suspend tasks"),
        hidden("Resume", CENTERS, "resume tasks"),
        hidden("Resolve", HANDLERS, "resolve tasks"),
        hidden("Verify", VERIFIERS, "verify fixes"),
        hidden("RejectVerification", VERIFIERS, "reject fixes"),
        hidden("Close", CENTERS, "close tasks"),
        Rule {
            method: "GetKpis",
            roles: &[Admin, Center, CountyCenter, Department],
            scoping: Scoping::Filtered,
            what: "read assessment figures",
        },
        Rule {
            method: "GetGridWorkerKpis",
            roles: &[Admin, Center, CountyCenter, GridWorker],
            scoping: Scoping::Own,
            what: "read grid workers' figures",
        },
        Rule { method: "GetReferenceVersions", roles: ANYONE, scoping: Scoping::Open, what: "read reference versions" },
        Rule { method: "LoadReferenceData", roles: &[Admin], scoping: Scoping::Open, what: "load reference data" },
    ],
};
