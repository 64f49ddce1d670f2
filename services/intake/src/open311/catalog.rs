//! The services the facade offers: the items (小类) of an item catalog (事项清单) in dispatch's
//! `catalog.toml` format, read for their codes, names, groups and filing conditions only.
//!
//! intake itself checks an item code's shape, not its presence in a catalog: the catalog is
//! dispatch's reference data. The facade publishes a service list, so it reads one: the file
//! `intake.open311.catalog_file`, or the catalog dispatch ships (compiled in). An operator who
//! loads another catalog into dispatch points this setting at the same file.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Deserialize;

/// dispatch's shipped catalog.
pub const SHIPPED: &str = include_str!("../../../dispatch/data/catalog.toml");

#[derive(Deserialize)]
struct RawCatalog {
    #[serde(default)]
    categories: Vec<RawGroup>,
    #[serde(default)]
    subcategories: Vec<RawGroup>,
    #[serde(default)]
    items: Vec<RawItem>,
}

#[derive(Deserialize)]
struct RawGroup {
    code: String,
    name: String,
}

#[derive(Deserialize)]
struct RawItem {
    code: String,
    name: String,
    #[serde(default)]
    filing: String,
}

/// One service: a catalog item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogService {
    /// The item code, e.g. `01.02.003`: the `service_code`.
    pub code: String,
    /// The item's name: the `service_name`.
    pub name: String,
    /// Its category's name (大类): the `group`.
    pub group: String,
    /// Its subcategory's name (中类), when it has one.
    pub subgroup: Option<String>,
    /// When a report of it is accepted as a case (立案条件).
    pub filing: String,
    /// Whether its category is private (never listed).
    pub private: bool,
}

/// The services, in catalog order, with an index by code.
#[derive(Debug, Clone)]
pub struct ServiceCatalog {
    services: Vec<CatalogService>,
    index: HashMap<String, usize>,
    private: HashSet<String>,
}

/// The category code of an item code (its first group).
pub fn category_of(code: &str) -> &str {
    code.split('.').next().unwrap_or_default()
}

impl ServiceCatalog {
    /// Reads `text` (a `catalog.toml`), marking the categories in `private` (codes) private.
    pub fn from_toml(text: &str, private: &[String]) -> Result<Self, String> {
        let raw: RawCatalog = toml::from_str(text).map_err(|e| e.to_string())?;
        let categories: BTreeMap<&str, &str> =
            raw.categories.iter().map(|g| (g.code.as_str(), g.name.as_str())).collect();
        let subcategories: BTreeMap<&str, &str> =
            raw.subcategories.iter().map(|g| (g.code.as_str(), g.name.as_str())).collect();
        let private: HashSet<String> = private.iter().cloned().collect();
        let mut services = Vec::with_capacity(raw.items.len());
        let mut index = HashMap::new();
        for item in raw.items {
            let category = category_of(&item.code);
            let Some(group) = categories.get(category) else {
                return Err(format!("item `{}`: no category `{category}`", item.code));
            };
            let subgroup = item
                .code
                .rsplit_once('.')
                .and_then(|(parent, _)| subcategories.get(parent))
                .map(|name| name.to_string());
            if index.insert(item.code.clone(), services.len()).is_some() {
                return Err(format!("item `{}` is listed twice", item.code));
            }
            services.push(CatalogService {
                private: private.contains(category),
                group: group.to_string(),
                subgroup,
                filing: item.filing.trim().to_string(),
                code: item.code,
                name: item.name,
            });
        }
        Ok(ServiceCatalog { services, index, private })
    }

    /// Every service, in catalog order.
    pub fn services(&self) -> &[CatalogService] {
        &self.services
    }

    /// The service of `code`.
    pub fn get(&self, code: &str) -> Option<&CatalogService> {
        self.index.get(code).map(|&i| &self.services[i])
    }

    /// Whether requests of item `code` are private: its category is configured so, whether
    /// or not the item is in this catalog.
    pub fn is_private(&self, code: &str) -> bool {
        self.private.contains(category_of(code))
    }

    /// The private category codes, sorted.
    pub fn private_categories(&self) -> Vec<String> {
        let mut v: Vec<String> = self.private.iter().cloned().collect();
        v.sort();
        v
    }
}

/// The category codes of the setting `intake.open311.private_categories` (comma-separated).
pub fn parse_categories(text: &str) -> Result<Vec<String>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(|c| {
            if (2..=4).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_digit()) {
                Ok(c.to_string())
            } else {
                Err(format!("`{c}` is not a category code (2 to 4 digits)"))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_catalog_reads() {
        let private = parse_categories("06, 18").unwrap();
        let c = ServiceCatalog::from_toml(SHIPPED, &private).unwrap();
        assert_eq!(c.services().len(), 432);
        let manhole = c.get("01.02.003").unwrap();
        assert_eq!(manhole.name, "井盖缺失");
        assert_eq!(manhole.group, "市政设施");
        assert_eq!(manhole.subgroup.as_deref(), Some("井盖及管线"));
        assert!(manhole.filing.contains("井盖缺失"));
        assert!(!manhole.private);
        assert!(c.services().iter().filter(|s| s.code.starts_with("06.")).all(|s| s.private));
        assert!(c.is_private("18.99.999") && !c.is_private("01.99.999"));
        assert!(c.get("99.99.999").is_none());
        assert_eq!(c.private_categories(), vec!["06", "18"]);
    }

    #[test]
    fn a_catalog_must_be_consistent() {
        let item = "[[items]]\ncode = \"01.001\"\nname = \"x\"\n";
        assert!(ServiceCatalog::from_toml(item, &[]).unwrap_err().contains("no category"));
        let twice = format!("[[categories]]\ncode = \"01\"\nname = \"c\"\n{item}{item}");
        assert!(ServiceCatalog::from_toml(&twice, &[]).unwrap_err().contains("twice"));
        assert!(ServiceCatalog::from_toml("items = 3", &[]).is_err());
        assert!(parse_categories("06,x").is_err());
        assert!(parse_categories("").unwrap().is_empty());
    }
}
