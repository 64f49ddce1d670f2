//! mediation's reference data: organisations, mediators and the business calendar, loaded from
//! three TOML files, checked as a whole, and kept as versioned sets (the newest stored set is in
//! force). The shipped set is the demo city 周口市 (`data/`, with the calendar of
//! `civicgrid-calendar`).

use std::{collections::HashSet, path::Path};

use civicgrid_calendar::BusinessCalendar;
use civicgrid_proto::v1::DisputeType;
use serde::Deserialize;

use crate::domain::assignment::{MediatorRef, Org, OrgKind};

/// Why reference files do not load.
#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    /// A file could not be read.
    #[error("reading {path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The files do not parse or check; every problem is listed.
    #[error("mediation reference data does not check:\n  {}", .0.join("\n  "))]
    Invalid(Vec<String>),
}

/// The three files' text.
#[derive(Debug, Clone, PartialEq)]
pub struct ReferenceFiles {
    /// organisations.toml.
    pub organisations: String,
    /// mediators.toml.
    pub mediators: String,
    /// calendar.toml (dispatch's format).
    pub calendar: String,
}

/// An organisation with its name.
#[derive(Debug, Clone, PartialEq)]
pub struct Organisation {
    /// Assignment's view of it (id, kind, region, specialties).
    pub org: Org,
    /// Its name.
    pub name: String,
}

/// A mediator with their name.
#[derive(Debug, Clone, PartialEq)]
pub struct Mediator {
    /// Assignment's view of them.
    pub mediator: MediatorRef,
    /// Their name.
    pub name: String,
}

/// The versions of a set.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Versions {
    /// organisations.toml's version.
    pub organisations: String,
    /// mediators.toml's version.
    pub mediators: String,
    /// calendar.toml's version.
    pub calendar: String,
}

/// A checked set in force.
#[derive(Debug, Clone)]
pub struct ReferenceData {
    /// The organisations, by id.
    pub organisations: Vec<Organisation>,
    /// The mediators, by id.
    pub mediators: Vec<Mediator>,
    /// The business calendar.
    pub calendar: BusinessCalendar,
    /// The versions.
    pub versions: Versions,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrganisationsFile {
    version: String,
    #[serde(default)]
    organisations: Vec<OrganisationEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrganisationEntry {
    id: String,
    name: String,
    kind: String,
    region: String,
    #[serde(default)]
    specialties: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MediatorsFile {
    version: String,
    #[serde(default)]
    mediators: Vec<MediatorEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MediatorEntry {
    id: String,
    name: String,
    organisation: String,
    #[serde(default)]
    specialties: Vec<String>,
    #[serde(default = "yes")]
    available: bool,
}

fn yes() -> bool {
    true
}

/// The dispute type of its name in the files (`neighbour`, `property_management` …).
pub fn dispute_type_of(name: &str) -> Option<DisputeType> {
    DisputeType::from_str_name(&format!("DISPUTE_TYPE_{}", name.to_ascii_uppercase()))
        .filter(|t| *t != DisputeType::Unspecified)
}

/// The name of a dispute type in the files.
pub fn dispute_type_name(t: DisputeType) -> String {
    t.as_str_name().trim_start_matches("DISPUTE_TYPE_").to_ascii_lowercase()
}

fn is_plain_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

impl ReferenceFiles {
    /// The set compiled in: the demo city's organisations and mediators, and the shipped
    /// calendar.
    pub fn shipped() -> Self {
        ReferenceFiles {
            organisations: include_str!("../data/organisations.toml").to_string(),
            mediators: include_str!("../data/mediators.toml").to_string(),
            calendar: civicgrid_calendar::SHIPPED_TOML.to_string(),
        }
    }

    /// The three files of directory `dir`.
    pub fn read_dir(dir: &Path) -> Result<Self, ReferenceError> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read_to_string(&path)
                .map_err(|e| ReferenceError::Read { path: path.display().to_string(), reason: e.to_string() })
        };
        Ok(ReferenceFiles {
            organisations: read("organisations.toml")?,
            mediators: read("mediators.toml")?,
            calendar: read("calendar.toml")?,
        })
    }

    /// Parses and checks the set as a whole; every problem is reported at once.
    pub fn parse(&self) -> Result<ReferenceData, ReferenceError> {
        let mut problems = Vec::new();
        let orgs: Option<OrganisationsFile> =
            toml::from_str(&self.organisations).map_err(|e| problems.push(format!("organisations.toml: {e}"))).ok();
        let meds: Option<MediatorsFile> =
            toml::from_str(&self.mediators).map_err(|e| problems.push(format!("mediators.toml: {e}"))).ok();
        let calendar = civicgrid_calendar::file::parse(&self.calendar)
            .map(|f| (f.calendar, f.version))
            .map_err(|e| problems.push(format!("calendar.toml: {e}")))
            .ok();
        let mut organisations = Vec::new();
        let mut ids = HashSet::new();
        if let Some(f) = &orgs {
            for o in &f.organisations {
                let at = format!("organisations.toml: organisation `{}`", o.id);
                if !is_plain_id(&o.id) || !ids.insert(o.id.clone()) {
                    problems.push(format!("{at}: the id must be unique, 1–64 of A-Z a-z 0-9 - _ ."));
                }
                let kind = OrgKind::parse(&o.kind);
                if kind.is_none() {
                    problems.push(format!("{at}: kind `{}` is not village, township or professional", o.kind));
                }
                let level = civicgrid_kit::region::level(&o.region);
                use civicgrid_kit::region::Level;
                let fits = matches!(
                    (kind, &level),
                    (Some(OrgKind::Village), Ok(Level::Village))
                        | (Some(OrgKind::Township), Ok(Level::Township))
                        | (Some(OrgKind::Professional), Ok(_))
                        | (None, _)
                );
                if !fits {
                    problems.push(format!("{at}: region `{}` does not fit a {} committee", o.region, o.kind));
                }
                let specialties = types(&o.specialties, &at, &mut problems);
                if kind == Some(OrgKind::Professional) && specialties.is_empty() {
                    problems.push(format!("{at}: a professional committee names its specialties"));
                }
                if let Some(kind) = kind {
                    organisations.push(Organisation {
                        org: Org { id: o.id.clone(), kind, region_code: o.region.clone(), specialties },
                        name: o.name.clone(),
                    });
                }
            }
        }
        let mut mediators = Vec::new();
        let mut mediator_ids = HashSet::new();
        if let Some(f) = &meds {
            for m in &f.mediators {
                let at = format!("mediators.toml: mediator `{}`", m.id);
                if !is_plain_id(&m.id) || !mediator_ids.insert(m.id.clone()) {
                    problems.push(format!("{at}: the id must be unique, 1–64 of A-Z a-z 0-9 - _ ."));
                }
                if orgs.is_some() && !ids.contains(&m.organisation) {
                    problems.push(format!("{at}: no organisation `{}`", m.organisation));
                }
                let specialties = types(&m.specialties, &at, &mut problems);
                mediators.push(Mediator {
                    mediator: MediatorRef {
                        id: m.id.clone(),
                        organisation_id: m.organisation.clone(),
                        specialties,
                        available: m.available,
                    },
                    name: m.name.clone(),
                });
            }
        }
        match (problems.is_empty(), orgs, meds, calendar) {
            (true, Some(o), Some(m), Some((calendar, calendar_version))) => {
                organisations.sort_by(|a, b| a.org.id.cmp(&b.org.id));
                mediators.sort_by(|a, b| a.mediator.id.cmp(&b.mediator.id));
                Ok(ReferenceData {
                    organisations,
                    mediators,
                    calendar,
                    versions: Versions { organisations: o.version, mediators: m.version, calendar: calendar_version },
                })
            }
            _ => Err(ReferenceError::Invalid(problems)),
        }
    }
}

fn types(names: &[String], at: &str, problems: &mut Vec<String>) -> Vec<DisputeType> {
    names
        .iter()
        .filter_map(|n| {
            let t = dispute_type_of(n);
            if t.is_none() {
                problems.push(format!("{at}: `{n}` is not a dispute type"));
            }
            t
        })
        .collect()
}

impl ReferenceData {
    /// The organisation with this id.
    pub fn organisation(&self, id: &str) -> Option<&Organisation> {
        self.organisations.iter().find(|o| o.org.id == id)
    }

    /// The mediator with this id.
    pub fn mediator(&self, id: &str) -> Option<&Mediator> {
        self.mediators.iter().find(|m| m.mediator.id == id)
    }

    /// Assignment's view of every organisation.
    pub fn orgs(&self) -> Vec<Org> {
        self.organisations.iter().map(|o| o.org.clone()).collect()
    }

    /// Assignment's view of every mediator.
    pub fn mediator_refs(&self) -> Vec<MediatorRef> {
        self.mediators.iter().map(|m| m.mediator.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_set_checks() {
        let data = ReferenceFiles::shipped().parse().expect("the shipped set checks");
        assert!(data.organisations.len() >= 30);
        assert!(data.mediators.len() >= 60);
        assert!(data.organisation("411602001-tw").is_some());
        assert!(data.organisation("411602-labour").is_some_and(|o| o.org.specialties == [DisputeType::Labour]));
    }

    #[test]
    fn every_problem_is_named() {
        let mut files = ReferenceFiles::shipped();
        files
            .organisations
            .push_str("\n[[organisations]]\nid = \"x\"\nname = \"x\"\nkind = \"club\"\nregion = \"411602\"\n");
        files.mediators.push_str(
            "\n[[mediators]]\nid = \"m-x\"\nname = \"x\"\norganisation = \"nowhere\"\nspecialties = [\"gossip\"]\n",
        );
        let Err(ReferenceError::Invalid(problems)) = files.parse() else { panic!("should not check") };
        let text = problems.join("\n");
        assert!(text.contains("kind `club`"), "{text}");
        assert!(text.contains("no organisation `nowhere`"), "{text}");
        assert!(text.contains("`gossip` is not a dispute type"), "{text}");
    }

    #[test]
    fn dispute_type_names_round_trip() {
        assert_eq!(dispute_type_of("property_management"), Some(DisputeType::PropertyManagement));
        assert_eq!(dispute_type_name(DisputeType::PropertyManagement), "property_management");
        assert_eq!(dispute_type_of("unspecified"), None);
    }
}
