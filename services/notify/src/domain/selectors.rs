//! Whom a rule names: the selectors of the rules file's `to` (`department`, `reporters`,
//! `township_center` …) and the recipients each resolves to for a fact.

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
}

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
            _ => return None,
        })
    }

    /// Whether it means anything for facts of `kind`.
    pub fn applies_to(self, kind: FactKind) -> bool {
        match self {
            Selector::Department | Selector::GridWorker => kind == FactKind::Task,
            Selector::Reporters => kind != FactKind::Unacknowledged,
            Selector::TownshipCenter | Selector::CountyCenter => true,
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
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::FixedOffset;
    use civicgrid_proto::v1::{RegionPath, TaskEvent};

    use super::*;
    use crate::domain::facts::from_task_event;

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
    }
}
