//! Who may call each RPC: one [`Table`] per gRPC service, declared by the service beside its
//! server ([`Assembly::grpc`](crate::runtime::Assembly::grpc)) and enforced by the edge before
//! any handler runs. A role missing from an RPC's row is answered `PERMISSION_DENIED` naming
//! the role and what it may not do; the handler never sees the call.
//!
//! A row also says how the RPC's answers follow the caller's scope ([`Scoping`]): the handlers
//! do that part (they know the records), the table says what they promise, and the end-to-end
//! access test (tests/e2e/access.rs) holds both to it for every RPC, role and scope.
//! `civicgrid access` prints every table; docs/access.md is that print.

use std::collections::{BTreeSet, HashMap};

use civicgrid_proto::v1::Role;
use prost::Message;
use tonic::Status;

use crate::auth::Principal;

/// How an RPC's answers follow the caller's region, department or identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scoping {
    /// Nothing in the answer is tied to a place or an owner (reference data, catalogs).
    Open,
    /// The call creates something at a place or for an owner the request names: outside the
    /// caller's scope it answers `PERMISSION_DENIED` (places and owners are public codes).
    Placed,
    /// A list or a figure holds only what lies in the caller's scope; asking for a region or
    /// department outside it explicitly answers `PERMISSION_DENIED` (region codes and
    /// department ids are public names, not records).
    Filtered,
    /// A record outside the caller's scope answers `NOT_FOUND`, exactly as a missing one:
    /// no answer tells whether it exists.
    Hidden,
    /// Only the caller's own things (its inbox, its webhooks, its shift, its figures): another's
    /// answer `NOT_FOUND` by id, `PERMISSION_DENIED` by their public name.
    Own,
}

impl Scoping {
    /// The name used in docs/access.md and `civicgrid access`.
    pub fn name(self) -> &'static str {
        match self {
            Scoping::Open => "open",
            Scoping::Placed => "placed",
            Scoping::Filtered => "filtered",
            Scoping::Hidden => "hidden",
            Scoping::Own => "own",
        }
    }
}

/// One RPC's row.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// The method name as in the `.proto`, e.g. `SubmitEvent`.
    pub method: &'static str,
    /// The roles that may call it.
    pub roles: &'static [Role],
    /// How its answers follow the caller's scope.
    pub scoping: Scoping,
    /// What a call does, for the refusal: "role ROLE_CITIZEN_APP may not <read tasks>".
    pub what: &'static str,
}

/// The rows of one gRPC service.
#[derive(Debug, Clone, Copy)]
pub struct Table {
    /// The service's full name, e.g. `civicgrid.v1.IntakeService`.
    pub service: &'static str,
    /// One row per RPC.
    pub rules: &'static [Rule],
}

/// Every role a token can hold, in the order docs list them.
pub const ROLES: &[Role] = &[
    Role::Admin,
    Role::Center,
    Role::CountyCenter,
    Role::Department,
    Role::GridWorker,
    Role::Mediator,
    Role::PatrolMember,
    Role::CitizenApp,
];

/// The role's claim name, as tokens carry it (`county_center`).
pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::Admin => "admin",
        Role::Center => "center",
        Role::CountyCenter => "county_center",
        Role::Department => "department",
        Role::GridWorker => "grid_worker",
        Role::Mediator => "mediator",
        Role::PatrolMember => "patrol_member",
        Role::CitizenApp => "citizen_app",
        Role::Unspecified => "unspecified",
    }
}

/// A table that does not match the service it guards.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// The service is not in civicgrid's descriptor set.
    #[error("access table for {0}: no such gRPC service in civicgrid's .proto files")]
    UnknownService(String),
    /// RPCs without a row, rows without an RPC, or rows twice.
    #[error("access table for {service}: {problem}")]
    Mismatch {
        /// The service.
        service: String,
        /// What is wrong, naming the methods.
        problem: String,
    },
}

impl Table {
    /// The row of `method`.
    pub fn rule(&self, method: &str) -> Option<&'static Rule> {
        self.rules.iter().find(|r| r.method == method)
    }

    /// Checks that every RPC of the service has exactly one row and every row an RPC, against
    /// the service's `.proto` (so a new RPC cannot be served before someone decides who may
    /// call it).
    pub fn check(&self) -> Result<(), AccessError> {
        let methods = methods_of(self.service).ok_or_else(|| AccessError::UnknownService(self.service.into()))?;
        let mut seen = BTreeSet::new();
        let mut problems = Vec::new();
        for rule in self.rules {
            if !seen.insert(rule.method) {
                problems.push(format!("{} has two rows", rule.method));
            }
            if !methods.contains(rule.method) {
                problems.push(format!("{} is no RPC of the service", rule.method));
            }
            if rule.roles.is_empty() {
                problems.push(format!("{} allows no role", rule.method));
            }
        }
        let missing: Vec<&str> = methods.iter().filter(|m| !seen.contains(m.as_str())).map(String::as_str).collect();
        if !missing.is_empty() {
            problems.push(format!("no row for {}", missing.join(", ")));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(AccessError::Mismatch { service: self.service.into(), problem: problems.join("; ") })
        }
    }
}

/// The RPC names of `service` in civicgrid's descriptor set.
fn methods_of(service: &str) -> Option<BTreeSet<String>> {
    let set = prost_types::FileDescriptorSet::decode(civicgrid_proto::FILE_DESCRIPTOR_SET).ok()?;
    set.file.iter().find_map(|file| {
        let package = file.package();
        file.service
            .iter()
            .find(|s| format!("{package}.{}", s.name()) == service)
            .map(|s| s.method.iter().map(|m| m.name().to_string()).collect())
    })
}

/// The tables of what a process serves, looked up by request path.
#[derive(Debug, Default, Clone)]
pub struct Policy {
    rules: HashMap<String, &'static Rule>,
}

impl Policy {
    /// A policy of `tables`, each checked against its `.proto`.
    pub fn new(tables: &[&'static Table]) -> Result<Self, AccessError> {
        let mut rules = HashMap::new();
        for table in tables {
            table.check()?;
            for rule in table.rules {
                rules.insert(format!("/{}/{}", table.service, rule.method), rule);
            }
        }
        Ok(Policy { rules })
    }

    /// Whether `caller` may call the RPC at `path` (`/civicgrid.v1.IntakeService/SubmitEvent`).
    /// A path of no table passes: the server answers `UNIMPLEMENTED` for an unknown method.
    pub fn admit(&self, path: &str, caller: &Principal) -> Result<(), Status> {
        match self.rules.get(path) {
            Some(rule) if !rule.roles.contains(&caller.role) => {
                Err(Status::permission_denied(format!("role {} may not {}", caller.role.as_str_name(), rule.what)))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INTAKE: Table = Table {
        service: "civicgrid.v1.IntakeService",
        rules: &[
            Rule { method: "SubmitEvent", roles: &[Role::GridWorker], scoping: Scoping::Open, what: "report events" },
            Rule { method: "GetEvent", roles: &[Role::Center], scoping: Scoping::Hidden, what: "read events" },
        ],
    };

    fn caller(role: Role) -> Principal {
        Principal { subject: "s".into(), role, department_id: String::new(), region_scope: String::new() }
    }

    #[test]
    fn an_incomplete_table_names_the_rpcs_without_a_row() {
        let err = INTAKE.check().unwrap_err().to_string();
        assert!(err.contains("no row for GetEventByTrackingNumber, ListEvents, RateOutcome"), "{err}");
        let bogus = Table {
            service: "civicgrid.v1.IntakeService",
            rules: &[Rule { method: "Nope", roles: &[Role::Admin], scoping: Scoping::Open, what: "x" }],
        };
        assert!(bogus.check().unwrap_err().to_string().contains("Nope is no RPC"));
        let unknown = Table { service: "civicgrid.v1.Nothing", rules: &[] };
        assert!(matches!(unknown.check(), Err(AccessError::UnknownService(_))));
    }

    #[test]
    fn the_policy_admits_the_listed_roles_only() {
        let policy =
            Policy { rules: INTAKE.rules.iter().map(|r| (format!("/{}/{}", INTAKE.service, r.method), r)).collect() };
        let path = "/civicgrid.v1.IntakeService/SubmitEvent";
        assert!(policy.admit(path, &caller(Role::GridWorker)).is_ok());
        let denied = policy.admit(path, &caller(Role::CitizenApp)).unwrap_err();
        assert_eq!(denied.code(), tonic::Code::PermissionDenied);
        assert_eq!(denied.message(), "role ROLE_CITIZEN_APP may not report events");
        assert!(policy.admit("/civicgrid.v1.IntakeService/Unknown", &caller(Role::CitizenApp)).is_ok());
    }

    #[test]
    fn every_role_has_a_claim_name_that_parses_back() {
        for role in ROLES {
            assert_eq!(crate::auth::parse_role(role_name(*role)), Some(*role));
        }
    }
}
