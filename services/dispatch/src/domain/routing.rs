//! Routing (分流): which department of which region level handles an event.
//!
//! The catalog item names a lead department kind, assisting kinds and a whistle level; the
//! whistle level picks the region level whose departments take the task:
//!
//! | whistle level | 中文 | coordinating center | departments |
//! | --- | --- | --- | --- |
//! | [`WhistleLevel::GridSelf`] | 网格自处理 | the village (the grid worker) | the township's, normally its grid station (kind [`GRID_KIND`]) |
//! | [`WhistleLevel::Routine`] | 常规哨 | the township | the township's |
//! | [`WhistleLevel::Key`] | 重点哨 | the county/district | the county's |
//!
//! A grid-self-handled item is handled by the grid worker himself; since grid workers belong to
//! the township's grid station (网格化服务管理站), that station is the task's department, so the
//! task still has an owner, a clock and a record, and the grid worker acts for it. Its warnings
//! escalate to the township center.
//!
//! There is no fallback to another level: when no department of the lead kind serves the
//! region at the item's level (or the event's location does not name that level), there is no
//! route and the task waits in the triage queue for a center operator. Assisting kinds without
//! a department at that level are listed in [`Route::unserved`] and otherwise skipped.

use std::collections::HashMap;

use civicgrid_kit::region::{self, Level};
use civicgrid_proto::v1::RegionPath;
use serde::{Deserialize, Serialize};

/// The department kind of a township's grid station, which grid-self-handled items name.
pub const GRID_KIND: &str = "grid";

/// Who coordinates an item (吹哨级别).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhistleLevel {
    /// 网格自处理: the grid worker handles it.
    GridSelf,
    /// 常规哨: the township coordinates.
    Routine,
    /// 重点哨: the county/district coordinates.
    Key,
}

impl WhistleLevel {
    /// The Chinese label.
    pub fn label(self) -> &'static str {
        match self {
            WhistleLevel::GridSelf => "网格自处理",
            WhistleLevel::Routine => "常规哨",
            WhistleLevel::Key => "重点哨",
        }
    }

    /// The name stored in `tasks.whistle` (the serde name).
    pub fn as_str(self) -> &'static str {
        match self {
            WhistleLevel::GridSelf => "grid_self",
            WhistleLevel::Routine => "routine",
            WhistleLevel::Key => "key",
        }
    }

    /// The region level whose departments take the task.
    pub fn department_level(self) -> Level {
        match self {
            WhistleLevel::GridSelf | WhistleLevel::Routine => Level::Township,
            WhistleLevel::Key => Level::County,
        }
    }
}

/// A department (职能部门) and the region it serves; its level is the level of that region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Department {
    /// Stable id, e.g. `411602-chengguan`.
    pub id: String,
    /// Name, e.g. 川汇区城市管理局.
    pub name: String,
    /// Kind, e.g. `chengguan`; catalog items name kinds, not departments.
    pub kind: String,
    /// The region code it serves (a county or township code).
    pub region_code: String,
}

impl Department {
    /// The level of the region it serves; `None` for a malformed code.
    pub fn level(&self) -> Option<Level> {
        region::level(&self.region_code).ok()
    }
}

/// Why a set of departments cannot be used for routing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    /// Two departments with one id.
    #[error("department id `{0}` is used twice")]
    DuplicateId(String),
    /// Two departments of one kind serving one region: routing would be ambiguous.
    #[error("departments `{first}` and `{second}` are both of kind `{kind}` serving {region}")]
    Ambiguous {
        /// The kind.
        kind: String,
        /// The region.
        region: String,
        /// The department listed first.
        first: String,
        /// The other one.
        second: String,
    },
}

/// The departments, indexed by id and by (kind, region served).
#[derive(Debug, Clone, Default)]
pub struct Directory {
    departments: Vec<Department>,
    by_id: HashMap<String, usize>,
    by_kind_region: HashMap<(String, String), usize>,
}

impl Directory {
    /// Indexes `departments`, refusing duplicate ids and two departments of one kind serving
    /// one region.
    pub fn new(departments: Vec<Department>) -> Result<Self, DirectoryError> {
        let mut by_id = HashMap::new();
        let mut by_kind_region = HashMap::new();
        for (i, d) in departments.iter().enumerate() {
            if by_id.insert(d.id.clone(), i).is_some() {
                return Err(DirectoryError::DuplicateId(d.id.clone()));
            }
            if let Some(first) = by_kind_region.insert((d.kind.clone(), d.region_code.clone()), i) {
                return Err(DirectoryError::Ambiguous {
                    kind: d.kind.clone(),
                    region: d.region_code.clone(),
                    first: departments[first].id.clone(),
                    second: d.id.clone(),
                });
            }
        }
        Ok(Directory { departments, by_id, by_kind_region })
    }

    /// Every department, in the order given.
    pub fn all(&self) -> &[Department] {
        &self.departments
    }

    /// The department with `id`.
    pub fn get(&self, id: &str) -> Option<&Department> {
        self.by_id.get(id).map(|i| &self.departments[*i])
    }

    /// The department of `kind` serving exactly `region_code`.
    pub fn serving(&self, kind: &str, region_code: &str) -> Option<&Department> {
        self.by_kind_region.get(&(kind.to_string(), region_code.to_string())).map(|i| &self.departments[*i])
    }
}

/// What routing needs from a catalog item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteRule<'a> {
    /// The lead department kind (牵头).
    pub lead_kind: &'a str,
    /// The assisting department kinds (协办).
    pub assisting_kinds: &'a [String],
    /// Who coordinates.
    pub whistle: WhistleLevel,
}

/// Where a routed event goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The whistle level it was routed by.
    pub whistle: WhistleLevel,
    /// The region code of the coordinating center (village, township or county): its warnings
    /// escalate one level above it.
    pub center_region: String,
    /// The lead department's id.
    pub lead: String,
    /// The assisting departments' ids, in the item's order, without the lead and without
    /// repeats.
    pub assisting: Vec<String>,
    /// Assisting kinds no department serves at that level.
    pub unserved: Vec<String>,
}

/// Routes an event located at `path` by `rule`; `None` when no department of the lead kind
/// serves the region at the item's level (the task then waits for triage by hand).
pub fn route(rule: &RouteRule<'_>, path: &RegionPath, directory: &Directory) -> Option<Route> {
    let region = match rule.whistle.department_level() {
        Level::Township => path.township.as_str(),
        _ => path.county.as_str(),
    };
    if region.is_empty() {
        return None;
    }
    let lead = directory.serving(rule.lead_kind, region)?;
    let mut assisting: Vec<String> = Vec::new();
    let mut unserved = Vec::new();
    for kind in rule.assisting_kinds {
        match directory.serving(kind, region) {
            Some(d) if d.id != lead.id && !assisting.contains(&d.id) => assisting.push(d.id.clone()),
            Some(_) => {}
            None => unserved.push(kind.clone()),
        }
    }
    let center_region = match rule.whistle {
        WhistleLevel::GridSelf if !path.village.is_empty() => path.village.clone(),
        _ => region.to_string(),
    };
    Some(Route { whistle: rule.whistle, center_region, lead: lead.id.clone(), assisting, unserved })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dept(id: &str, kind: &str, region: &str) -> Department {
        Department { id: id.into(), name: id.into(), kind: kind.into(), region_code: region.into() }
    }

    fn directory() -> Directory {
        Directory::new(vec![
            dept("411602-chengguan", "chengguan", "411602"),
            dept("411602-zhujian", "zhujian", "411602"),
            dept("411602-gongan", "gongan", "411602"),
            dept("411602001-chengguan", "chengguan", "411602001"),
            dept("411602001-grid", "grid", "411602001"),
            dept("411602001-gongan", "gongan", "411602001"),
            dept("411602002-grid", "grid", "411602002"),
        ])
        .unwrap()
    }

    fn path(code: &str) -> RegionPath {
        region::path_of(code).unwrap()
    }

    fn kinds(k: &[&str]) -> Vec<String> {
        k.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn routine_items_go_to_the_township() {
        let assisting = kinds(&["gongan", "zhujian"]);
        let rule = RouteRule { lead_kind: "chengguan", assisting_kinds: &assisting, whistle: WhistleLevel::Routine };
        let r = route(&rule, &path("411602001001"), &directory()).unwrap();
        assert_eq!(r.lead, "411602001-chengguan");
        assert_eq!(r.assisting, vec!["411602001-gongan"]);
        assert_eq!(r.unserved, vec!["zhujian"]);
        assert_eq!(r.center_region, "411602001");
        // No township 城管 in 411602002: waits for triage.
        assert_eq!(route(&rule, &path("411602002001"), &directory()), None);
        // An event located only at county level has no township to route to.
        assert_eq!(route(&rule, &path("411602"), &directory()), None);
    }

    #[test]
    fn key_items_go_to_the_county() {
        let assisting = kinds(&["gongan", "chengguan", "gongan"]);
        let rule = RouteRule { lead_kind: "zhujian", assisting_kinds: &assisting, whistle: WhistleLevel::Key };
        let r = route(&rule, &path("411602002001"), &directory()).unwrap();
        assert_eq!(r.lead, "411602-zhujian");
        assert_eq!(r.assisting, vec!["411602-gongan", "411602-chengguan"]);
        assert!(r.unserved.is_empty());
        assert_eq!(r.center_region, "411602");
        assert_eq!(route(&rule, &path("411603001001"), &directory()), None);
    }

    #[test]
    fn grid_self_items_go_to_the_township_grid_station() {
        let rule = RouteRule { lead_kind: GRID_KIND, assisting_kinds: &[], whistle: WhistleLevel::GridSelf };
        let r = route(&rule, &path("411602002003"), &directory()).unwrap();
        assert_eq!(r.lead, "411602002-grid");
        assert_eq!(r.center_region, "411602002003");
        let r = route(&rule, &path("411602001"), &directory()).unwrap();
        assert_eq!(r.center_region, "411602001");
    }

    #[test]
    fn the_lead_is_not_also_assisting() {
        let assisting = kinds(&["chengguan"]);
        let rule = RouteRule { lead_kind: "chengguan", assisting_kinds: &assisting, whistle: WhistleLevel::Key };
        let r = route(&rule, &path("411602001"), &directory()).unwrap();
        assert!(r.assisting.is_empty());
    }

    #[test]
    fn a_directory_refuses_ambiguity() {
        let twice = Directory::new(vec![dept("a", "chengguan", "411602"), dept("a", "zhujian", "411602")]);
        assert_eq!(twice.err(), Some(DirectoryError::DuplicateId("a".into())));
        let ambiguous = Directory::new(vec![dept("a", "chengguan", "411602"), dept("b", "chengguan", "411602")]);
        assert!(matches!(ambiguous, Err(DirectoryError::Ambiguous { .. })));
        let d = directory();
        assert_eq!(d.get("411602-gongan").map(|d| d.kind.as_str()), Some("gongan"));
        assert_eq!(d.get("411602001-grid").and_then(Department::level), Some(Level::Township));
    }
}
