//! Key places and their fences.

use super::{Fence, KeyPlace, KeyPlaceKind, ring_xy};
use crate::geom::{Xy, bbox, boundary_distance, centroid, contains};
use crate::model::{Region, RegionKind};
use crate::names::{RIVERS, township_stem, village_stem};
use crate::rng::Rng;

/// The fewest key places a township has (so that every route has five).
const MIN_PER_TOWNSHIP: usize = 6;

/// Gap kept between a fence and its village's boundary, metres.
const CLEARANCE_M: f64 = 5.0;

/// What a community may have.
const URBAN: [KeyPlaceKind; 6] = [
    KeyPlaceKind::School,
    KeyPlaceKind::Market,
    KeyPlaceKind::Square,
    KeyPlaceKind::Hospital,
    KeyPlaceKind::Station,
    KeyPlaceKind::Riverbank,
];

/// What a rural village may have.
const RURAL: [KeyPlaceKind; 5] =
    [KeyPlaceKind::School, KeyPlaceKind::Market, KeyPlaceKind::Riverbank, KeyPlaceKind::Square, KeyPlaceKind::Hospital];

/// The key places of a township's villages, in village order.
pub(super) fn key_places(rng: &mut Rng, township: &Region, villages: &[&Region]) -> Vec<KeyPlace> {
    let river = rng.pick(RIVERS).copied().unwrap_or("沙颍河");
    // Per village: the kinds it gets and the names for township-level places.
    let mut wanted: Vec<Vec<(KeyPlaceKind, Option<String>)>> = villages
        .iter()
        .map(|v| {
            let urban = v.kind == RegionKind::Community;
            let n = if urban { 2 } else { usize::from(rng.chance(0.35)) };
            let mut kinds: Vec<KeyPlaceKind> = if urban { URBAN.to_vec() } else { RURAL.to_vec() };
            rng.shuffle(&mut kinds);
            kinds.into_iter().take(n).map(|k| (k, None)).collect()
        })
        .collect();
    // The township's school, health centre and station, in its central (first) village.
    if let Some(first) = wanted.first_mut() {
        let stem = township_stem(&township.name);
        let subdistrict = township.kind == RegionKind::Subdistrict;
        let central = [
            (KeyPlaceKind::School, format!("{}中心学校", township.name)),
            (
                KeyPlaceKind::Hospital,
                if subdistrict {
                    format!("{}社区卫生服务中心", township.name)
                } else {
                    format!("{}卫生院", township.name)
                },
            ),
            (KeyPlaceKind::Station, if subdistrict { format!("{stem}公交枢纽站") } else { format!("{stem}汽车站") }),
        ];
        first.retain(|(k, _)| !central.iter().any(|(c, _)| c == k));
        first.extend(central.into_iter().map(|(k, n)| (k, Some(n))));
    }
    // Top up townships with few places, one village at a time.
    let mut total: usize = wanted.iter().map(Vec::len).sum();
    let mut v = 1;
    while total < MIN_PER_TOWNSHIP && villages.len() > 1 {
        let have: Vec<KeyPlaceKind> = wanted[v].iter().map(|(k, _)| *k).collect();
        if let Some(k) = RURAL.iter().find(|k| !have.contains(k)) {
            wanted[v].push((*k, None));
            total += 1;
        }
        v = if v + 1 < villages.len() { v + 1 } else { 1 };
        if wanted.iter().skip(1).all(|w| w.len() >= RURAL.len()) {
            break;
        }
    }
    let mut out = Vec::new();
    for (village, kinds) in villages.iter().zip(wanted) {
        let ring = ring_xy(village);
        for (n, (kind, name)) in kinds.into_iter().enumerate() {
            let name = name.unwrap_or_else(|| place_name(kind, village, river));
            out.push(KeyPlace {
                id: format!("kp-{}-{:02}", village.code, n + 1),
                name,
                kind,
                village: village.code.clone(),
                fence: fence(rng, &ring),
            });
        }
    }
    out
}

/// The name of a village's key place of `kind`.
fn place_name(kind: KeyPlaceKind, village: &Region, river: &str) -> String {
    let stem = village_stem(&village.name);
    let urban = village.kind == RegionKind::Community;
    match kind {
        KeyPlaceKind::School => format!("{stem}小学"),
        KeyPlaceKind::Market => format!("{stem}农贸市场"),
        KeyPlaceKind::Station if urban => format!("{stem}公交站"),
        KeyPlaceKind::Station => format!("{stem}客运站点"),
        KeyPlaceKind::Hospital if urban => format!("{stem}社区卫生服务站"),
        KeyPlaceKind::Hospital => format!("{}卫生室", village.name),
        KeyPlaceKind::Riverbank => format!("{river}{stem}段"),
        KeyPlaceKind::Square => format!("{stem}文化广场"),
    }
}

/// A fence inside the polygon `ring`: a circle (60%) or a rectangle, shrunk until it fits.
fn fence(rng: &mut Rng, ring: &[Xy]) -> Fence {
    let circle = rng.chance(0.6);
    let mut radius = 30.0 + rng.unit() * 120.0;
    let (mut a, mut b) = (25.0 + rng.unit() * 65.0, 25.0 + rng.unit() * 65.0);
    let (lo, hi) = bbox(ring);
    for round in 0..8 {
        let reach = if circle { radius } else { (a * a + b * b).sqrt() };
        for _ in 0..60 {
            let c = Xy::new(lo.x + (hi.x - lo.x) * rng.unit(), lo.y + (hi.y - lo.y) * rng.unit());
            if contains(ring, c) && boundary_distance(ring, c) >= reach + CLEARANCE_M {
                return make(rng, c, circle, radius, a, b);
            }
        }
        if round < 7 {
            radius = (radius * 0.8).max(30.0);
            (a, b) = ((a * 0.8).max(10.0), (b * 0.8).max(10.0));
        }
    }
    // A village too small for that (not expected): the smallest circle at its centroid.
    make(rng, centroid(ring), true, 30.0, a, b)
}

/// A circle of `radius` or a rectangle of half-sides `a`, `b` at a random angle, around `c`.
fn make(rng: &mut Rng, c: Xy, circle: bool, radius: f64, a: f64, b: f64) -> Fence {
    if circle {
        return Fence::Circle { center: c.micro().lat_lng(), radius_m: radius.round() };
    }
    let mut u = Xy::new(1.0, 0.0);
    for _ in 0..16 {
        let d = Xy::new(rng.unit() * 2.0 - 1.0, rng.unit() * 2.0 - 1.0);
        let len = d.dot(d).sqrt();
        if (0.1..=1.0).contains(&len) {
            u = d.scale(1.0 / len);
            break;
        }
    }
    let v = Xy::new(-u.y, u.x);
    let corner = |s: f64, t: f64| c.add(u.scale(s * a)).add(v.scale(t * b)).micro().lat_lng();
    Fence::Polygon { ring: vec![corner(-1.0, -1.0), corner(1.0, -1.0), corner(1.0, 1.0), corner(-1.0, 1.0)] }
}
