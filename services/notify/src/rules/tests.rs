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

fn patrol(fact: &str) -> Fact {
    let e = civicgrid_proto::v1::PatrolEvent {
        fact: fact.into(),
        shift_id: "s1".into(),
        team_id: "411602-zx-1".into(),
        team_name: "川汇区专职巡防一中队".into(),
        unit_id: "411602-gongan".into(),
        supervisor_ids: vec!["sup-1".into(), "sup-2".into()],
        route_id: "r1".into(),
        route_name: "人民路校园周边".into(),
        region: Some(RegionPath {
            city: "411600".into(),
            county: "411602".into(),
            township: "411602001".into(),
            ..Default::default()
        }),
        member_id: "m-7".into(),
        member_name: "王强".into(),
        checkpoint_id: "cp-3".into(),
        checkpoint_name: "实验小学东门".into(),
        // 2026-11-16 09:00 Beijing time.
        occurred_at: Some(prost_types::Timestamp { seconds: 1_794_790_800, nanos: 0 }),
        tracking_number: "411602-20261116-000042".into(),
        missed: 2,
        date: "2026-11-15".into(),
        members: 240,
        online: 210,
        online_rate: 0.875,
        ..Default::default()
    };
    crate::domain::patrol::from_patrol_event("ce", &e, offset())
}

const SUPERVISORS: [&str; 2] = ["patrol-supervisor:sup-1", "patrol-supervisor:sup-2"];
const UNIT: &str = "department:411602-gongan";
const TOWNSHIP_CENTER: &str = "center:411602001";

/// A patrol fact, the rule it matches, its priority and whom.
type PatrolRouting = (&'static str, &'static str, Priority, Vec<&'static str>);

#[test]
fn patrol_facts_reach_whom_the_shipped_rules_name() {
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
    let with = |extra: &[&'static str]| SUPERVISORS.iter().copied().chain(extra.iter().copied()).collect::<Vec<_>>();
    let expected: [PatrolRouting; 7] = [
        ("checkpoint-missed", "patrol-checkpoint-missed", Priority::High, with(&[UNIT])),
        ("tour-late", "patrol-tour-late", Priority::High, with(&[UNIT, TOWNSHIP_CENTER])),
        ("member-offline", "patrol-member-offline", Priority::High, with(&[])),
        ("member-online", "patrol-member-online", Priority::Low, with(&[])),
        ("finding-reported", "patrol-finding", Priority::Low, with(&[])),
        ("tour-completed", "patrol-tour-completed", Priority::Low, vec![UNIT]),
        ("presence-daily", "patrol-presence-daily", Priority::Low, vec!["center:411602"]),
    ];
    for (fact, rule, priority, to) in expected {
        let to = to.iter().map(|s| s.to_string()).collect();
        assert_eq!(routed(&patrol(fact)), [(rule.to_string(), priority, to)], "{fact}");
    }
    let ack = |fact: &str| rules.matching(&patrol(fact)).next().and_then(|r| r.ack_within_minutes);
    assert_eq!(ack("member-offline"), Some(15), "an offline member must be acknowledged");
    assert_eq!((ack("checkpoint-missed"), ack("tour-late")), (None, None));
    for quiet in ["shift-scheduled", "shift-started", "shift-ended", "shift-cancelled", "checkpoint-checked-in"] {
        assert!(routed(&patrol(quiet)).is_empty(), "{quiet} tells nobody");
    }
}

#[test]
fn an_unacknowledged_offline_notice_goes_to_the_township_center_alone() {
    use crate::domain::facts::{Unacknowledged, unacknowledged};
    let rules = Rules::shipped().unwrap();
    let offline = patrol("member-offline");
    let u = unacknowledged(
        &Unacknowledged {
            notification_id: "n1".into(),
            recipient: "patrol-supervisor:sup-1".into(),
            title: "队员离线 王强".into(),
            fact: offline.fact.clone(),
            subject_id: offline.subject_id.clone(),
            region: offline.region.clone(),
            data: offline.data.clone(),
            ack_due_at: chrono::DateTime::from_timestamp(1_794_791_700, 0).unwrap(),
        },
        offset(),
    );
    assert_eq!((u.data["escalated_to"].as_str(), u.data["original_service"].as_str()), ("411602001", "patrol"));
    let matched: Vec<(&str, Priority, Vec<String>)> = rules
        .matching(&u)
        .map(|r| {
            (r.name.as_str(), r.priority, r.to.iter().flat_map(|s| s.resolve(&u, &[])).map(|r| r.to_string()).collect())
        })
        .collect();
    assert_eq!(matched, [("patrol-offline-unacknowledged", Priority::Critical, vec![TOWNSHIP_CENTER.to_string()])]);
    assert!(rules.matching(&u).all(|r| r.ack_within_minutes.is_none()), "it stops there");
    let (title, body) = rules.render("member-offline-unacknowledged", "zh-CN", &u.data);
    assert_eq!(title, "超时未确认 队员离线 王强");
    assert!(body.starts_with("patrol-supervisor:sup-1 未在 2026-11-16 09:15 前确认"), "{body}");

    // A dispatch 督办 nobody acknowledged still goes to the center and leaders one level up.
    let red = warning(WarningColour::Red);
    let task = unacknowledged(
        &Unacknowledged {
            notification_id: "n2".into(),
            recipient: "center:411602".into(),
            title: "红色预警".into(),
            fact: red.fact.clone(),
            subject_id: red.subject_id.clone(),
            region: red.region.clone(),
            data: red.data.clone(),
            ack_due_at: chrono::DateTime::from_timestamp(1_794_791_700, 0).unwrap(),
        },
        offset(),
    );
    assert_eq!(task.data["original_service"], "dispatch");
    assert_eq!(rules.matching(&task).map(|r| r.name.as_str()).collect::<Vec<_>>(), ["unacknowledged-supervision"]);
}

#[test]
fn patrol_notices_read_well_in_both_languages() {
    let rules = Rules::shipped().unwrap();
    let render = |template: &str, fact: &str, locale: &str| rules.render(template, locale, &patrol(fact).data);
    let (title, body) = render("checkpoint-missed", "checkpoint-missed", "zh-CN");
    assert_eq!(title, "巡逻漏检 实验小学东门");
    assert_eq!(
        body,
        "川汇区专职巡防一中队 在路线「人民路校园周边」上未按时到达检查点「实验小学东门」（时限至 2026-11-16 09:00），请核实原因并安排补巡。"
    );
    let (title, _) = render("checkpoint-missed", "checkpoint-missed", "en");
    assert_eq!(title, "Checkpoint missed: 实验小学东门");
    let (title, body) = render("tour-late", "tour-late", "zh-CN");
    assert_eq!(title, "巡逻超时 人民路校园周边");
    assert!(body.contains("已漏检 2 个检查点"), "{body}");
    let (title, body) = render("member-offline", "member-offline", "zh-CN");
    assert_eq!(title, "队员离线 王强");
    assert!(body.contains("最后定位时间 2026-11-16 09:00") && body.contains("确认收悉"), "{body}");
    let (title, body) = render("finding-reported", "finding-reported", "zh-CN");
    assert_eq!(title, "巡逻发现 411602-20261116-000042");
    assert!(body.contains("受理编号 411602-20261116-000042"), "{body}");
    let (title, body) = render("presence-daily", "presence-daily", "zh-CN");
    assert_eq!(title, "上线率 2026-11-15");
    assert_eq!(body, "411602001 2026-11-15 上线率 87.5%：应在线 240 人，实际在线 210 人。");
    let (_, body) = render("presence-daily", "presence-daily", "en");
    assert_eq!(body, "411602001 on 2026-11-15: 210 of 240 members online (87.5%).");
}
