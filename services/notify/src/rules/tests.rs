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
