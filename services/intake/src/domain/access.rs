//! Who may read which events ([`Access`]), one rule for GetEvent, GetEventByTrackingNumber,
//! ListEvents and RateOutcome (the table in docs/grpc.md, "Who may read which events").
//! Region and grid scopes are the kit's ([`civicgrid_kit::auth::Scope`]).

use civicgrid_kit::auth::{Principal, Scope};
use civicgrid_proto::v1::{Event, Role};

/// What a caller may read of intake's events by id and in listings.
#[derive(Debug, Clone, PartialEq)]
pub enum Access {
    /// The events located in a scope (everywhere for an unscoped administrator or center).
    Area(Scope),
    /// A department: the events of its own tasks, and of those only the ones in its scope.
    Department {
        /// The caller's department.
        department_id: String,
        /// The caller's region scope (everywhere when the token names none).
        scope: Scope,
    },
    /// Nothing by id or listing: citizens' apps, mediators and patrol members (they follow
    /// events by tracking number with a proof), a grid worker without a scope, a department
    /// token without a department.
    None,
}

impl Access {
    /// What `caller` may read.
    pub fn of(caller: &Principal) -> Self {
        match caller.role {
            Role::Admin | Role::Center | Role::CountyCenter => Access::Area(caller.scope()),
            // A grid worker's authority is his grid or village: without one, nothing.
            Role::GridWorker if !caller.region_scope.is_empty() => Access::Area(caller.scope()),
            Role::Department if !caller.department_id.is_empty() => {
                Access::Department { department_id: caller.department_id.clone(), scope: caller.scope() }
            }
            _ => Access::None,
        }
    }

    /// The scope a caller's reads are held to, or `None` when it reads nothing.
    pub fn scope(&self) -> Option<&Scope> {
        match self {
            Access::Area(scope) | Access::Department { scope, .. } => Some(scope),
            Access::None => None,
        }
    }

    /// The department whose tasks limit the caller's reads, if any.
    pub fn department(&self) -> Option<&str> {
        match self {
            Access::Department { department_id, .. } => Some(department_id),
            _ => None,
        }
    }

    /// Whether `event` lies where the caller may read (a department must also have a task on
    /// it, which the caller of this function checks with the store).
    pub fn covers(&self, event: &Event) -> bool {
        let location = event.location.clone().unwrap_or_default();
        let region = location.region.unwrap_or_default();
        self.scope().is_some_and(|s| s.covers(&region, &location.grid_code))
    }
}

#[cfg(test)]
mod tests {
    use civicgrid_kit::region;
    use civicgrid_proto::v1::Location;

    use super::*;

    fn caller(role: Role, department_id: &str, scope: &str) -> Principal {
        Principal { subject: "u".into(), role, department_id: department_id.into(), region_scope: scope.into() }
    }

    fn event(grid: &str) -> Event {
        let region = region::path_of_grid(grid).unwrap();
        Event {
            location: Some(Location { grid_code: grid.into(), region: Some(region), ..Default::default() }),
            ..Default::default()
        }
    }

    #[test]
    fn roles_and_scopes() {
        let e = event("411602001001003");
        assert!(Access::of(&caller(Role::Admin, "", "")).covers(&e));
        assert!(Access::of(&caller(Role::Center, "", "411600")).covers(&e));
        assert!(!Access::of(&caller(Role::CountyCenter, "", "411603")).covers(&e));
        assert!(Access::of(&caller(Role::GridWorker, "", "411602001001003")).covers(&e));
        assert!(!Access::of(&caller(Role::GridWorker, "", "411602001001004")).covers(&e));
        assert_eq!(Access::of(&caller(Role::GridWorker, "", "")), Access::None);
        assert_eq!(Access::of(&caller(Role::Department, "", "411602")), Access::None);
        for role in [Role::CitizenApp, Role::Mediator, Role::PatrolMember] {
            assert_eq!(Access::of(&caller(role, "d", "")), Access::None, "{role:?}");
            assert!(!Access::None.covers(&e));
        }
        let dept = Access::of(&caller(Role::Department, "chengguan", "411603"));
        assert_eq!(dept.department(), Some("chengguan"));
        assert!(!dept.covers(&e), "a department in another county");
        assert!(Access::of(&caller(Role::Department, "chengguan", "")).covers(&e));
    }
}
