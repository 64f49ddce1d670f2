use super::*;
use crate::domain::{facts::from_task_event, selectors::Selector};
use chrono::FixedOffset;
use civicgrid_proto::v1::{RegionPath, TaskEvent, WarningColour};

fn offset() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap()
}

fn warning(colour: WarningColour) -> Fact {
    let e = TaskEvent {
        task_id: "t1".into(),
        fact: "task-warning".into(),
        department_id: "cg".into(),
        colour: colour as i32,
        tracking_number: "411602-20261122-000001".into(),
        region: Some(RegionPath { city: "411600".into(), county: "411602".into(), ..Default::default() }),
        ..Default::default()
    };
    from_task_event("ce", &e, offset())
}

#[test]
fn the_shipped_rules_check() {
    let rules = Rules::shipped().expect("shipped rules are valid");
    assert!(rules.rules.len() >= 10);
    let escalation = rules.rules.iter().find(|r| r.name == "escalation-supervision").unwrap();
    assert_eq!(escalation.ack_within_minutes, Some(30));
    assert_eq!(escalation.priority, Priority::Critical);
}

#[test]
fn when_conditions_select_by_value() {
    let rules = Rules::shipped().unwrap();
    let names = |f: &Fact| rules.matching(f).map(|r| r.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&warning(WarningColour::Yellow)), ["duty-desk-yellow"]);
    assert_eq!(names(&warning(WarningColour::Orange)), ["duty-desk-overdue"]);
    assert_eq!(names(&warning(WarningColour::Red)), ["duty-desk-red"]);
    let overdue = rules.rules.iter().find(|r| r.name == "duty-desk-overdue").unwrap();
    assert_eq!(overdue.to, [Selector::Department, Selector::TownshipCenter]);
    let red = rules.rules.iter().find(|r| r.name == "duty-desk-red").unwrap();
    assert_eq!(
        (red.priority, red.ack_within_minutes),
        (Priority::Critical, Some(30)),
        "red warnings must be acknowledged"
    );
}

#[test]
fn renders_both_languages_with_localized_values() {
    let rules = Rules::shipped().unwrap();
    let f = warning(WarningColour::Red);
    let (title, _) = rules.render("task-warning", "zh-CN", &f.data);
    assert_eq!(title, "红色预警 411602-20261122-000001");
    let (title, body) = rules.render("task-warning", "en", &f.data);
    assert_eq!(title, "red warning 411602-20261122-000001");
    assert!(body.contains("Task t1"), "{body}");
    let (title, _) = rules.render("task-warning", "fr", &f.data);
    assert!(title.starts_with("红色"), "unknown locales fall back to zh-CN");
}

#[test]
fn every_problem_is_reported_with_its_place() {
    let text = r#"
[[rules]]
name = "a"
on = ["task-assigned", "task-nonsense"]
to = ["department", "mayor"]
template = "t"
priority = "urgent"
when = { shoe_size = "42" }

[[rules]]
name = "a"
on = ["event-reported"]
to = ["department"]
template = "missing"

[templates.t.zh-CN]
title = "{tracking_number} {no_such_value}"
body = "ok"
[templates.t.en]
title = "{unclosed"
body = "}"
"#;
    let Err(RulesError::Invalid { problems, .. }) = Rules::parse(text, "test") else { panic!("accepted") };
    let all = problems.join("\n");
    for expected in [
        "unknown fact `task-nonsense`",
        "unknown recipient `mayor`",
        "priority `urgent`",
        "`when.shoe_size`",
        "rule `a`: the name is used twice",
        "`department` means nothing for EventReported facts",
        "no template `missing`",
        "uses `{no_such_value}`",
        "template `t` en title",
        "template `t` en body",
    ] {
        assert!(all.contains(expected), "missing `{expected}` in:\n{all}");
    }
}

#[test]
fn templates_need_both_languages_and_syntax_errors_say_where() {
    let text = r#"
[templates.t.zh-CN]
title = "x"
body = "y"
"#;
    let Err(RulesError::Invalid { problems, .. }) = Rules::parse(text, "test") else { panic!("accepted") };
    assert_eq!(problems, ["template `t`: no `en` text"]);
    let Err(RulesError::Syntax { message, .. }) = Rules::parse("[[rules]]\nname = 1", "f.toml") else {
        panic!("accepted")
    };
    assert!(!message.is_empty());
    assert!(matches!(Rules::parse("[[rules]]\nnme = \"x\"", "f.toml"), Err(RulesError::Syntax { .. })));
}

#[test]
fn braces_escape() {
    assert_eq!(placeholders("{{a}} {b}").unwrap(), ["b"]);
    assert_eq!(fill("{{x}} {b}", "en", &BTreeMap::from([("b".into(), "1".into())])), "{x} 1");
}

fn case(fact: &str, deadline: &str, overdue: bool) -> Fact {
    let e = civicgrid_proto::v1::MediationCaseEvent {
        fact: fact.into(),
        case_id: "c1".into(),
        case_number: "调411602-20261123-0001".into(),
        state: civicgrid_proto::v1::CaseState::InMediation as i32,
        dispute_type: civicgrid_proto::v1::DisputeType::Neighbour as i32,
        risk: civicgrid_proto::v1::RiskLevel::High as i32,
        organisation_id: "411602001-tw".into(),
        mediator_id: "med-1".into(),
        region: Some(RegionPath {
            city: "411600".into(),
            county: "411602".into(),
            township: "411602001".into(),
            ..Default::default()
        }),
        deadline: (!deadline.is_empty()).then(|| civicgrid_proto::v1::CaseDeadline {
            name: deadline.into(),
            due: Some(prost_types::Timestamp { seconds: 1_797_350_400, nanos: 0 }),
            overdue,
        }),
        ..Default::default()
    };
    crate::domain::mediation::from_case_event("ce", &e, offset())
}

const MEDIATOR: &str = "mediator:med-1";
const ORGANISATION: &str = "department:411602001-tw";
const OFFICE: &str = "department:411602001-sifa";
const CENTER: &str = "center:411602001";
const STATION: &str = "department:411602001-gongan";

/// A case fact (its name, deadline, whether passed), the rule it matches, its priority and whom.
type Routing = (&'static str, &'static str, bool, &'static str, Priority, &'static [&'static str]);

#[test]
fn case_facts_reach_whom_the_shipped_rules_name() {
    let rules = Rules::shipped().unwrap();
    let routed = |f: &Fact| -> Vec<(String, Priority, Vec<String>)> {
        rules
            .matching(f)
            .map(|r| {
                let to = r.to.iter().flat_map(|s| s.resolve(f, &[])).map(|r| r.to_string()).collect();
                (r.name.clone(), r.priority, to)
            })
            .collect()
    };
    // (fact, deadline, passed) → (rule, priority, recipients)
    let expected: [Routing; 10] = [
        ("case-opened", "", false, "mediation-new-case", Priority::Normal, &[OFFICE, ORGANISATION]),
        ("case-assigned", "", false, "mediator-assigned", Priority::High, &[MEDIATOR]),
        ("case-escalated", "", false, "mediation-high-risk", Priority::Critical, &[CENTER, STATION]),
        ("case-warning", "mediation", true, "mediation-deadline-passed", Priority::High, &[MEDIATOR, ORGANISATION]),
        ("case-warning", "acceptance", false, "mediation-deadline-soon", Priority::Normal, &[MEDIATOR, ORGANISATION]),
        ("case-warning", "confirmation-window", false, "mediator-confirmation-window", Priority::Normal, &[MEDIATOR]),
        ("case-warning", "confirmation-window", true, "mediator-confirmation-closed", Priority::Low, &[MEDIATOR]),
        ("case-agreement-reached", "", false, "justice-office-agreement", Priority::Low, &[OFFICE]),
        ("case-failed", "", false, "justice-office-failure", Priority::Normal, &[OFFICE]),
        ("case-transferred", "", false, "justice-office-transfer", Priority::Normal, &[OFFICE]),
    ];
    for (fact, deadline, passed, rule, priority, to) in expected {
        let to = to.iter().map(|s| s.to_string()).collect();
        assert_eq!(routed(&case(fact, deadline, passed)), [(rule.to_string(), priority, to)], "{fact} {deadline}");
    }
    let escalated = case("case-escalated", "", false);
    assert_eq!(rules.matching(&escalated).next().and_then(|r| r.ack_within_minutes), Some(30), "must be acknowledged");
    assert!(routed(&case("case-session-held", "", false)).is_empty(), "a session held tells nobody");
}

#[test]
fn case_words_are_localized_in_chinese() {
    let rules = Rules::shipped().unwrap();
    let f = case("case-warning", "mediation", true);
    let (title, body) = rules.render("case-warning", "zh-CN", &f.data);
    assert_eq!(title, "调解期限已届满 调411602-20261123-0001");
    assert!(body.contains("邻里纠纷，调解中") && body.contains("2026-12-16 00:00"), "{body}");
    let (title, body) = rules.render("case-warning", "en", &f.data);
    assert_eq!(title, "mediation deadline passed 调411602-20261123-0001");
    assert!(body.contains("(neighbour, in_mediation)"), "{body}");
    let (_, body) = rules.render("case-escalated", "zh-CN", &case("case-escalated", "", false).data);
    assert!(body.starts_with("411602001 的邻里纠纷案件"), "{body}");
}
