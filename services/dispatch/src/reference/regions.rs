//! Regions (行政区划) and grids (网格): `regions.toml`.
//!
//! ```toml
//! version = "2026.11.1"
//!
//! [[regions]]
//! code = "411602"        # 6 digits: city (…00) or county; 9: township; 12: village
//! name = "川汇区"
//! parent = "411600"      # omitted only for a city
//!
//! [[grids]]
//! code = "411602001001001"   # the village code and a 3-digit sequence
//! name = "七一路社区第1网格"
//! village = "411602001001"
//! grid_worker = "gw-411602001001001"
//! ```
//!
//! A region's level follows from its code; its parent must be listed, one level up, and a
//! prefix of its code (a county's city is its first four digits and `00`).

use std::collections::HashMap;

use civicgrid_kit::region::{self, Level};
use serde::Deserialize;

use super::{ReferenceError, check, check_version, parse};

#[derive(Debug, Deserialize)]
struct RawRegions {
    version: String,
    #[serde(default)]
    regions: Vec<RawRegion>,
    #[serde(default)]
    grids: Vec<RawGrid>,
}

#[derive(Debug, Deserialize)]
struct RawRegion {
    code: String,
    name: String,
    #[serde(default)]
    parent: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawGrid {
    code: String,
    name: String,
    village: String,
    grid_worker: String,
}

/// A region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    /// Its division code.
    pub code: String,
    /// Its name.
    pub name: String,
    /// Its parent's code (`None` for a city).
    pub parent: Option<String>,
    /// Its level, from the code.
    pub level: Level,
}

/// A grid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grid {
    /// Its 15-digit code.
    pub code: String,
    /// Its name.
    pub name: String,
    /// Its village's code.
    pub village: String,
    /// The account id of its grid worker.
    pub grid_worker: String,
}

/// Regions and grids, checked and indexed.
#[derive(Debug, Clone)]
pub struct Regions {
    /// The file's version.
    pub version: String,
    regions: Vec<Region>,
    grids: Vec<Grid>,
    region_index: HashMap<String, usize>,
    grid_index: HashMap<String, usize>,
}

/// The code a region's parent must have, from its code alone.
fn expected_parent(code: &str, level: Level) -> Option<String> {
    match level {
        Level::City => None,
        Level::County => Some(format!("{}00", &code[..4])),
        Level::Township => Some(code[..6].to_string()),
        Level::Village => Some(code[..9].to_string()),
    }
}

impl Regions {
    /// Parses and checks `regions.toml`.
    pub fn from_toml(text: &str) -> Result<Self, ReferenceError> {
        const FILE: &str = "regions.toml";
        let raw: RawRegions = parse(FILE, text)?;
        let mut problems = Vec::new();
        check_version(&raw.version, &mut problems);

        let mut regions = Vec::new();
        let mut region_index = HashMap::new();
        for r in raw.regions {
            let level = match region::level(&r.code) {
                Ok(level) => level,
                Err(e) => {
                    problems.push(format!("region `{}`: code {e}", r.code));
                    continue;
                }
            };
            if r.name.trim().is_empty() {
                problems.push(format!("region `{}`: name is required", r.code));
            }
            if region_index.insert(r.code.clone(), regions.len()).is_some() {
                problems.push(format!("region `{}` is listed twice", r.code));
                continue;
            }
            let parent = r.parent.filter(|p| !p.is_empty());
            regions.push(Region { code: r.code, name: r.name, parent, level });
        }
        for r in &regions {
            let expected = expected_parent(&r.code, r.level);
            match (&r.parent, &expected) {
                (None, None) => {}
                (Some(p), _) if expected.as_ref() != Some(p) => problems.push(format!(
                    "region `{}`: parent `{p}` is not one level up (expected {})",
                    r.code,
                    expected.as_deref().map_or("none: a city has no parent".to_string(), |e| format!("`{e}`"))
                )),
                (Some(p), _) if !region_index.contains_key(p) => {
                    problems.push(format!("region `{}`: parent `{p}` is not listed", r.code))
                }
                (Some(_), _) => {}
                (None, Some(e)) => problems.push(format!("region `{}`: parent is required (`{e}`)", r.code)),
            }
        }

        let mut grids = Vec::new();
        let mut grid_index = HashMap::new();
        for g in raw.grids {
            if let Err(e) = region::path_of_grid(&g.code) {
                problems.push(format!("grid `{}`: code {e}", g.code));
                continue;
            }
            if !g.code.starts_with(&g.village) {
                problems.push(format!("grid `{}`: code must start with its village code `{}`", g.code, g.village));
            }
            match region_index.get(&g.village).map(|i| regions[*i].level) {
                Some(Level::Village) => {}
                Some(_) => problems.push(format!("grid `{}`: `{}` is not a village", g.code, g.village)),
                None => problems.push(format!("grid `{}`: village `{}` is not listed", g.code, g.village)),
            }
            if g.name.trim().is_empty() {
                problems.push(format!("grid `{}`: name is required", g.code));
            }
            if g.grid_worker.trim().is_empty() {
                problems.push(format!("grid `{}`: grid_worker is required", g.code));
            }
            if grid_index.insert(g.code.clone(), grids.len()).is_some() {
                problems.push(format!("grid `{}` is listed twice", g.code));
                continue;
            }
            grids.push(Grid { code: g.code, name: g.name, village: g.village, grid_worker: g.grid_worker });
        }
        check(FILE, problems)?;
        Ok(Regions { version: raw.version, regions, grids, region_index, grid_index })
    }

    /// Every region, in file order.
    pub fn regions(&self) -> &[Region] {
        &self.regions
    }

    /// Every grid, in file order.
    pub fn grids(&self) -> &[Grid] {
        &self.grids
    }

    /// The region with `code`.
    pub fn region(&self, code: &str) -> Option<&Region> {
        self.region_index.get(code).map(|i| &self.regions[*i])
    }

    /// The grid with `code`.
    pub fn grid(&self, code: &str) -> Option<&Grid> {
        self.grid_index.get(code).map(|i| &self.grids[*i])
    }

    /// The regions whose parent is `code`.
    pub fn children<'a>(&'a self, code: &'a str) -> impl Iterator<Item = &'a Region> + 'a {
        self.regions.iter().filter(move |r| r.parent.as_deref() == Some(code))
    }

    /// The regions of a level.
    pub fn at_level(&self, level: Level) -> impl Iterator<Item = &Region> + '_ {
        self.regions.iter().filter(move |r| r.level == level)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<String> {
        match Regions::from_toml(text) {
            Err(ReferenceError::Invalid { problems, .. }) => problems,
            other => panic!("expected problems, got {other:?}"),
        }
    }

    #[test]
    fn a_small_tree_loads() {
        let r = Regions::from_toml(
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
            [[grids]]
            code = "411602001001001"
            name = "第1网格"
            village = "411602001001"
            grid_worker = "gw-1"
            "#,
        )
        .unwrap();
        assert_eq!(r.version, "t1");
        assert_eq!(r.region("411602001").map(|x| x.level), Some(Level::Township));
        assert_eq!(r.grid("411602001001001").map(|g| g.grid_worker.as_str()), Some("gw-1"));
        assert_eq!(r.children("411602").count(), 1);
        assert_eq!(r.at_level(Level::Village).count(), 1);
    }

    #[test]
    fn bad_parents_and_grids_are_named() {
        let p = problems(
            r#"
            version = "t1"
            [[regions]]
            code = "411600"
            name = "周口市"
            parent = "411600"
            [[regions]]
            code = "411602"
            name = "川汇区"
            [[regions]]
            code = "411602001"
            name = "陈州街道"
            parent = "411600"
            [[regions]]
            code = "411602002"
            name = "人和街道"
            parent = "411602"
            [[regions]]
            code = "411602002"
            name = "人和街道"
            parent = "411602"
            [[regions]]
            code = "411603001"
            name = "某街道"
            parent = "411603"
            [[regions]]
            code = "41160x"
            name = "坏"
            [[grids]]
            code = "411602009001001"
            name = "第1网格"
            village = "411602009001"
            grid_worker = "gw-1"
            [[grids]]
            code = "411602002001"
            name = "第1网格"
            village = "411602002"
            grid_worker = ""
            "#,
        );
        let expected = [
            "region `411602002` is listed twice",
            "region `41160x`: code must contain digits only",
            "region `411600`: parent `411600` is not one level up (expected none: a city has no parent)",
            "region `411602`: parent is required (`411600`)",
            "region `411602001`: parent `411600` is not one level up (expected `411602`)",
            "region `411603001`: parent `411603` is not listed",
            "grid `411602009001001`: village `411602009001` is not listed",
            "grid `411602002001`: code must have 15 digits: a 12-digit village code and a 3-digit sequence",
        ];
        assert_eq!(p, expected);
    }

    #[test]
    fn malformed_files_are_parse_errors() {
        assert!(matches!(Regions::from_toml("version = "), Err(ReferenceError::Parse { .. })));
        assert!(matches!(Regions::from_toml("regions = 3"), Err(ReferenceError::Parse { .. })));
    }
}
