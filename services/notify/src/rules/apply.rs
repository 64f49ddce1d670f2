//! What a batch of facts becomes under the rules, decided without I/O: the reporters intake's
//! facts teach, the facts worth announcing and the rules each matches, the events whose stored
//! reporters are needed (and the facts that wait for them), whom each rule names, and the
//! notice each recipient gets. `use_cases::record_facts` runs these between its statements.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::{Rule, Rules};
use crate::domain::{
    facts::{Fact, FactKind},
    notices::Draft,
};

/// A fact of the batch (its index) and the rules it matches.
#[derive(Debug)]
pub struct Matched<'a> {
    /// The fact's index in the batch.
    pub fact: usize,
    /// The rules it matches, in file order.
    pub rules: Vec<&'a Rule>,
}

/// One notification to write: a fact (its index), a rule it matched, a recipient the rule names.
#[derive(Debug)]
pub struct Target<'a> {
    /// The fact's index in the batch.
    pub fact: usize,
    /// The rule.
    pub rule: &'a Rule,
    /// The recipient, `<kind>:<id>`.
    pub recipient: String,
}

impl Rules {
    /// The facts of the batch to announce at `now`, with the rules each matches, in batch
    /// order. A fact older than `max_age` (by its own time) is announced to nobody, so a first
    /// start or a replay does not announce the past; a fact no rule matches is left out.
    pub fn matched<'a>(&'a self, facts: &'a [Fact], now: DateTime<Utc>, max_age: Option<Duration>) -> Vec<Matched<'a>> {
        facts
            .iter()
            .enumerate()
            .filter(|(_, f)| match (max_age, f.at) {
                (Some(age), Some(at)) => now - at <= age,
                _ => true,
            })
            .map(|(i, f)| Matched { fact: i, rules: self.matching(f).collect() })
            .filter(|m| !m.rules.is_empty())
            .collect()
    }

    /// The notification `target` (about `fact`) becomes at `now`, written in the recipient's
    /// `locale`.
    pub fn draft(&self, target: &Target, fact: &Fact, locale: &str, now: DateTime<Utc>) -> Draft {
        let rule = target.rule;
        let (title, body) = self.render(&rule.template, locale, &fact.data);
        Draft {
            fact: target.fact,
            id: Uuid::now_v7(),
            dedup_key: format!("{}/{}/{}", fact.source_event_id, rule.name, target.recipient),
            recipient: target.recipient.clone(),
            rule: rule.name.clone(),
            template: rule.template.clone(),
            priority: rule.priority,
            locale: locale.to_string(),
            title,
            body,
            ack_due_at: rule.ack_within_minutes.map(|m| now + Duration::minutes(m)),
        }
    }
}

/// The (event, reporter) pairs intake's facts in the batch teach, sorted, each once.
pub fn reporters_taught(facts: &[Fact]) -> Vec<(String, String)> {
    let mut seen: Vec<(String, String)> = facts
        .iter()
        .filter(|f| !f.reporter_id.is_empty() && !f.event_id.is_empty())
        .map(|f| (f.event_id.clone(), f.reporter_id.clone()))
        .collect();
    seen.sort();
    seen.dedup();
    seen
}

/// The events whose stored reporters the batch needs: those of the task facts matched by a
/// rule that names `reporters` (an intake fact carries its reporter itself); sorted, each once.
pub fn events_needing_reporters(facts: &[Fact], matched: &[Matched]) -> Vec<String> {
    let mut events: Vec<String> = matched
        .iter()
        .filter(|m| {
            let f = &facts[m.fact];
            f.kind == FactKind::Task
                && !f.event_id.is_empty()
                && m.rules.iter().any(|r| r.to.iter().any(|s| s.needs_reporters()))
        })
        .map(|m| facts[m.fact].event_id.clone())
        .collect();
    events.sort();
    events.dedup();
    events
}

/// The matched facts that wait for intake's fact about their event: they need its reporters
/// (`needing`) and none are known yet (`reporters`, by event).
pub fn waiting<'f>(
    facts: &'f [Fact],
    matched: &[Matched],
    needing: &[String],
    reporters: &HashMap<String, Vec<String>>,
) -> Vec<&'f Fact> {
    matched
        .iter()
        .map(|m| &facts[m.fact])
        .filter(|f| needing.contains(&f.event_id) && !reporters.contains_key(&f.event_id))
        .collect()
}

/// Whom the matched rules name for each fact (`reporters`: the known reporters by event): each
/// recipient once per fact and rule, in batch, rule and selector order.
pub fn targets<'a>(
    facts: &[Fact],
    matched: &[Matched<'a>],
    reporters: &HashMap<String, Vec<String>>,
) -> Vec<Target<'a>> {
    let mut targets: Vec<Target<'a>> = Vec::new();
    for m in matched {
        let fact = &facts[m.fact];
        let known = reporters.get(&fact.event_id).map(Vec::as_slice).unwrap_or(&[]);
        for rule in &m.rules {
            for selector in &rule.to {
                for r in selector.resolve(fact, known) {
                    let r = r.to_string();
                    if !targets.iter().any(|t| t.fact == m.fact && t.rule.name == rule.name && t.recipient == r) {
                        targets.push(Target { fact: m.fact, rule, recipient: r });
                    }
                }
            }
        }
    }
    targets
}

/// The recipients of `targets`, sorted, each once.
pub fn recipients(targets: &[Target]) -> Vec<String> {
    let mut recipients: Vec<String> = targets.iter().map(|t| t.recipient.clone()).collect();
    recipients.sort();
    recipients.dedup();
    recipients
}

#[cfg(test)]
mod tests {
    use chrono::FixedOffset;
    use civicgrid_proto::v1::{Event, EventReport, EventReported, RegionPath, TaskEvent};

    use super::*;
    use crate::domain::facts::{from_reported, from_task_event};

    const RULES: &str = r#"
[[rules]]
name = "desk"
on = ["task-closed"]
to = ["department", "township_center"]
template = "closed"
priority = "high"
ack_within_minutes = 30

[[rules]]
name = "reporter-closed"
on = ["task-closed"]
to = ["reporters", "department"]
template = "closed"

[[rules]]
name = "receipt"
on = ["event-reported"]
to = ["reporters"]
template = "closed"

[templates.closed.zh-CN]
title = "办结 {tracking_number}"
body = "已办结"
[templates.closed.en]
title = "closed {tracking_number}"
body = "closed"
"#;

    fn rules() -> Rules {
        Rules::parse(RULES, "test").unwrap()
    }

    fn offset() -> FixedOffset {
        FixedOffset::east_opt(8 * 3600).unwrap()
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(seconds, 0).unwrap()
    }

    fn region() -> RegionPath {
        RegionPath {
            city: "411600".into(),
            county: "411602".into(),
            township: "411602001".into(),
            ..Default::default()
        }
    }

    fn closed(ce: &str, event: &str, seconds: i64) -> Fact {
        let e = TaskEvent {
            fact: "task-closed".into(),
            task_id: format!("t-{event}"),
            event_id: event.into(),
            department_id: "cg".into(),
            tracking_number: "411602-20261122-000001".into(),
            region: Some(region()),
            occurred_at: Some(prost_types::Timestamp { seconds, nanos: 0 }),
            ..Default::default()
        };
        from_task_event(ce, &e, offset())
    }

    fn reported(ce: &str, event: &str, reporter: &str) -> Fact {
        let r = EventReported {
            event: Some(Event {
                id: event.into(),
                reports: vec![EventReport { reporter_id: reporter.into(), ..Default::default() }],
                ..Default::default()
            }),
            actor: None,
        };
        from_reported(ce, &r, offset())
    }

    #[test]
    fn intake_facts_teach_reporters_once() {
        let facts =
            [reported("c1", "e2", "r2"), closed("c2", "e1", 0), reported("c3", "e1", "r1"), reported("c1", "e2", "r2")];
        assert_eq!(reporters_taught(&facts), [("e1".into(), "r1".into()), ("e2".into(), "r2".into())]);
    }

    #[test]
    fn old_and_unmatched_facts_are_not_announced() {
        let rules = rules();
        let mut unknown = closed("c3", "e3", 1_000);
        unknown.fact = "task-assigned".into();
        let facts = [closed("c1", "e1", 1_000), closed("c2", "e2", 1_000 - 3_601), unknown];
        let hour = Some(Duration::hours(1));
        let fresh: Vec<usize> = rules.matched(&facts, at(1_000), hour).iter().map(|m| m.fact).collect();
        assert_eq!(fresh, [0], "older than an hour, or matched by no rule");
        let all = rules.matched(&facts, at(1_000), None);
        assert_eq!(all.iter().map(|m| m.fact).collect::<Vec<_>>(), [0, 1]);
        assert_eq!(all[0].rules.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["desk", "reporter-closed"]);
    }

    #[test]
    fn task_facts_for_reporters_nobody_knows_wait() {
        let rules = rules();
        let facts = [closed("c1", "e1", 0), closed("c2", "e2", 0), reported("c3", "e3", "r3")];
        let matched = rules.matched(&facts, at(0), None);
        let needing = events_needing_reporters(&facts, &matched);
        assert_eq!(needing, ["e1", "e2"], "an intake fact brings its own reporter");
        let known = HashMap::from([("e1".to_string(), vec!["r1".to_string(), "r9".to_string()])]);
        let waiting: Vec<&str> =
            waiting(&facts, &matched, &needing, &known).iter().map(|f| f.source_event_id.as_str()).collect();
        assert_eq!(waiting, ["c2"]);
        let targets = targets(&facts, &matched, &known);
        let names: Vec<(usize, &str, &str)> =
            targets.iter().map(|t| (t.fact, t.rule.name.as_str(), t.recipient.as_str())).collect();
        assert_eq!(
            names,
            [
                (0, "desk", "department:cg"),
                (0, "desk", "center:411602001"),
                (0, "reporter-closed", "reporter:r1"),
                (0, "reporter-closed", "reporter:r9"),
                (0, "reporter-closed", "department:cg"),
                (1, "desk", "department:cg"),
                (1, "desk", "center:411602001"),
                (1, "reporter-closed", "department:cg"),
                (2, "receipt", "reporter:r3"),
            ]
        );
    }

    #[test]
    fn a_recipient_named_twice_by_one_rule_is_told_once() {
        let rules = Rules::parse(
            &RULES.replace(
                r#"to = ["department", "township_center"]"#,
                r#"to = ["township_center", "county_center", "township_center"]"#,
            ),
            "t",
        )
        .unwrap();
        let mut fact = closed("c1", "e1", 0);
        fact.data.insert("township".into(), String::new());
        let facts = [fact];
        let matched = rules.matched(&facts, at(0), None);
        let desk: Vec<String> = targets(&facts, &matched, &HashMap::new())
            .into_iter()
            .filter(|t| t.rule.name == "desk")
            .map(|t| t.recipient)
            .collect();
        assert_eq!(desk, ["center:411602"], "no township: the township center is the county's");
        let all = targets(&facts, &matched, &HashMap::new());
        assert_eq!(recipients(&all), ["center:411602", "department:cg"]);
    }

    #[test]
    fn drafts_are_written_in_the_recipients_language() {
        let rules = rules();
        let facts = [closed("ce-1", "e1", 0)];
        let matched = rules.matched(&facts, at(0), None);
        let targets = targets(&facts, &matched, &HashMap::new());
        let d = rules.draft(&targets[0], &facts[0], "en", at(60));
        assert_eq!((d.fact, d.dedup_key.as_str(), d.rule.as_str()), (0, "ce-1/desk/department:cg", "desk"));
        assert_eq!((d.title.as_str(), d.locale.as_str()), ("closed 411602-20261122-000001", "en"));
        assert_eq!(d.ack_due_at, Some(at(60 + 30 * 60)), "acknowledgement is due 30 minutes after writing");
        let zh = rules.draft(&targets[2], &facts[0], "zh-CN", at(60));
        assert_eq!((zh.title.as_str(), zh.ack_due_at), ("办结 411602-20261122-000001", None));
    }
}
