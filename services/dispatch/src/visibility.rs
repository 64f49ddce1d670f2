//! Which tasks a caller may see ([`Visibility`]): an administrator everything, a department
//! its own tasks, a center or grid worker the tasks in its region or grid. Pure: listings,
//! the change feed and actions all ask it, so one rule decides.

use civicgrid_kit::auth::{Principal, Scope};
use civicgrid_proto::v1::Role;

use crate::tasks::TaskRow;

/// Which tasks a caller may see.
#[derive(Debug, Clone, PartialEq)]
pub enum Visibility {
    /// Everything (administrators).
    All,
    /// One department's tasks.
    Department(String),
    /// Tasks located in a region scope (any level, or a 15-digit grid; empty = everywhere).
    Region(String),
    /// Nothing.
    None,
}

impl Visibility {
    /// What `caller` may see.
    pub fn of(caller: &Principal) -> Self {
        match caller.role {
            Role::Admin if caller.region_scope.is_empty() => Visibility::All,
            // A grid worker's authority is his grid or village: without one, nothing.
            Role::GridWorker if caller.region_scope.is_empty() => Visibility::None,
            Role::Admin | Role::Center | Role::CountyCenter | Role::GridWorker => {
                Visibility::Region(caller.region_scope.clone())
            }
            Role::Department if !caller.department_id.is_empty() => {
                Visibility::Department(caller.department_id.clone())
            }
            _ => Visibility::None,
        }
    }

    /// Whether a task is visible.
    pub fn sees(&self, row: &TaskRow) -> bool {
        match self {
            Visibility::All => true,
            Visibility::Department(d) => row.department_id.as_deref() == Some(d.as_str()),
            // The kit's scope rule: a grid scope (a grid worker's) covers its grid only.
            Visibility::Region(scope) => {
                Scope::parse(scope).covers(&row.region(), row.grid_code.as_deref().unwrap_or_default())
            }
            Visibility::None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use civicgrid_kit::region;
    use civicgrid_proto::v1::{Event, EventReported, Location};
    use uuid::Uuid;

    use super::*;
    use crate::{planning::plan_tasks, reference::ReferenceData};

    fn caller(role: Role, department_id: &str, region_scope: &str) -> Principal {
        Principal {
            subject: "someone".into(),
            role,
            department_id: department_id.into(),
            region_scope: region_scope.into(),
        }
    }

    /// A task of `department` in village 411602001001, grid 411602001001001: planned as
    /// dispatch plans a new one (an unknown item waits for triage), then handed to `department`.
    fn task(department: Option<&str>) -> TaskRow {
        let refdata = ReferenceData::shipped().unwrap();
        let event = Event {
            item_code: "no-such-item".into(),
            location: Some(Location {
                region: Some(region::path_of("411602001001").unwrap()),
                grid_code: "411602001001001".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let reported = EventReported { event: Some(event.clone()), ..Default::default() };
        let mut planned = plan_tasks(&refdata, Uuid::now_v7(), &reported, &event, Utc::now(), 0.5);
        let mut row = planned.remove(0).row;
        row.department_id = department.map(str::to_string);
        row
    }

    #[test]
    fn roles_map_to_visibility() {
        assert_eq!(Visibility::of(&caller(Role::Admin, "", "")), Visibility::All);
        assert_eq!(Visibility::of(&caller(Role::Admin, "", "411602")), Visibility::Region("411602".into()));
        assert_eq!(Visibility::of(&caller(Role::Center, "", "411602001")), Visibility::Region("411602001".into()));
        assert_eq!(Visibility::of(&caller(Role::GridWorker, "", "")), Visibility::None);
        assert_eq!(Visibility::of(&caller(Role::Department, "d1", "")), Visibility::Department("d1".into()));
        assert_eq!(Visibility::of(&caller(Role::Department, "", "")), Visibility::None);
        assert_eq!(Visibility::of(&caller(Role::Unspecified, "", "")), Visibility::None);
    }

    #[test]
    fn a_department_sees_only_its_own_tasks() {
        let v = Visibility::Department("d1".into());
        assert!(v.sees(&task(Some("d1"))));
        assert!(!v.sees(&task(Some("d2"))));
        assert!(!v.sees(&task(None)));
    }

    #[test]
    fn a_region_sees_the_tasks_inside_it() {
        let t = task(None);
        for scope in ["", "411600", "411602", "411602001", "411602001001"] {
            assert!(Visibility::Region(scope.into()).sees(&t), "{scope}");
        }
        for scope in ["411603", "411602002", "411602001002"] {
            assert!(!Visibility::Region(scope.into()).sees(&t), "{scope}");
        }
    }

    #[test]
    fn a_grid_scope_sees_only_its_grid() {
        let t = task(None);
        assert!(Visibility::Region("411602001001001".into()).sees(&t));
        assert!(!Visibility::Region("411602001001002".into()).sees(&t));
        let mut elsewhere = task(None);
        elsewhere.grid_code = None;
        assert!(!Visibility::Region("411602001001001".into()).sees(&elsewhere));
    }

    #[test]
    fn all_and_none() {
        assert!(Visibility::All.sees(&task(None)));
        assert!(!Visibility::None.sees(&task(Some("d1"))));
    }
}
