//! The item catalog (事项清单): `catalog.toml`.
//!
//! ```toml
//! version = "2026.11.1"
//!
//! [[categories]]          # 大类
//! code = "01"
//! name = "市政设施"
//!
//! [[subcategories]]       # 中类, optional grouping inside a category
//! code = "01.02"
//! name = "井盖及管线"
//!
//! [[items]]               # 小类: what a report names
//! code = "01.02.003"
//! name = "井盖缺失"
//! lead = "chengguan"                  # lead department kind (牵头)
//! assisting = ["gongan"]              # assisting kinds (协办)
//! whistle = "routine"                 # grid_self | routine | key
//! sign_for = { amount = 1, time_type = "urgent" }        # urgent | working_hours | working_days | calendar_days
//! handle = { amount = 4, time_type = "urgent" }
//! verify = { amount = 4, time_type = "working_hours" }
//! filing = "立案条件 …"
//! closing = "结案条件 …"
//! ```
//!
//! Codes are dot-separated groups of 2–4 digits, as intake accepts them (2 to 4 groups for an
//! item): a category has one group, a subcategory its category's code and one more, an item
//! its category's or subcategory's code and one more. Amounts count hours for urgent and
//! working-hour limits (at most 8,784, a leap year) and days otherwise (at most 366).

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

use super::{ReferenceError, check, check_version, departments::Departments, parse};
use crate::domain::{
    calendar::TimeType,
    lifecycle::Stage,
    routing::{GRID_KIND, RouteRule, WhistleLevel},
    sla::Limit,
};

#[derive(Debug, Deserialize)]
struct RawCatalog {
    version: String,
    #[serde(default)]
    categories: Vec<RawGroup>,
    #[serde(default)]
    subcategories: Vec<RawGroup>,
    #[serde(default)]
    items: Vec<RawItem>,
}

#[derive(Debug, Deserialize)]
struct RawGroup {
    code: String,
    name: String,
}

#[derive(Debug, Deserialize)]
struct RawItem {
    code: String,
    name: String,
    lead: String,
    #[serde(default)]
    assisting: Vec<String>,
    whistle: WhistleLevel,
    sign_for: Limit,
    handle: Limit,
    verify: Limit,
    filing: String,
    closing: String,
}

/// A category (大类) or subcategory (中类).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// Its code.
    pub code: String,
    /// Its name.
    pub name: String,
}

/// A catalog item (小类).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogItem {
    /// Its code, e.g. `01.02.003`.
    pub code: String,
    /// Its name.
    pub name: String,
    /// Its category's code (the first group).
    pub category: String,
    /// The lead department kind.
    pub lead_kind: String,
    /// The assisting department kinds.
    pub assisting_kinds: Vec<String>,
    /// Who coordinates it.
    pub whistle: WhistleLevel,
    /// The sign-for limit.
    pub sign_for: Limit,
    /// The handling limit.
    pub handle: Limit,
    /// The verification limit.
    pub verify: Limit,
    /// When a report of it is accepted as a case (立案条件).
    pub filing: String,
    /// When a case of it may be closed (结案条件).
    pub closing: String,
}

impl CatalogItem {
    /// The limit of a stage.
    pub fn limit(&self, stage: Stage) -> Limit {
        match stage {
            Stage::SignFor => self.sign_for,
            Stage::Handle => self.handle,
            Stage::Verify => self.verify,
        }
    }

    /// What routing needs.
    pub fn route_rule(&self) -> RouteRule<'_> {
        RouteRule { lead_kind: &self.lead_kind, assisting_kinds: &self.assisting_kinds, whistle: self.whistle }
    }
}

/// The catalog, checked and indexed.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// The file's version.
    pub version: String,
    categories: BTreeMap<String, Group>,
    subcategories: BTreeMap<String, Group>,
    items: Vec<CatalogItem>,
    index: HashMap<String, usize>,
}

/// Whether `code` is `groups` dot-separated groups of 2–4 digits.
fn is_code(code: &str, groups: std::ops::RangeInclusive<usize>) -> bool {
    let parts: Vec<&str> = code.split('.').collect();
    groups.contains(&parts.len())
        && parts.iter().all(|g| (2..=4).contains(&g.len()) && g.bytes().all(|b| b.is_ascii_digit()))
}

/// The code without its last group.
fn parent_code(code: &str) -> &str {
    code.rsplit_once('.').map_or("", |(parent, _)| parent)
}

fn check_limit(code: &str, stage: &str, limit: Limit, problems: &mut Vec<String>) {
    let max = match limit.time_type {
        TimeType::Urgent | TimeType::WorkingHours => 24 * 366,
        TimeType::WorkingDays | TimeType::CalendarDays => 366,
    };
    if !(1..=max).contains(&limit.amount) {
        problems.push(format!("item `{code}`: {stage} amount must be 1 to {max}"));
    }
}

impl Catalog {
    /// Parses `catalog.toml` and checks it against the department kinds.
    pub fn from_toml(text: &str, departments: &Departments) -> Result<Self, ReferenceError> {
        const FILE: &str = "catalog.toml";
        let raw: RawCatalog = parse(FILE, text)?;
        let mut problems = Vec::new();
        check_version(&raw.version, &mut problems);

        let mut categories = BTreeMap::new();
        for c in raw.categories {
            if !is_code(&c.code, 1..=1) {
                problems.push(format!("category `{}`: code must be 2 to 4 digits", c.code));
            }
            if c.name.trim().is_empty() {
                problems.push(format!("category `{}`: name is required", c.code));
            }
            if categories.insert(c.code.clone(), Group { code: c.code.clone(), name: c.name }).is_some() {
                problems.push(format!("category `{}` is listed twice", c.code));
            }
        }
        let mut subcategories = BTreeMap::new();
        for s in raw.subcategories {
            if !is_code(&s.code, 2..=2) {
                problems
                    .push(format!("subcategory `{}`: code must be two dot-separated groups of 2 to 4 digits", s.code));
            } else if !categories.contains_key(parent_code(&s.code)) {
                problems.push(format!("subcategory `{}`: category `{}` is not listed", s.code, parent_code(&s.code)));
            }
            if s.name.trim().is_empty() {
                problems.push(format!("subcategory `{}`: name is required", s.code));
            }
            if subcategories.insert(s.code.clone(), Group { code: s.code.clone(), name: s.name }).is_some() {
                problems.push(format!("subcategory `{}` is listed twice", s.code));
            }
        }

        let mut items = Vec::new();
        let mut index = HashMap::new();
        for i in raw.items {
            let code = i.code.clone();
            if !is_code(&code, 2..=4) {
                problems.push(format!("item `{code}`: code must be 2 to 4 dot-separated groups of 2 to 4 digits"));
            } else {
                let parent = parent_code(&code);
                if !categories.contains_key(parent) && !subcategories.contains_key(parent) {
                    problems.push(format!("item `{code}`: no category or subcategory `{parent}`"));
                }
            }
            if i.name.trim().is_empty() {
                problems.push(format!("item `{code}`: name is required"));
            }
            if !departments.has_kind(&i.lead) {
                problems.push(format!("item `{code}`: unknown lead department kind `{}`", i.lead));
            }
            for (n, kind) in i.assisting.iter().enumerate() {
                if !departments.has_kind(kind) {
                    problems.push(format!("item `{code}`: unknown assisting department kind `{kind}`"));
                } else if *kind == i.lead || i.assisting[..n].contains(kind) {
                    problems.push(format!("item `{code}`: assisting kind `{kind}` repeats the lead or another"));
                }
            }
            if i.whistle == WhistleLevel::GridSelf && i.lead != GRID_KIND {
                problems.push(format!("item `{code}`: a grid_self item's lead kind must be `{GRID_KIND}`"));
            }
            check_limit(&code, "sign_for", i.sign_for, &mut problems);
            check_limit(&code, "handle", i.handle, &mut problems);
            check_limit(&code, "verify", i.verify, &mut problems);
            if i.filing.trim().is_empty() {
                problems.push(format!("item `{code}`: filing (立案条件) is required"));
            }
            if i.closing.trim().is_empty() {
                problems.push(format!("item `{code}`: closing (结案条件) is required"));
            }
            if index.insert(code.clone(), items.len()).is_some() {
                problems.push(format!("item `{code}` is listed twice"));
                continue;
            }
            items.push(CatalogItem {
                category: code.split('.').next().unwrap_or_default().to_string(),
                code,
                name: i.name,
                lead_kind: i.lead,
                assisting_kinds: i.assisting,
                whistle: i.whistle,
                sign_for: i.sign_for,
                handle: i.handle,
                verify: i.verify,
                filing: i.filing,
                closing: i.closing,
            });
        }
        check(FILE, problems)?;
        Ok(Catalog { version: raw.version, categories, subcategories, items, index })
    }

    /// The item with `code`.
    pub fn item(&self, code: &str) -> Option<&CatalogItem> {
        self.index.get(code).map(|i| &self.items[*i])
    }

    /// Every item, in file order.
    pub fn items(&self) -> &[CatalogItem] {
        &self.items
    }

    /// The categories by code.
    pub fn categories(&self) -> &BTreeMap<String, Group> {
        &self.categories
    }

    /// The subcategories by code.
    pub fn subcategories(&self) -> &BTreeMap<String, Group> {
        &self.subcategories
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::regions::Regions;

    fn departments() -> Departments {
        let regions = Regions::from_toml("version = \"t\"").unwrap();
        Departments::from_toml(
            r#"
            version = "t"
            [[kinds]]
            code = "grid"
            name = "网格"
            [[kinds]]
            code = "chengguan"
            name = "城管"
            [[kinds]]
            code = "gongan"
            name = "公安"
            "#,
            &regions,
        )
        .unwrap()
    }

    const HEAD: &str = r#"
        version = "t"
        [[categories]]
        code = "01"
        name = "市政设施"
        [[subcategories]]
        code = "01.02"
        name = "井盖及管线"
    "#;

    const ITEM: &str = r#"
        [[items]]
        code = "01.02.003"
        name = "井盖缺失"
        lead = "chengguan"
        assisting = ["gongan"]
        whistle = "routine"
        sign_for = { amount = 1, time_type = "urgent" }
        handle = { amount = 4, time_type = "urgent" }
        verify = { amount = 4, time_type = "working_hours" }
        filing = "井盖缺失或破损，有现场照片"
        closing = "井盖已补装，现场照片为证"
    "#;

    #[test]
    fn an_item_loads() {
        let c = Catalog::from_toml(&format!("{HEAD}{ITEM}"), &departments()).unwrap();
        let item = c.item("01.02.003").unwrap();
        assert_eq!(item.category, "01");
        assert_eq!(item.whistle, WhistleLevel::Routine);
        assert_eq!(item.limit(Stage::SignFor), Limit::new(1, TimeType::Urgent));
        assert_eq!(item.limit(Stage::Verify), Limit::new(4, TimeType::WorkingHours));
        assert_eq!(item.route_rule().assisting_kinds, ["gongan"]);
        assert_eq!(c.categories().len(), 1);
        assert_eq!(c.subcategories().len(), 1);
    }

    #[test]
    fn every_problem_is_named() {
        let bad = ITEM
            .replace("01.02.003", "01.03.001")
            .replace("\"chengguan\"", "\"grid\"")
            .replace("[\"gongan\"]", "[\"huanbao\", \"grid\"]")
            .replace("\"routine\"", "\"grid_self\"")
            .replace("amount = 4, time_type = \"urgent\"", "amount = 0, time_type = \"urgent\"");
        let self_handled_by_others = ITEM.replace("\"routine\"", "\"grid_self\"");
        let text = format!("{HEAD}{ITEM}{ITEM}{bad}{self_handled_by_others}");
        let Err(ReferenceError::Invalid { problems, .. }) = Catalog::from_toml(&text, &departments()) else {
            panic!("expected problems")
        };
        assert_eq!(
            problems,
            [
                "item `01.02.003` is listed twice",
                "item `01.03.001`: no category or subcategory `01.03`",
                "item `01.03.001`: unknown assisting department kind `huanbao`",
                "item `01.03.001`: assisting kind `grid` repeats the lead or another",
                "item `01.03.001`: handle amount must be 1 to 8784",
                "item `01.02.003`: a grid_self item's lead kind must be `grid`",
                "item `01.02.003` is listed twice",
            ]
        );
    }

    #[test]
    fn unknown_enum_values_are_parse_errors() {
        let text = format!("{HEAD}{}", ITEM.replace("\"routine\"", "\"weekly\""));
        let err = Catalog::from_toml(&text, &departments()).unwrap_err();
        assert!(matches!(err, ReferenceError::Parse { .. }), "{err}");
        assert!(err.to_string().contains("weekly"), "{err}");
    }

    #[test]
    fn a_missing_field_is_named() {
        let text = format!("{HEAD}{}", ITEM.replace("lead = \"chengguan\"", ""));
        let err = Catalog::from_toml(&text, &departments()).unwrap_err();
        assert!(err.to_string().contains("lead"), "{err}");
    }

    #[test]
    fn codes_follow_intake() {
        assert!(is_code("01.02.003", 2..=4));
        assert!(is_code("01.0002", 2..=4));
        assert!(!is_code("1.02", 2..=4));
        assert!(!is_code("01", 2..=4));
        assert!(!is_code("01.02.03.04.05", 2..=4));
        assert!(!is_code("01.0a", 2..=4));
        assert_eq!(parent_code("01.02.003"), "01.02");
    }
}
