//! Builds the region tree — counties, townships, villages, grids — with names, codes and the
//! nested tiling of their polygons.
//!
//! Level by level, each region's children are planned (codes, names, kinds, where their seed
//! point goes), their seeds are scattered over the region's polygon and the polygon is cut
//! into the seeds' Voronoi cells ([`Plane::subdivide`]). The counties are the cells of the ten
//! real seats in the city's outline (always all ten, so a county's shape does not depend on
//! which counties are generated). Built-up cores are denser: subdistricts cluster around the
//! county seat, a seat town's communities around the town's centre, with the rural villages
//! beyond.

use std::collections::HashSet;

use crate::counties::{CHUANHUI_SUBDISTRICTS, CHUANHUI_TOWNSHIPS, CITY_CODE, CITY_NAME, COUNTIES, CountySpec, OUTLINE};
use crate::geom::{self, LatLng, Micro, Xy};
use crate::legacy;
use crate::model::{Grid, GridWorker, Level, Region, RegionKind};
use crate::names::{self, Unique};
use crate::rng::{Purpose, Rng};
use crate::scatter::{Zone, scatter, spacing};
use crate::tiling::Plane;

/// How far from a seat town's centre its communities lie, metres.
const SEAT_TOWN_CORE_M: f64 = 2_000.0;

/// A seed's margin from its parent's boundary, as a fraction of the seeds' spacing.
const MARGIN: f64 = 0.2;

/// What the tree is made of, before it is published.
pub(crate) struct Built {
    /// Regions, city first, then each county followed by its townships, each followed by its
    /// villages (pre-order, children in code order).
    pub(crate) regions: Vec<Region>,
    /// Grids, in code order.
    pub(crate) grids: Vec<Grid>,
    /// One grid worker per grid, in the grids' order.
    pub(crate) workers: Vec<GridWorker>,
}

/// A region under construction.
struct Node {
    code: String,
    name: String,
    kind: RegionKind,
    level: Level,
    parent: Option<usize>,
    seat: Option<LatLng>,
    /// Its seed point: the centre its own core clusters around.
    anchor: Xy,
    ring: Vec<u32>,
    children: Vec<usize>,
    /// Index into the county list (for names), the county's own for a county.
    county: usize,
}

/// A grid under construction.
struct GridNode {
    code: String,
    name: String,
    village: String,
    ring: Vec<u32>,
}

/// Where a child's seed point goes, relative to its parent's anchor.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Place {
    /// On the anchor itself (the seat).
    At,
    /// Within the parent's core radius of the anchor.
    Core,
    /// Beyond the core radius.
    Outer,
    /// Anywhere in the parent.
    Anywhere,
}

/// A child to be made.
struct Plan {
    code: String,
    name: String,
    kind: RegionKind,
    place: Place,
}

/// Per county: its name stream and the names it has used.
struct CountyNames {
    rng: Rng,
    used: Unique,
    /// Village names reserved for the towns named after them.
    namesakes: HashSet<String>,
}

/// How close together places lie: around each seat the spacing of seed points shrinks to the
/// county's `core_scale` of the rural spacing, growing back linearly over `core_extent_m`.
struct Density(Vec<(Xy, f64, f64)>);

impl Density {
    fn new() -> Density {
        Density(COUNTIES.iter().map(|c| (Xy::from_lat_lng(c.seat), c.core_scale, c.core_extent_m)).collect())
    }

    /// The relative spacing at `p` (1 in the countryside).
    fn at(&self, p: Xy) -> f64 {
        self.0.iter().map(|&(c, s, r)| s + (1.0 - s) * (p.dist(c) / r).min(1.0)).fold(1.0, f64::min)
    }
}

/// Builds the tree of the given counties (any subset of [`COUNTIES`], in code order).
pub(crate) fn build(seed: u64, counties: &[&'static CountySpec]) -> Built {
    let mut plane = Plane::default();
    let outline: Vec<Xy> = OUTLINE.iter().map(|&p| Xy::from_lat_lng(p)).collect();
    let city_ring = plane.add_ring(&outline);
    let seats: Vec<Xy> = COUNTIES.iter().map(|c| Xy::from_lat_lng(c.seat)).collect();
    let county_rings = plane.subdivide(&city_ring, &seats);
    let density = Density::new();

    let chuanhui_seat = COUNTIES[0].seat;
    let mut nodes = vec![Node {
        code: CITY_CODE.into(),
        name: CITY_NAME.into(),
        kind: RegionKind::City,
        level: Level::City,
        parent: None,
        seat: Some(chuanhui_seat),
        anchor: Xy::from_lat_lng(chuanhui_seat),
        ring: city_ring,
        children: Vec::new(),
        county: 0,
    }];
    let mut names: Vec<CountyNames> = Vec::new();
    for (k, spec) in counties.iter().enumerate() {
        let at = COUNTIES.iter().position(|c| c.code == spec.code).unwrap_or(0);
        let idx = nodes.len();
        nodes[0].children.push(idx);
        nodes.push(Node {
            code: spec.code.into(),
            name: spec.name.into(),
            kind: spec.kind,
            level: Level::County,
            parent: Some(0),
            seat: Some(spec.seat),
            anchor: seats[at],
            ring: county_rings[at].clone(),
            children: Vec::new(),
            county: k,
        });
        names.push(CountyNames {
            rng: Rng::for_code(seed, Purpose::Names, spec.code),
            used: Unique::default(),
            namesakes: HashSet::new(),
        });
    }

    // Townships, then villages: plan each parent's children and cut its polygon.
    for level in [Level::County, Level::Township] {
        let parents: Vec<usize> = (0..nodes.len()).filter(|&i| nodes[i].level == level).collect();
        for p in parents {
            let spec = counties[nodes[p].county];
            let cn = &mut names[nodes[p].county];
            let plans = match level {
                Level::County => township_plans(spec, cn),
                _ => village_plans(seed, &nodes[p], spec, cn),
            };
            let core = match level {
                Level::County => spec.urban_radius_m,
                _ => SEAT_TOWN_CORE_M,
            };
            let seeds = place(seed, &plane, &density, &nodes[p], &plans, core);
            let rings = plane.subdivide(&nodes[p].ring, &seeds);
            for ((plan, ring), anchor) in plans.into_iter().zip(rings).zip(seeds) {
                let idx = nodes.len();
                nodes[p].children.push(idx);
                let county = nodes[p].county;
                nodes.push(Node {
                    code: plan.code,
                    name: plan.name,
                    kind: plan.kind,
                    level: if level == Level::County { Level::Township } else { Level::Village },
                    parent: Some(p),
                    seat: None,
                    anchor,
                    ring,
                    children: Vec::new(),
                    county,
                });
            }
        }
    }

    // Grids.
    let mut grids = Vec::new();
    for v in (0..nodes.len()).filter(|&i| nodes[i].level == Level::Village) {
        let village = &nodes[v];
        let township = village.parent.map_or("", |t| nodes[t].name.as_str());
        let mut counts = Rng::for_code(seed, Purpose::Counts, &village.code);
        let n = match village.kind {
            RegionKind::Community => counts.between(5, 8),
            _ => counts.between(3, 7),
        }
        .max(legacy::grid_count(&village.code));
        let plans: Vec<Plan> = (1..=n)
            .map(|k| Plan {
                code: format!("{}{k:03}", village.code),
                name: format!("{township}{}第{k}网格", village.name),
                kind: village.kind,
                place: Place::Anywhere,
            })
            .collect();
        let seeds = place(seed, &plane, &density, village, &plans, 0.0);
        let rings = plane.subdivide(&village.ring, &seeds);
        for (plan, ring) in plans.into_iter().zip(rings) {
            grids.push(GridNode { code: plan.code, name: plan.name, village: village.code.clone(), ring });
        }
    }
    publish(seed, &plane, &nodes, grids)
}

/// The townships of a county: subdistricts 001…, towns 100…, townships 200…, the shipped ones
/// with their names.
fn township_plans(spec: &CountySpec, cn: &mut CountyNames) -> Vec<Plan> {
    for (_, name) in legacy::children(spec.code) {
        cn.used.reserve(name);
    }
    let chuanhui = spec.code == COUNTIES[0].code;
    if chuanhui {
        CHUANHUI_SUBDISTRICTS.iter().chain(CHUANHUI_TOWNSHIPS.iter()).for_each(|n| cn.used.reserve(n));
    }
    let urban = spec.subdistricts > 0;
    let mut plans = Vec::new();
    let mut add = |code: String, fresh: &mut dyn FnMut(&mut CountyNames) -> String, kind, place| {
        let name = legacy::region_name(&code).map_or_else(|| fresh(cn), str::to_string);
        plans.push(Plan { code, name, kind, place });
    };
    for k in 0..spec.subdistricts {
        let place = if k == 0 { Place::At } else { Place::Core };
        let mut fresh = |cn: &mut CountyNames| match CHUANHUI_SUBDISTRICTS.get(k).filter(|_| chuanhui) {
            Some(name) => name.to_string(),
            None => {
                cn.used.draw(&mut cn.rng, |r| format!("{}街道", r.pick(names::SUBDISTRICTS).copied().unwrap_or("东城")))
            }
        };
        add(format!("{}{:03}", spec.code, k + 1), &mut fresh, RegionKind::Subdistrict, place);
    }
    let rural = if urban { Place::Outer } else { Place::Anywhere };
    for k in 0..spec.towns {
        let seat_town = !urban && k == 0;
        let mut fresh = |cn: &mut CountyNames| {
            if seat_town && !cn.used.taken("城关镇") {
                cn.used.reserve("城关镇");
                "城关镇".to_string()
            } else {
                town_name(cn, "镇")
            }
        };
        let place = if seat_town { Place::At } else { rural };
        add(format!("{}{:03}", spec.code, 100 + k), &mut fresh, RegionKind::Town, place);
    }
    for k in 0..spec.townships {
        let mut fresh = |cn: &mut CountyNames| match CHUANHUI_TOWNSHIPS.get(k).filter(|_| chuanhui) {
            Some(name) => name.to_string(),
            None => town_name(cn, "乡"),
        };
        add(format!("{}{:03}", spec.code, 200 + k), &mut fresh, RegionKind::Township, rural);
    }
    plans
}

/// A town or township named after its seat village: a stem free both as `<stem><suffix>` and
/// as `<stem>村`; both are reserved.
fn town_name(cn: &mut CountyNames, suffix: &str) -> String {
    for _ in 0..200 {
        let stem = names::place_stem(&mut cn.rng);
        let (town, village) = (format!("{stem}{suffix}"), format!("{stem}村"));
        if !cn.used.taken(&town) && !cn.used.taken(&village) {
            cn.used.reserve(&town);
            cn.used.reserve(&village);
            cn.namesakes.insert(village);
            return town;
        }
    }
    cn.used.draw(&mut cn.rng, |r| format!("{}{suffix}", names::place_stem(r)))
}

/// The villages and communities of a township: the shipped ones, then communities (001…199)
/// and villages (200…) up to the township's counts. The first child sits at the township's
/// centre; a town's first village carries the town's name.
fn village_plans(seed: u64, township: &Node, spec: &CountySpec, cn: &mut CountyNames) -> Vec<Plan> {
    let mut counts = Rng::for_code(seed, Purpose::Counts, &township.code);
    let seat_town = township.kind == RegionKind::Town && spec.subdistricts == 0 && township.code.ends_with("100");
    let (communities, villages) = match township.kind {
        RegionKind::Subdistrict => (counts.between(8, 14), 0),
        RegionKind::Town if seat_town => (counts.between(6, 10), counts.between(10, 16)),
        RegionKind::Town => (0, counts.between(20, 34)),
        _ => (0, counts.between(18, 30)),
    };
    let mut plans: Vec<Plan> = Vec::new();
    let (mut have_c, mut have_v, mut next_c) = (0, 0, 1);
    for (code, name) in legacy::children(&township.code) {
        cn.used.reserve(name);
        let community = name.ends_with("社区");
        let kind = if community { RegionKind::Community } else { RegionKind::Village };
        if community {
            have_c += 1
        } else {
            have_v += 1
        }
        next_c = next_c.max(code[9..].parse::<usize>().unwrap_or(0) + 1);
        plans.push(Plan { code: code.into(), name: name.into(), kind, place: Place::Anywhere });
    }
    for k in 0..communities.saturating_sub(have_c) {
        let name = cn.used.draw(&mut cn.rng, names::community);
        let code = format!("{}{:03}", township.code, next_c + k);
        plans.push(Plan { code, name, kind: RegionKind::Community, place: Place::Anywhere });
    }
    let namesake = format!("{}村", names::township_stem(&township.name));
    let named_after =
        matches!(township.kind, RegionKind::Town | RegionKind::Township) && !seat_town && have_c + have_v == 0;
    for k in 0..villages.saturating_sub(have_v) {
        let name = if k == 0 && named_after && (cn.namesakes.remove(&namesake) || !cn.used.taken(&namesake)) {
            cn.used.reserve(&namesake);
            namesake.clone()
        } else {
            cn.used.draw(&mut cn.rng, names::village)
        };
        let code = format!("{}{:03}", township.code, 200 + k);
        plans.push(Plan { code, name, kind: RegionKind::Village, place: Place::Anywhere });
    }
    for (k, plan) in plans.iter_mut().enumerate() {
        plan.place = match (k, seat_town, plan.kind) {
            (0, _, _) => Place::At,
            (_, true, RegionKind::Community) => Place::Core,
            (_, true, _) => Place::Outer,
            _ => Place::Anywhere,
        };
    }
    plans
}

/// Seed points for `plans` in `parent`'s polygon, in the plans' order.
fn place(seed: u64, plane: &Plane, density: &Density, parent: &Node, plans: &[Plan], core: f64) -> Vec<Xy> {
    let scale = |p: Xy| density.at(p);
    let ring = plane.points(&parent.ring);
    let mut rng = Rng::for_code(seed, Purpose::Geometry, &parent.code);
    let mut seeds: Vec<Option<Xy>> = vec![None; plans.len()];
    let mut placed: Vec<Xy> = Vec::new();
    let core_area = (std::f64::consts::PI * core * core).min(geom::area(&ring));
    for place in [Place::At, Place::Core, Place::Outer, Place::Anywhere] {
        let which: Vec<usize> = (0..plans.len()).filter(|&k| plans[k].place == place).collect();
        if which.is_empty() {
            continue;
        }
        let points = match place {
            Place::At => {
                let mut points = vec![parent.anchor];
                // Only a township's first child sits at its anchor; any other would go near it.
                let margin = MARGIN * (core_area / which.len() as f64).sqrt();
                let zone = (Zone::Near(parent.anchor, core), margin);
                points.extend(scatter(&mut rng, &ring, &placed, which.len() - 1, zone, &scale));
                points
            }
            Place::Core => {
                let margin = MARGIN * (core_area / (which.len() + 1) as f64).sqrt();
                scatter(&mut rng, &ring, &placed, which.len(), (Zone::Near(parent.anchor, core), margin), &scale)
            }
            Place::Outer | Place::Anywhere => {
                let rest = plans.iter().filter(|p| matches!(p.place, Place::Outer | Place::Anywhere)).count();
                let margin = MARGIN * spacing(&ring, rest);
                let mut points = Vec::new();
                let mut zone = (Zone::Anywhere, margin);
                if place == Place::Outer {
                    points = belt(&mut rng, &ring, parent.anchor, core, which.len().min(8), margin);
                    zone.0 = Zone::Away(parent.anchor, core * 1.1);
                }
                let around: Vec<Xy> = placed.iter().chain(&points).copied().collect();
                points.extend(scatter(&mut rng, &ring, &around, which.len() - points.len(), zone, &scale));
                points
            }
        };
        for (k, p) in which.into_iter().zip(points) {
            seeds[k] = Some(p);
            placed.push(p);
        }
    }
    seeds.into_iter().map(|s| s.unwrap_or(parent.anchor)).collect()
}

/// Up to `n` points in a belt around a built-up core of radius `core` (at 1.3–1.45 times it,
/// in evenly spread compass directions), those that fall well inside the polygon: the villages
/// that hem the core in, so that its communities stay compact.
fn belt(rng: &mut Rng, ring: &[Xy], anchor: Xy, core: f64, n: usize, margin: f64) -> Vec<Xy> {
    let h = std::f64::consts::FRAC_1_SQRT_2;
    let dirs = [(1.0, 0.0), (h, h), (0.0, 1.0), (-h, h), (-1.0, 0.0), (-h, -h), (0.0, -1.0), (h, -h)];
    let start = rng.below(8) as usize;
    let mut out = Vec::new();
    for k in 0..n {
        let (dx, dy) = dirs[(start + k * 8 / n.max(1)) % 8];
        let p = anchor.add(Xy::new(dx, dy).scale(core * (1.3 + 0.15 * rng.unit())));
        if geom::contains(ring, p) && geom::boundary_distance(ring, p) >= margin {
            out.push(p);
        }
    }
    out
}

/// Rounds the plane to the lattice and turns the tree into the published regions and grids.
fn publish(seed: u64, plane: &Plane, nodes: &[Node], grids: Vec<GridNode>) -> Built {
    let mut rings: Vec<Vec<u32>> = nodes.iter().map(|n| n.ring.clone()).collect();
    rings.extend(grids.iter().map(|g| g.ring.clone()));
    let lattice = plane.finish(&rings);
    let shape = |ring: &[Micro]| {
        let xy: Vec<Xy> = ring.iter().map(|m| m.xy()).collect();
        (geom::centroid(&xy).micro().lat_lng(), ring.iter().map(|m| m.lat_lng()).collect::<Vec<_>>())
    };
    let mut order = Vec::with_capacity(nodes.len());
    let mut stack = vec![0usize];
    while let Some(i) = stack.pop() {
        order.push(i);
        stack.extend(nodes[i].children.iter().rev());
    }
    let regions = order
        .into_iter()
        .map(|i| {
            let n = &nodes[i];
            let (centroid, boundary) = shape(&lattice[i]);
            Region {
                code: n.code.clone(),
                name: n.name.clone(),
                level: n.level,
                kind: n.kind,
                parent: n.parent.map(|p| nodes[p].code.clone()),
                seat: n.seat,
                centroid,
                boundary,
            }
        })
        .collect();
    let mut workers = Vec::with_capacity(grids.len());
    let mut people: Option<(String, Rng)> = None;
    let grids = grids
        .into_iter()
        .enumerate()
        .map(|(k, g)| {
            let (centroid, boundary) = shape(&lattice[nodes.len() + k]);
            if people.as_ref().is_none_or(|(v, _)| *v != g.village) {
                people = Some((g.village.clone(), Rng::for_code(seed, Purpose::People, &g.village)));
            }
            let name = people.as_mut().map_or_else(String::new, |(_, rng)| names::person(rng));
            let id = format!("gw-{}", g.code);
            workers.push(GridWorker { id: id.clone(), name, grid: g.code.clone() });
            Grid { code: g.code, name: g.name, village: g.village, grid_worker: id, centroid, boundary }
        })
        .collect();
    Built { regions, grids, workers }
}

#[cfg(test)]
mod tests;
