//! Reference data dispatch owns: the item catalog (事项清单), regions and grids, departments and
//! the business calendar.
//!
//! Each comes from its own versioned TOML file (`catalog.toml`, `regions.toml`,
//! `departments.toml`, `calendar.toml`, each with a top-level `version` string) and is checked
//! on load, across files too: a catalog item must name department kinds that exist, a
//! department must serve a known region, a grid must lie in a known village. Every problem is
//! reported at once, named by file and entry. The example dataset under `data/` is compiled in
//! ([`ReferenceData::shipped`]), so a bare start needs no files.

pub mod calendar;
pub mod catalog;
pub mod departments;
pub mod regions;

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

pub use calendar::CalendarData;
pub use catalog::{Catalog, CatalogItem};
pub use departments::Departments;
pub use regions::Regions;

/// Why reference data could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A file is not well-formed TOML of the expected shape.
    #[error("{file}: {message}")]
    Parse {
        /// The file name.
        file: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A file parsed but its content is inconsistent.
    #[error("{file}: {} problem(s): {}", problems.len(), problems.join("; "))]
    Invalid {
        /// The file name.
        file: &'static str,
        /// Every problem found, one per entry.
        problems: Vec<String>,
    },
}

/// The text of the four files.
#[derive(Debug, Clone, Copy)]
pub struct Sources<'a> {
    /// `catalog.toml`.
    pub catalog: &'a str,
    /// `regions.toml`.
    pub regions: &'a str,
    /// `departments.toml`.
    pub departments: &'a str,
    /// `calendar.toml`.
    pub calendar: &'a str,
}

/// The files under `services/dispatch/data/` (and the calendar of `civicgrid-calendar`),
/// compiled in.
pub const SHIPPED: Sources<'static> = Sources {
    catalog: include_str!("../../data/catalog.toml"),
    regions: include_str!("../../data/regions.toml"),
    departments: include_str!("../../data/departments.toml"),
    calendar: civicgrid_calendar::SHIPPED_TOML,
};

/// The text of the four files, owned (as stored, or as loaded through the admin RPC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceFiles {
    /// `catalog.toml`.
    pub catalog: String,
    /// `regions.toml`.
    pub regions: String,
    /// `departments.toml`.
    pub departments: String,
    /// `calendar.toml`.
    pub calendar: String,
}

impl ReferenceFiles {
    /// The shipped example dataset.
    pub fn shipped() -> Self {
        ReferenceFiles {
            catalog: SHIPPED.catalog.into(),
            regions: SHIPPED.regions.into(),
            departments: SHIPPED.departments.into(),
            calendar: SHIPPED.calendar.into(),
        }
    }

    /// Reads the four files from `dir`.
    pub fn read_dir(dir: &Path) -> Result<Self, ReferenceError> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read_to_string(&path).map_err(|source| ReferenceError::Read { path, source })
        };
        Ok(ReferenceFiles {
            catalog: read("catalog.toml")?,
            regions: read("regions.toml")?,
            departments: read("departments.toml")?,
            calendar: read("calendar.toml")?,
        })
    }

    /// Parses and checks the set.
    pub fn parse(&self) -> Result<ReferenceData, ReferenceError> {
        ReferenceData::from_sources(&Sources {
            catalog: &self.catalog,
            regions: &self.regions,
            departments: &self.departments,
            calendar: &self.calendar,
        })
    }
}

/// The versions of the four files, recorded with everything computed from them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versions {
    /// The catalog's.
    pub catalog: String,
    /// The regions'.
    pub regions: String,
    /// The departments'.
    pub departments: String,
    /// The calendar's.
    pub calendar: String,
}

/// All of dispatch's reference data, checked.
#[derive(Debug, Clone)]
pub struct ReferenceData {
    /// The item catalog.
    pub catalog: Catalog,
    /// Regions and grids.
    pub regions: Regions,
    /// Department kinds and departments.
    pub departments: Departments,
    /// The business calendar.
    pub calendar: CalendarData,
}

impl ReferenceData {
    /// The example dataset shipped with dispatch.
    pub fn shipped() -> Result<Self, ReferenceError> {
        Self::from_sources(&SHIPPED)
    }

    /// Loads `catalog.toml`, `regions.toml`, `departments.toml` and `calendar.toml` from `dir`.
    pub fn load_dir(dir: &Path) -> Result<Self, ReferenceError> {
        ReferenceFiles::read_dir(dir)?.parse()
    }

    /// Parses and checks the four files: regions first, then departments against them, then
    /// the catalog against the department kinds.
    pub fn from_sources(sources: &Sources<'_>) -> Result<Self, ReferenceError> {
        let regions = Regions::from_toml(sources.regions)?;
        let departments = Departments::from_toml(sources.departments, &regions)?;
        let catalog = Catalog::from_toml(sources.catalog, &departments)?;
        let calendar = calendar::from_toml(sources.calendar)?;
        Ok(ReferenceData { catalog, regions, departments, calendar })
    }

    /// The files' versions.
    pub fn versions(&self) -> Versions {
        Versions {
            catalog: self.catalog.version.clone(),
            regions: self.regions.version.clone(),
            departments: self.departments.version.clone(),
            calendar: self.calendar.version.clone(),
        }
    }
}

/// Deserializes a TOML file with the `config` crate (already in the build, so no second TOML
/// parser is compiled).
fn parse<T: DeserializeOwned>(file: &'static str, text: &str) -> Result<T, ReferenceError> {
    config::Config::builder()
        .add_source(config::File::from_str(text, config::FileFormat::Toml))
        .build()
        .and_then(|c| c.try_deserialize())
        .map_err(|e| ReferenceError::Parse { file, message: e.to_string() })
}

/// Turns collected problems into an error.
fn check(file: &'static str, problems: Vec<String>) -> Result<(), ReferenceError> {
    if problems.is_empty() { Ok(()) } else { Err(ReferenceError::Invalid { file, problems }) }
}

/// Checks a file's version string.
fn check_version(version: &str, problems: &mut Vec<String>) {
    let ok = !version.trim().is_empty()
        && version.len() <= 64
        && version.chars().all(|c| c.is_ascii_alphanumeric() || "._-+".contains(c));
    if !ok {
        problems.push(format!("version `{version}` must be 1 to 64 characters of A-Z a-z 0-9 . _ - +"));
    }
}

#[cfg(test)]
mod tests;
