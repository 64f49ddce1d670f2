//! Who may call each patrol RPC (enforced by the kit's edge; see docs/access.md). Which teams,
//! places, routes and shifts a caller reaches is its region scope; a walker's shift, positions
//! and findings are their own.

use civicgrid_kit::access::{Rule, Scoping, Table};
use civicgrid_proto::v1::Role::{self, *};

/// Roles that manage teams, places, routes and shifts (in their region).
const MANAGERS: &[Role] = &[Admin, Center];
/// Roles that read them (in their region).
const READERS: &[Role] = &[Admin, Center, CountyCenter, Department, PatrolMember, GridWorker];
/// Roles that walk shifts.
const WALKERS: &[Role] = &[PatrolMember, GridWorker, Admin];
/// Roles that are out on the ground.
const MEMBERS: &[Role] = &[PatrolMember, GridWorker];
/// Roles that read coverage and presence figures (in their region).
const ANALYSTS: &[Role] = &[Admin, Center, CountyCenter, Department];

const fn rule(method: &'static str, roles: &'static [Role], scoping: Scoping, what: &'static str) -> Rule {
    Rule { method, roles, scoping, what }
}

/// patrol's table.
pub const ACCESS: Table = Table {
    service: "civicgrid.v1.PatrolService",
    rules: &[
        rule("PutTeam", MANAGERS, Scoping::Placed, "manage teams"),
        rule("ListTeams", READERS, Scoping::Filtered, "list teams"),
        rule("PutPlace", MANAGERS, Scoping::Placed, "manage key places"),
        rule("ListPlaces", READERS, Scoping::Filtered, "list key places"),
        rule("PutRoute", MANAGERS, Scoping::Placed, "manage routes"),
        rule("GetRoute", READERS, Scoping::Hidden, "read routes"),
        rule("ListRoutes", READERS, Scoping::Filtered, "list routes"),
        rule("ScheduleShift", MANAGERS, Scoping::Placed, "schedule shifts"),
        rule("CancelShift", MANAGERS, Scoping::Hidden, "cancel shifts"),
        rule("StartShift", WALKERS, Scoping::Own, "start shifts"),
        rule("EndShift", &[PatrolMember, GridWorker, Center, Admin], Scoping::Own, "end shifts"),
        rule("GetShift", READERS, Scoping::Hidden, "read shifts"),
        rule("ListShifts", READERS, Scoping::Filtered, "list shifts"),
        rule("SendPositions", WALKERS, Scoping::Own, "send positions"),
        rule("CheckIn", MEMBERS, Scoping::Own, "check in"),
        rule("ReportFinding", MEMBERS, Scoping::Own, "report findings"),
        rule("GetTrack", &[Admin, Center, CountyCenter, PatrolMember, GridWorker], Scoping::Own, "read tracks"),
        rule("GetCoverage", ANALYSTS, Scoping::Filtered, "read coverage"),
        rule("GetPresence", ANALYSTS, Scoping::Filtered, "read presence"),
    ],
};
