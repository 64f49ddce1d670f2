//! Mediation organisations (人民调解委员会) and mediators (人民调解员), as in
//! `services/mediation/data/`: four professional committees per county (labour, medical,
//! traffic, property management), a committee for every township (`<code>-tw`) and for every
//! village or community (`<code>-cw`); one to three mediators each, `med-<organisation>-NN`.
//! The shipped organisations follow the same patterns; the shipped mediators keep their names.

use std::collections::HashMap;

use crate::legacy;
use crate::model::{Level, Mediator, OrgKind, Organisation, Region};
use crate::names;
use crate::rng::{Purpose, Rng};

/// A county's professional committees: id suffix, name after the county's, the committee's
/// specialties, its mediators'.
type Professional = (&'static str, &'static str, &'static [&'static str], &'static [&'static str]);

/// The four professional committees of a county.
const PROFESSIONAL: [Professional; 4] = [
    ("labour", "劳动争议人民调解委员会", &["labour"], &["labour"]),
    ("medical", "医疗纠纷人民调解委员会", &["medical"], &["medical"]),
    ("traffic", "道路交通事故人民调解委员会", &["traffic"], &["traffic", "damages"]),
    ("property", "物业纠纷人民调解委员会", &["property_management"], &["property_management", "tenancy"]),
];

/// What a township committee's mediators take, by their number.
const TOWNSHIP_MEDIATORS: [&[&str]; 3] = [&["neighbour", "family"], &["land", "debt"], &["damages", "tenancy"]];

/// What a village committee's mediators take, by their number.
const VILLAGE_MEDIATORS: [&[&str]; 2] = [&["neighbour", "family"], &["land", "debt"]];

/// What a (generated) community committee's mediators take, by their number.
const COMMUNITY_MEDIATORS: [&[&str]; 2] = [&["neighbour", "family"], &["property_management", "tenancy"]];

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// The organisations of `regions` (in their order: a county's professional committees, then
/// each township's committee followed by its villages').
pub(crate) fn organisations(regions: &[Region]) -> Vec<Organisation> {
    let names: HashMap<&str, &str> = regions.iter().map(|r| (r.code.as_str(), r.name.as_str())).collect();
    let name_of = |code: &Option<String>| code.as_deref().and_then(|c| names.get(c).copied()).unwrap_or("");
    let mut out = Vec::new();
    for r in regions {
        match r.level {
            Level::County => out.extend(PROFESSIONAL.iter().map(|(suffix, name, specialties, _)| Organisation {
                id: format!("{}-{suffix}", r.code),
                name: format!("{}{name}", r.name),
                kind: OrgKind::Professional,
                region: r.code.clone(),
                specialties: strings(specialties),
            })),
            Level::Township => out.push(Organisation {
                id: format!("{}-tw", r.code),
                name: format!("{}{}人民调解委员会", name_of(&r.parent), r.name),
                kind: OrgKind::Township,
                region: r.code.clone(),
                specialties: Vec::new(),
            }),
            Level::Village => out.push(Organisation {
                id: format!("{}-cw", r.code),
                name: format!("{}{}人民调解委员会", name_of(&r.parent), r.name),
                kind: OrgKind::Village,
                region: r.code.clone(),
                specialties: Vec::new(),
            }),
            Level::City => {}
        }
    }
    out
}

/// The mediators of every organisation, in the organisations' order.
pub(crate) fn mediators(seed: u64, organisations: &[Organisation]) -> Vec<Mediator> {
    let mut out = Vec::new();
    for org in organisations {
        let shipped = legacy::mediators(&org.id);
        let mut rng = Rng::for_code(seed, Purpose::Mediation, &org.id);
        let count = if shipped.is_empty() {
            match org.kind {
                OrgKind::Professional => rng.between(1, 3),
                OrgKind::Township => rng.between(2, 3),
                OrgKind::Village => rng.between(1, 2),
            }
        } else {
            shipped.len()
        };
        let community = org.kind == OrgKind::Village && org.name.ends_with("社区人民调解委员会");
        for k in 0..count {
            let specialties = match org.kind {
                OrgKind::Professional => {
                    let of = PROFESSIONAL.iter().find(|p| org.id.ends_with(&format!("-{}", p.0)));
                    of.map_or_else(|| org.specialties.clone(), |p| strings(p.3))
                }
                OrgKind::Township => strings(TOWNSHIP_MEDIATORS[k % 3]),
                OrgKind::Village if community && shipped.is_empty() => strings(COMMUNITY_MEDIATORS[k % 2]),
                OrgKind::Village => strings(VILLAGE_MEDIATORS[k % 2]),
            };
            let name = shipped.get(k).map_or_else(|| names::person(&mut rng), |n| n.to_string());
            out.push(Mediator {
                id: format!("med-{}-{:02}", org.id, k + 1),
                name,
                organisation: org.id.clone(),
                specialties,
                available: true,
            });
        }
    }
    out
}
