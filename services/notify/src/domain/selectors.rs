//! Whom a rule names: the selectors of the rules file's `to` (`department`, `reporters`,
//! `township_center`, `mediator`, `justice_office`, `patrol_supervisor` …) and the recipients
//! each resolves to for a fact.

use super::{
    facts::{Fact, FactKind},
    recipients::{Kind, Recipient},
};

/// Who a rule sends to, named in the rules file's `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selector {
    /// The task's department (`department_id`).
    Department,
    /// The grid worker of the event's grid (`grid_worker_id`).
    GridWorker,
    /// The reporter of an intake fact; for task facts every reporter of the event.
    Reporters,
    /// The center of the fact's township (its county's when no township is known).
    TownshipCenter,
    /// The center of the fact's county.
    CountyCenter,
    /// The center the fact escalated to (`escalated_to`).
    EscalationCenter,
    /// The leaders of that region.
    EscalationLeaders,
    /// The case's mediator (`mediator_id`).
    Mediator,
    /// The case's mediation organisation, by its system or desk: `department:<organisation_id>`.
    Organisation,
    /// The township's justice office (司法所), `department:<township>-sifa`; the county's
    /// (`<county>-sifa`) when no township is known.
    JusticeOffice,
    /// The township's police station (派出所), `department:<township>-gongan`; the county's
    /// public security bureau (`<county>-gongan`) when no township is known.
    PoliceStation,
    /// Each of the patrol team's supervisors (`supervisor_ids`): `patrol-supervisor:<id>`.
    PatrolSupervisor,
    /// The department that runs the patrol team, by its duty desk: `department:<unit_id>`.
    PatrolUnit,
}

/// The selectors' names in the rules file, in the order the docs list them.
pub const NAMES: [&str; 13] = [
    "department",
    "grid_worker",
    "reporters",
    "township_center",
    "county_center",
    "escalation_center",
    "escalation_leaders",
    "mediator",
    "organisation",
    "justice_office",
    "police_station",
    "patrol_supervisor",
    "patrol_unit",
];

impl Selector {
    /// Parses a rules-file name.
    pub fn parse(s: &str) -> Option<Selector> {
        Some(match s {
            "department" => Selector::Department,
            "grid_worker" => Selector::GridWorker,
            "reporters" => Selector::Reporters,
            "township_center" => Selector::TownshipCenter,
            "county_center" => Selector::CountyCenter,
            "escalation_center" => Selector::EscalationCenter,
            "escalation_leaders" => Selector::EscalationLeaders,
            "mediator" => Selector::Mediator,
            "organisation" => Selector::Organisation,
            "justice_office" => Selector::JusticeOffice,
            "police_station" => Selector::PoliceStation,
            "patrol_supervisor" => Selector::PatrolSupervisor,
            "patrol_unit" => Selector::PatrolUnit,
            _ => return None,
        })
    }

    /// Whether it means anything for facts of `kind`.
    pub fn applies_to(self, kind: FactKind) -> bool {
        match self {
            Selector::Department | Selector::GridWorker => kind == FactKind::Task,
            Selector::Reporters => matches!(kind, FactKind::Task | FactKind::EventReported | FactKind::EventMerged),
            Selector::TownshipCenter | Selector::CountyCenter => true,
            Selector::JusticeOffice | Selector::PoliceStation => true,
            Selector::Mediator | Selector::Organisation => kind == FactKind::Case,
            Selector::PatrolSupervisor | Selector::PatrolUnit => kind == FactKind::Patrol,
            Selector::EscalationCenter | Selector::EscalationLeaders => {
                matches!(kind, FactKind::Task | FactKind::Unacknowledged)
            }
        }
    }

    /// Whether resolving it needs the event's stored reporters.
    pub fn needs_reporters(self) -> bool {
        self == Selector::Reporters
    }

    /// The recipients it names for `fact`; `reporters` are the event's known reporters.
    pub fn resolve(self, fact: &Fact, reporters: &[String]) -> Vec<Recipient> {
        let value = |k: &str| fact.data.get(k).filter(|v| !v.is_empty()).cloned();
        let one = |kind: Kind, id: Option<String>| id.map(|id| Recipient::new(kind, id)).into_iter().collect();
        // The department of `kind` serving the fact's township, or its county without one.
        let local_office =
            |kind: &str| value("township").or_else(|| value("county")).map(|code| format!("{code}-{kind}"));
        match self {
            Selector::Department => one(Kind::Department, value("department_id")),
            Selector::GridWorker => one(Kind::GridWorker, value("grid_worker_id")),
            Selector::Reporters => {
                if fact.kind == FactKind::Task {
                    reporters.iter().map(|r| Recipient::new(Kind::Reporter, r.clone())).collect()
                } else {
                    one(Kind::Reporter, Some(fact.reporter_id.clone()).filter(|r| !r.is_empty()))
                }
            }
            Selector::TownshipCenter => one(Kind::Center, value("township").or_else(|| value("county"))),
            Selector::CountyCenter => one(Kind::Center, value("county")),
            Selector::EscalationCenter => one(Kind::Center, value("escalated_to")),
            Selector::EscalationLeaders => one(Kind::Leaders, value("escalated_to")),
            Selector::Mediator => one(Kind::Mediator, value("mediator_id")),
            Selector::Organisation => one(Kind::Department, value("organisation_id")),
            Selector::JusticeOffice => one(Kind::Department, local_office("sifa")),
            Selector::PoliceStation => one(Kind::Department, local_office("gongan")),
            // Space-separated (domain::patrol::join_ids); an id no recipient can have is nobody.
            Selector::PatrolSupervisor => {
                let mut out: Vec<Recipient> = Vec::new();
                for id in value("supervisor_ids").unwrap_or_default().split(' ') {
                    if let Ok(r) = Recipient::parse(&format!("{}:{id}", Kind::PatrolSupervisor.prefix()))
                        && !out.contains(&r)
                    {
                        out.push(r);
                    }
                }
                out
            }
            Selector::PatrolUnit => one(Kind::Department, value("unit_id")),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::FixedOffset;
    use civicgrid_proto::v1::{MediationCaseEvent, PatrolEvent, RegionPath, TaskEvent};

    use super::*;
    use crate::domain::{facts::from_task_event, mediation::from_case_event, patrol::from_patrol_event};

    fn escalated(department_id: &str) -> Fact {
        let e = TaskEvent {
            fact: "task-escalated".into(),
            department_id: department_id.into(),
            grid_worker_id: "gw-1".into(),
            escalated_to: "411602".into(),
            region: Some(RegionPath {
                city: "411600".into(),
                county: "411602".into(),
                township: "411602001".into(),
                village: "411602001001".into(),
            }),
            ..Default::default()
        };
        from_task_event("ce1", &e, FixedOffset::east_opt(8 * 3600).unwrap())
    }

    #[test]
    fn selectors_resolve() {
        let t = escalated("cg-411602");
        let names = |s: Selector, reporters: &[String]| -> Vec<String> {
            s.resolve(&t, reporters).iter().map(|r| r.to_string()).collect()
        };
        assert_eq!(names(Selector::Department, &[]), ["department:cg-411602"]);
        assert_eq!(names(Selector::GridWorker, &[]), ["grid-worker:gw-1"]);
        assert_eq!(names(Selector::Reporters, &["a".into(), "b".into()]), ["reporter:a", "reporter:b"]);
        assert_eq!(names(Selector::TownshipCenter, &[]), ["center:411602001"]);
        assert_eq!(names(Selector::CountyCenter, &[]), ["center:411602"]);
        assert_eq!(names(Selector::EscalationCenter, &[]), ["center:411602"]);
        assert_eq!(names(Selector::EscalationLeaders, &[]), ["leaders:411602"]);
        assert!(Selector::Department.resolve(&escalated(""), &[]).is_empty(), "no department, nobody");
        assert!(!Selector::Department.applies_to(FactKind::EventReported));
        assert!(Selector::Reporters.needs_reporters() && !Selector::Department.needs_reporters());
        for name in NAMES {
            assert!(Selector::parse(name).is_some(), "{name} parses");
        }
    }

    fn case(township: &str, mediator: &str) -> Fact {
        let e = MediationCaseEvent {
            fact: "case-escalated".into(),
            case_id: "c1".into(),
            organisation_id: "411602001-tw".into(),
            mediator_id: mediator.into(),
            region: Some(RegionPath {
                city: "411600".into(),
                county: "411602".into(),
                township: township.into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        from_case_event("ce1", &e, FixedOffset::east_opt(8 * 3600).unwrap())
    }

    #[test]
    fn mediation_selectors_resolve() {
        let names =
            |s: Selector, f: &Fact| -> Vec<String> { s.resolve(f, &[]).iter().map(|r| r.to_string()).collect() };
        let c = case("411602001", "med-1");
        assert_eq!(names(Selector::Mediator, &c), ["mediator:med-1"]);
        assert_eq!(names(Selector::Organisation, &c), ["department:411602001-tw"]);
        assert_eq!(names(Selector::JusticeOffice, &c), ["department:411602001-sifa"]);
        assert_eq!(names(Selector::PoliceStation, &c), ["department:411602001-gongan"]);
        assert_eq!(names(Selector::TownshipCenter, &c), ["center:411602001"]);
        assert_eq!(names(Selector::CountyCenter, &c), ["center:411602"]);
        let county_case = case("", "");
        assert!(names(Selector::Mediator, &county_case).is_empty(), "no mediator yet, nobody");
        assert_eq!(names(Selector::JusticeOffice, &county_case), ["department:411602-sifa"]);
        assert_eq!(names(Selector::PoliceStation, &county_case), ["department:411602-gongan"]);
        assert_eq!(names(Selector::TownshipCenter, &county_case), ["center:411602"]);
        for s in [Selector::Mediator, Selector::Organisation] {
            assert!(s.applies_to(FactKind::Case) && !s.applies_to(FactKind::Task), "{s:?} is for cases only");
        }
        for s in [Selector::Department, Selector::GridWorker, Selector::Reporters, Selector::EscalationCenter] {
            assert!(!s.applies_to(FactKind::Case), "{s:?} means nothing for a case");
        }
        assert!(
            Selector::JusticeOffice.applies_to(FactKind::Task) && Selector::PoliceStation.applies_to(FactKind::Case)
        );
    }

    fn patrol(fact: &str, supervisors: &[&str], township: &str) -> Fact {
        let e = PatrolEvent {
            fact: fact.into(),
            shift_id: "s1".into(),
            team_id: "411602-zx-1".into(),
            unit_id: "411602-gongan".into(),
            supervisor_ids: supervisors.iter().map(|s| s.to_string()).collect(),
            region: Some(RegionPath {
                city: "411600".into(),
                county: "411602".into(),
                township: township.into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        from_patrol_event("ce1", &e, FixedOffset::east_opt(8 * 3600).unwrap())
    }

    #[test]
    fn patrol_selectors_resolve() {
        let names =
            |s: Selector, f: &Fact| -> Vec<String> { s.resolve(f, &[]).iter().map(|r| r.to_string()).collect() };
        let miss = patrol("checkpoint-missed", &["sup-1", "sup-2", "sup-1"], "411602001");
        assert_eq!(
            names(Selector::PatrolSupervisor, &miss),
            ["patrol-supervisor:sup-1", "patrol-supervisor:sup-2"],
            "each supervisor once, in the team's order"
        );
        assert_eq!(names(Selector::PatrolUnit, &miss), ["department:411602-gongan"]);
        assert_eq!(names(Selector::TownshipCenter, &miss), ["center:411602001"]);
        assert_eq!(names(Selector::CountyCenter, &miss), ["center:411602"]);
        let bare = patrol("presence-daily", &[], "");
        assert!(names(Selector::PatrolSupervisor, &bare).is_empty(), "no supervisors, nobody");
        assert_eq!(names(Selector::TownshipCenter, &bare), ["center:411602"], "a county-wide fact: the county's");
        let long = "x".repeat(129);
        assert!(
            names(Selector::PatrolSupervisor, &patrol("member-offline", &[long.as_str()], "")).is_empty(),
            "an id no recipient can have names nobody"
        );
        for s in [Selector::PatrolSupervisor, Selector::PatrolUnit] {
            assert!(s.applies_to(FactKind::Patrol) && !s.applies_to(FactKind::Task), "{s:?} is for patrol only");
            assert!(!s.applies_to(FactKind::Case) && !s.applies_to(FactKind::Unacknowledged));
        }
        for s in [Selector::Department, Selector::Reporters, Selector::Mediator, Selector::EscalationCenter] {
            assert!(!s.applies_to(FactKind::Patrol), "{s:?} means nothing for a patrol fact");
        }
        assert!(
            Selector::TownshipCenter.applies_to(FactKind::Patrol)
                && Selector::CountyCenter.applies_to(FactKind::Patrol)
        );
    }
}
