//! How a caller stands to a case: who may see it, and with what standing they act
//! ([`Standing`] is what the state machine checks). A mediator sees the cases assigned to them;
//! an organisation (a department token whose `department_id` is the organisation's id) its
//! own; a justice office (a department token `<region>-sifa`) the cases in its region; a
//! center or county center its region; an admin everything.

use civicgrid_kit::{
    auth::{Principal, Scope},
    region,
};
use civicgrid_proto::v1::{RegionPath, Role};

use super::case::Standing;

/// What a listing may show a caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visibility {
    /// Every case.
    All,
    /// The cases assigned to this mediator.
    Mediator(String),
    /// The cases of this organisation.
    Organisation(String),
    /// The cases inside this region (any level).
    Region(String),
    /// Nothing.
    Nothing,
}

/// The region a justice office serves: its department id is `<region code>-<kind>` with a kind
/// of `justice_kinds`.
pub fn justice_office_region<'a>(department_id: &'a str, justice_kinds: &[String]) -> Option<&'a str> {
    let (code, kind) = department_id.split_once('-')?;
    (justice_kinds.iter().any(|k| k == kind) && region::level(code).is_ok()).then_some(code)
}

/// Whether `department_id` names an organisation of the reference data.
pub type IsOrganisation<'a> = &'a dyn Fn(&str) -> bool;

/// What `caller` may list.
pub fn visibility(caller: &Principal, justice_kinds: &[String], is_organisation: IsOrganisation<'_>) -> Visibility {
    match caller.role {
        Role::Admin if caller.region_scope.is_empty() => Visibility::All,
        Role::Admin => Visibility::Region(caller.region_scope.clone()),
        Role::Mediator => Visibility::Mediator(caller.subject.clone()),
        Role::Department if is_organisation(&caller.department_id) => {
            Visibility::Organisation(caller.department_id.clone())
        }
        Role::Department => match justice_office_region(&caller.department_id, justice_kinds) {
            Some(code) => Visibility::Region(code.to_string()),
            None => Visibility::Nothing,
        },
        Role::Center | Role::CountyCenter if caller.region_scope.is_empty() => Visibility::All,
        Role::Center | Role::CountyCenter => Visibility::Region(caller.region_scope.clone()),
        _ => Visibility::Nothing,
    }
}

/// What the standing checks need of a case.
#[derive(Debug, Clone, Copy)]
pub struct CaseScope<'a> {
    /// The case's organisation.
    pub organisation_id: &'a str,
    /// Its mediator, if any.
    pub mediator_id: &'a str,
    /// Where it is.
    pub path: &'a RegionPath,
}

/// How `caller` stands to the case; `None` when they may not see it at all.
pub fn standing(
    caller: &Principal,
    case: CaseScope<'_>,
    justice_kinds: &[String],
    is_organisation: IsOrganisation<'_>,
) -> Option<Standing> {
    match visibility(caller, justice_kinds, is_organisation) {
        Visibility::All if caller.role == Role::Admin => Some(Standing::Admin),
        Visibility::All if caller.role == Role::Center => Some(Standing::Center),
        Visibility::All => Some(Standing::Reader),
        Visibility::Mediator(id) => {
            (!case.mediator_id.is_empty() && id == case.mediator_id).then_some(Standing::Mediator)
        }
        Visibility::Organisation(id) => (id == case.organisation_id).then_some(Standing::Organisation),
        Visibility::Region(code) if Scope::parse(&code).covers(case.path, "") => Some(match caller.role {
            Role::Admin => Standing::Admin,
            Role::Department => Standing::JusticeOffice,
            Role::Center => Standing::Center,
            _ => Standing::Reader,
        }),
        Visibility::Region(_) | Visibility::Nothing => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(role: Role, sub: &str, department: &str, scope: &str) -> Principal {
        Principal { subject: sub.into(), role, department_id: department.into(), region_scope: scope.into() }
    }

    #[test]
    fn each_role_sees_its_own() {
        let kinds = vec!["sifa".to_string()];
        let is_org = |id: &str| id.ends_with("-tw");
        let path = region::path_of("411602001001").unwrap();
        let case = CaseScope { organisation_id: "411602001-tw", mediator_id: "med-1", path: &path };
        let other_place = region::path_of("411621100001").unwrap();
        let elsewhere = CaseScope { organisation_id: "411621100-tw", mediator_id: "med-9", path: &other_place };
        let s = |c: Principal, scope: CaseScope<'_>| standing(&c, scope, &kinds, &is_org);
        assert_eq!(s(caller(Role::Admin, "a", "", ""), case), Some(Standing::Admin));
        assert_eq!(s(caller(Role::Admin, "a", "", "411602"), case), Some(Standing::Admin));
        assert_eq!(s(caller(Role::Admin, "a", "", "411602"), elsewhere), None, "a scoped admin's scope holds");
        assert_eq!(s(caller(Role::Mediator, "med-1", "", ""), case), Some(Standing::Mediator));
        assert_eq!(s(caller(Role::Mediator, "med-2", "", ""), case), None, "another mediator's case");
        assert_eq!(s(caller(Role::Department, "o", "411602001-tw", ""), case), Some(Standing::Organisation));
        assert_eq!(s(caller(Role::Department, "o", "411621100-tw", ""), case), None);
        assert_eq!(s(caller(Role::Department, "j", "411602001-sifa", ""), case), Some(Standing::JusticeOffice));
        assert_eq!(s(caller(Role::Department, "j", "411602001-sifa", ""), elsewhere), None);
        assert_eq!(s(caller(Role::Department, "j", "411602001-chengguan", ""), case), None);
        assert_eq!(s(caller(Role::Center, "c", "", "411602"), case), Some(Standing::Center));
        assert_eq!(s(caller(Role::Center, "c", "", "411602"), elsewhere), None);
        assert_eq!(s(caller(Role::CountyCenter, "c", "", "411602"), case), Some(Standing::Reader));
        assert_eq!(s(caller(Role::CitizenApp, "c", "", ""), case), None);
        assert_eq!(s(caller(Role::GridWorker, "g", "", "411602001001"), case), None);
    }

    #[test]
    fn justice_offices_are_known_by_their_kind() {
        let kinds = vec!["sifa".to_string()];
        assert_eq!(justice_office_region("411602001-sifa", &kinds), Some("411602001"));
        assert_eq!(justice_office_region("411602-sifa", &kinds), Some("411602"));
        assert_eq!(justice_office_region("411602001-gongan", &kinds), None);
        assert_eq!(justice_office_region("nonsense", &kinds), None);
    }
}
