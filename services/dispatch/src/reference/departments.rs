//! Department kinds and departments (职能部门): `departments.toml`.
//!
//! ```toml
//! version = "2026.11.1"
//!
//! [[kinds]]
//! code = "chengguan"     # lowercase ASCII letters, digits and `_`
//! name = "城市管理"
//!
//! [[departments]]
//! id = "411602-chengguan"
//! name = "川汇区城市管理局"
//! kind = "chengguan"
//! region = "411602"      # the region it serves; its level is the department's level
//! ```
//!
//! Catalog items name kinds; routing picks the department of that kind serving the event's
//! township or county, so at most one department of a kind may serve a region.

use std::collections::BTreeMap;

use civicgrid_kit::region::Level;
use serde::Deserialize;

use super::{ReferenceError, check, check_version, parse, regions::Regions};
use crate::domain::routing::{Department, Directory, DirectoryError};

#[derive(Debug, Deserialize)]
struct RawDepartments {
    version: String,
    #[serde(default)]
    kinds: Vec<RawKind>,
    #[serde(default)]
    departments: Vec<RawDepartment>,
}

#[derive(Debug, Deserialize)]
struct RawKind {
    code: String,
    name: String,
}

#[derive(Debug, Deserialize)]
struct RawDepartment {
    id: String,
    name: String,
    kind: String,
    region: String,
}

/// Department kinds and the departments, checked and indexed for routing.
#[derive(Debug, Clone)]
pub struct Departments {
    /// The file's version.
    pub version: String,
    kinds: BTreeMap<String, String>,
    directory: Directory,
}

fn is_kind_code(code: &str) -> bool {
    (1..=32).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn is_department_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(&b))
}

impl Departments {
    /// Parses `departments.toml` and checks it against `regions`.
    pub fn from_toml(text: &str, regions: &Regions) -> Result<Self, ReferenceError> {
        const FILE: &str = "departments.toml";
        let raw: RawDepartments = parse(FILE, text)?;
        let mut problems = Vec::new();
        check_version(&raw.version, &mut problems);

        let mut kinds = BTreeMap::new();
        for k in raw.kinds {
            if !is_kind_code(&k.code) {
                problems.push(format!("kind `{}`: code must be 1 to 32 characters of a-z 0-9 _", k.code));
            }
            if k.name.trim().is_empty() {
                problems.push(format!("kind `{}`: name is required", k.code));
            }
            if kinds.insert(k.code.clone(), k.name).is_some() {
                problems.push(format!("kind `{}` is listed twice", k.code));
            }
        }

        let mut departments = Vec::new();
        for d in raw.departments {
            if !is_department_id(&d.id) {
                problems.push(format!("department `{}`: id must be 1 to 64 characters of A-Z a-z 0-9 _ . : -", d.id));
            }
            if d.name.trim().is_empty() {
                problems.push(format!("department `{}`: name is required", d.id));
            }
            if !kinds.contains_key(&d.kind) {
                problems.push(format!("department `{}`: unknown kind `{}`", d.id, d.kind));
            }
            match regions.region(&d.region).map(|r| r.level) {
                Some(Level::County | Level::Township | Level::City) => {}
                Some(Level::Village) => problems.push(format!(
                    "department `{}`: serves village `{}`; departments serve a city, county or township",
                    d.id, d.region
                )),
                None => problems.push(format!("department `{}`: region `{}` is not listed", d.id, d.region)),
            }
            departments.push(Department { id: d.id, name: d.name, kind: d.kind, region_code: d.region });
        }
        let directory = match Directory::new(departments) {
            Ok(directory) => directory,
            Err(e) => {
                problems.push(match e {
                    DirectoryError::DuplicateId(id) => format!("department `{id}` is listed twice"),
                    other => other.to_string(),
                });
                Directory::default()
            }
        };
        check(FILE, problems)?;
        Ok(Departments { version: raw.version, kinds, directory })
    }

    /// Whether `code` is a known kind.
    pub fn has_kind(&self, code: &str) -> bool {
        self.kinds.contains_key(code)
    }

    /// The kinds: code → name.
    pub fn kinds(&self) -> &BTreeMap<String, String> {
        &self.kinds
    }

    /// The departments, indexed for routing.
    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    /// The department with `id`.
    pub fn get(&self, id: &str) -> Option<&Department> {
        self.directory.get(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regions() -> Regions {
        Regions::from_toml(
            r#"
            version = "t1"
            [[regions]]
            code = "411600"
            name = "周口市"
            [[regions]]
            code = "411602"
            name = "川汇区"
            parent = "411600"
            [[regions]]
            code = "411602001"
            name = "陈州街道"
            parent = "411602"
            [[regions]]
            code = "411602001001"
            name = "七一路社区"
            parent = "411602001"
            "#,
        )
        .unwrap()
    }

    #[test]
    fn departments_load_and_route() {
        let d = Departments::from_toml(
            r#"
            version = "t1"
            [[kinds]]
            code = "chengguan"
            name = "城市管理"
            [[departments]]
            id = "411602-chengguan"
            name = "川汇区城市管理局"
            kind = "chengguan"
            region = "411602"
            "#,
            &regions(),
        )
        .unwrap();
        assert!(d.has_kind("chengguan"));
        assert_eq!(d.directory().serving("chengguan", "411602").map(|x| x.id.as_str()), Some("411602-chengguan"));
        assert_eq!(d.get("411602-chengguan").map(|x| x.name.as_str()), Some("川汇区城市管理局"));
    }

    #[test]
    fn unknown_kinds_regions_and_ambiguity_are_named() {
        let err = Departments::from_toml(
            r#"
            version = ""
            [[kinds]]
            code = "ChengGuan"
            name = "城市管理"
            [[kinds]]
            code = "gongan"
            name = "公安"
            [[departments]]
            id = "a"
            name = "甲"
            kind = "huanbao"
            region = "411603"
            [[departments]]
            id = "b"
            name = "乙"
            kind = "gongan"
            region = "411602001001"
            [[departments]]
            id = "c"
            name = "丙"
            kind = "gongan"
            region = "411602001001"
            "#,
            &regions(),
        )
        .unwrap_err();
        let ReferenceError::Invalid { problems, .. } = err else { panic!("{err}") };
        assert_eq!(
            problems,
            [
                "version `` must be 1 to 64 characters of A-Z a-z 0-9 . _ - +",
                "kind `ChengGuan`: code must be 1 to 32 characters of a-z 0-9 _",
                "department `a`: unknown kind `huanbao`",
                "department `a`: region `411603` is not listed",
                "department `b`: serves village `411602001001`; departments serve a city, county or township",
                "department `c`: serves village `411602001001`; departments serve a city, county or township",
                "departments `b` and `c` are both of kind `gongan` serving 411602001001",
            ]
        );
    }
}
