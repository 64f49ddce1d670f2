//! Rules and templates: which facts notify whom, how urgently, in which words.
//!
//! Both live in one TOML file (`notify.rules_file`, or the one compiled in from
//! `data/rules.toml`), checked as a whole at start-up: every problem is reported with the rule
//! or template it is in, and the service does not start with a broken file. The format is in
//! `docs/notifications.md`.

pub mod apply;

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::domain::{
    facts::{Fact, fields, kind_of},
    schedule::Priority,
    selectors::{self, Selector},
};

/// The rules file compiled in.
pub const SHIPPED: &str = include_str!("../../data/rules.toml");

/// The languages every template must have.
pub const LOCALES: [&str; 2] = ["zh-CN", "en"];

/// A file that does not load or check.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    /// Not TOML of the expected shape.
    #[error("rules file {origin}: {message}")]
    Syntax {
        /// Where it came from.
        origin: String,
        /// The parser's message.
        message: String,
    },
    /// Checks failed.
    #[error("rules file {origin} has {} problem(s):\n  - {}", problems.len(), problems.join("\n  - "))]
    Invalid {
        /// Where it came from.
        origin: String,
        /// Every problem found.
        problems: Vec<String>,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    rules: Vec<RawRule>,
    #[serde(default)]
    templates: BTreeMap<String, BTreeMap<String, RawText>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: String,
    on: Vec<String>,
    #[serde(default)]
    when: BTreeMap<String, WhenValue>,
    to: Vec<String>,
    template: String,
    #[serde(default = "normal")]
    priority: String,
    #[serde(default)]
    ack_within_minutes: i64,
}

fn normal() -> String {
    "normal".into()
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum WhenValue {
    One(String),
    Many(Vec<String>),
    Bool(bool),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawText {
    title: String,
    body: String,
}

/// One checked rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Its unique name.
    pub name: String,
    /// The facts it reacts to.
    pub on: Vec<String>,
    /// Values the fact must have: each named value must be one of the listed ones.
    pub when: BTreeMap<String, Vec<String>>,
    /// Who it tells.
    pub to: Vec<Selector>,
    /// The template it writes with.
    pub template: String,
    /// How urgent.
    pub priority: Priority,
    /// When set, the notice must be acknowledged within this many minutes or it escalates once
    /// more (`notify-unacknowledged`).
    pub ack_within_minutes: Option<i64>,
}

impl Rule {
    /// Whether it applies to `fact`.
    pub fn matches(&self, fact: &Fact) -> bool {
        self.on.iter().any(|f| f == &fact.fact)
            && self.when.iter().all(|(k, allowed)| fact.data.get(k).is_some_and(|v| allowed.contains(v)))
    }
}

/// A template's words in one language.
#[derive(Debug, Clone)]
pub struct Text {
    /// The title, with `{placeholders}`.
    pub title: String,
    /// The body, with `{placeholders}`.
    pub body: String,
}

/// The checked rules and templates.
#[derive(Debug, Clone)]
pub struct Rules {
    /// The rules, in file order.
    pub rules: Vec<Rule>,
    /// Templates by name, then by locale.
    pub templates: BTreeMap<String, BTreeMap<String, Text>>,
}

impl Rules {
    /// The rules compiled in.
    pub fn shipped() -> Result<Rules, RulesError> {
        Rules::parse(SHIPPED, "data/rules.toml (compiled in)")
    }

    /// Parses and checks `text`; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Rules, RulesError> {
        let raw: RawFile =
            toml::from_str(text).map_err(|e| RulesError::Syntax { origin: origin.into(), message: e.to_string() })?;
        let mut problems = Vec::new();
        let mut templates = BTreeMap::new();
        for (name, texts) in &raw.templates {
            for locale in LOCALES {
                if !texts.contains_key(locale) {
                    problems.push(format!("template `{name}`: no `{locale}` text"));
                }
            }
            for locale in texts.keys().filter(|l| !LOCALES.contains(&l.as_str())) {
                problems.push(format!("template `{name}`: unknown locale `{locale}` (use zh-CN or en)"));
            }
            for (locale, t) in texts {
                for (part, s) in [("title", &t.title), ("body", &t.body)] {
                    if let Err(e) = placeholders(s) {
                        problems.push(format!("template `{name}` {locale} {part}: {e}"));
                    }
                    if s.trim().is_empty() {
                        problems.push(format!("template `{name}` {locale} {part}: empty"));
                    }
                }
            }
            let checked = texts
                .iter()
                .map(|(l, t)| (l.clone(), Text { title: t.title.clone(), body: t.body.clone() }))
                .collect::<BTreeMap<_, _>>();
            templates.insert(name.clone(), checked);
        }
        let mut rules = Vec::new();
        let mut names = std::collections::BTreeSet::new();
        for (i, r) in raw.rules.iter().enumerate() {
            let at = if r.name.trim().is_empty() { format!("rule #{}", i + 1) } else { format!("rule `{}`", r.name) };
            if r.name.trim().is_empty() {
                problems.push(format!("{at}: `name` is empty"));
            } else if !names.insert(r.name.clone()) {
                problems.push(format!("{at}: the name is used twice"));
            }
            if r.on.is_empty() {
                problems.push(format!("{at}: `on` names no fact"));
            }
            let mut kinds = Vec::new();
            for f in &r.on {
                match kind_of(f) {
                    Some(k) => kinds.push(k),
                    None => problems.push(format!("{at}: unknown fact `{f}` in `on`")),
                }
            }
            let priority = Priority::parse(&r.priority).unwrap_or_else(|| {
                problems.push(format!("{at}: priority `{}` is not low, normal, high or critical", r.priority));
                Priority::Normal
            });
            let mut to = Vec::new();
            if r.to.is_empty() {
                problems.push(format!("{at}: `to` names nobody"));
            }
            for s in &r.to {
                match Selector::parse(s) {
                    Some(sel) => {
                        for k in kinds.iter().filter(|k| !sel.applies_to(**k)) {
                            problems.push(format!("{at}: `{s}` means nothing for {k:?} facts"));
                        }
                        to.push(sel);
                    }
                    None => problems.push(format!("{at}: unknown recipient `{s}` ({})", selectors::NAMES.join(", "))),
                }
            }
            let mut when = BTreeMap::new();
            for (k, v) in &r.when {
                for kind in &kinds {
                    if !fields(*kind).contains(&k.as_str()) {
                        problems.push(format!("{at}: `when.{k}`: {kind:?} facts have no value `{k}`"));
                    }
                }
                let values = match v {
                    WhenValue::One(s) => vec![s.clone()],
                    WhenValue::Many(v) => v.clone(),
                    WhenValue::Bool(b) => vec![b.to_string()],
                };
                when.insert(k.clone(), values);
            }
            match templates.get(&r.template) {
                None => problems.push(format!("{at}: no template `{}`", r.template)),
                Some(texts) => {
                    for (locale, t) in texts {
                        for name in [&t.title, &t.body].into_iter().flat_map(|s| placeholders(s).unwrap_or_default()) {
                            for kind in &kinds {
                                if !fields(*kind).contains(&name.as_str()) {
                                    problems.push(format!(
                                        "{at}: template `{}` {locale} uses `{{{name}}}`, which {kind:?} facts do not have",
                                        r.template
                                    ));
                                }
                            }
                        }
                    }
                }
            }
            if !(0..=525_600).contains(&r.ack_within_minutes) {
                problems.push(format!("{at}: `ack_within_minutes` must be between 0 and 525600 (a year)"));
            }
            rules.push(Rule {
                name: r.name.clone(),
                on: r.on.clone(),
                when,
                to,
                template: r.template.clone(),
                priority,
                ack_within_minutes: (r.ack_within_minutes > 0).then_some(r.ack_within_minutes),
            });
        }
        if !problems.is_empty() {
            problems.dedup();
            return Err(RulesError::Invalid { origin: origin.into(), problems });
        }
        Ok(Rules { rules, templates })
    }

    /// The rules that apply to `fact`.
    pub fn matching<'a>(&'a self, fact: &'a Fact) -> impl Iterator<Item = &'a Rule> + 'a {
        self.rules.iter().filter(move |r| r.matches(fact))
    }

    /// `template` written in `locale` (falling back to zh-CN) with `data`: (title, body).
    pub fn render(&self, template: &str, locale: &str, data: &BTreeMap<String, String>) -> (String, String) {
        let Some(texts) = self.templates.get(template) else { return (template.to_string(), String::new()) };
        let locale = if texts.contains_key(locale) { locale } else { "zh-CN" };
        let Some(t) = texts.get(locale) else {
            return (template.to_string(), String::new());
        };
        (fill(&t.title, locale, data), fill(&t.body, locale, data))
    }
}

/// The `{names}` a text uses; `{{` and `}}` stand for literal braces.
fn placeholders(s: &str) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
            }
            '{' => {
                let mut name = String::new();
                let mut closed = false;
                for c in chars.by_ref() {
                    if c == '}' {
                        closed = true;
                        break;
                    }
                    name.push(c);
                }
                if !closed {
                    return Err(format!("`{{{name}` is not closed (write `{{{{` for a brace)"));
                }
                if name.is_empty() || !name.chars().all(|c| c.is_ascii_lowercase() || c == '_' || c.is_ascii_digit()) {
                    return Err(format!(
                        "`{{{name}` is not a placeholder (lower-case letters, digits and _ in braces)"
                    ));
                }
                names.push(name);
            }
            '}' => return Err("a `}` without its `{` (write `}}` for a brace)".into()),
            _ => {}
        }
    }
    Ok(names)
}

/// Fills the placeholders of a checked text. Colours, statuses, the facts the shipped
/// templates name and the words of case facts (state, risk, deadline …) are written in `locale`.
fn fill(s: &str, locale: &str, data: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(s.len() + 32);
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '{' => {
                let name: String = chars.by_ref().take_while(|c| *c != '}').collect();
                let value = data.get(&name).map(String::as_str).unwrap_or("");
                out.push_str(localize(&name, value, locale));
            }
            c => out.push(c),
        }
    }
    out
}

fn localize<'a>(name: &str, value: &'a str, locale: &str) -> &'a str {
    if locale != "zh-CN" {
        return value;
    }
    if let Some(word) = crate::domain::mediation::zh(name, value) {
        return word;
    }
    match (name, value) {
        ("colour", "blue") => "蓝色",
        ("colour", "yellow") => "黄色",
        ("colour", "orange") => "橙色",
        ("colour", "red") => "红色",
        ("status", "awaiting-triage") => "待分流",
        ("status", "assigned") => "已交办",
        ("status", "signed") => "已签收",
        ("status", "in-progress") => "处置中",
        ("status", "resolved") => "待核查",
        ("status", "verified") => "已核查",
        ("status", "closed") => "已办结",
        ("status", "suspended") => "挂账",
        ("fact", "task-awaiting-triage") => "无法自动分流",
        ("fact", "task-returned") => "部门回退",
        ("fact", "task-extended") => "已批准延期",
        ("fact", "task-extension-refused") => "延期申请被驳回",
        ("fact", "task-suspended") => "已挂账",
        ("fact", "task-resumed") => "已恢复办理",
        _ => value,
    }
}

#[cfg(test)]
mod tests;
