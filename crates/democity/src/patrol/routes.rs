//! Routes past a township's key places.

use super::{Checkpoint, ClockWindow, Fence, KeyPlace, KeyPlaceKind, PatrolRoute};
use crate::geom::{Xy, centroid};
use crate::model::Region;
use crate::rng::Rng;

/// The shifts of a township's routes (local minutes from midnight; the end may pass it) and
/// their names: walked by the grid workers, the volunteers and the county's police.
const SHIFTS: [(u32, u32, &str); 3] =
    [(8 * 60 + 30, 11 * 60 + 30, "日间"), (19 * 60, 22 * 60, "夜间"), (22 * 60, 26 * 60, "深夜")];

/// Fewest and most checkpoints of a route.
const CHECKPOINTS: (usize, usize) = (5, 15);

/// `HH:MM` of a minute of the day (wrapping past midnight).
fn clock(minute: u32) -> String {
    let m = minute % (24 * 60);
    format!("{:02}:{:02}", m / 60, m % 60)
}

/// Where a key place is (its fence's centre).
fn position(place: &KeyPlace) -> Xy {
    match &place.fence {
        Fence::Circle { center, .. } => Xy::from_lat_lng(*center),
        Fence::Polygon { ring } => centroid(&ring.iter().map(|&p| Xy::from_lat_lng(p)).collect::<Vec<_>>()),
    }
}

/// Two or three routes of a township, walked by `teams` (grid workers, volunteers, police) in
/// turn; none when it has fewer than five key places.
pub(super) fn routes(rng: &mut Rng, township: &Region, places: &[KeyPlace], teams: &[String; 3]) -> Vec<PatrolRoute> {
    if places.len() < CHECKPOINTS.0 {
        return Vec::new();
    }
    let at: Vec<Xy> = places.iter().map(position).collect();
    let count = rng.between(2, 3);
    (0..count)
        .map(|k| {
            let n = rng.between(CHECKPOINTS.0, CHECKPOINTS.1.min(places.len()));
            // Nearest neighbour from a random start.
            let mut left: Vec<usize> = (0..places.len()).collect();
            let mut tour = vec![left.swap_remove(rng.below(left.len() as u64) as usize)];
            while tour.len() < n {
                let last = at[tour[tour.len() - 1]];
                let (pos, _) = left
                    .iter()
                    .enumerate()
                    .map(|(i, &p)| (i, last.dist(at[p])))
                    .fold((0, f64::INFINITY), |best, x| if x.1 < best.1 { x } else { best });
                tour.push(left.swap_remove(pos));
            }
            let (start, end, label) = SHIFTS[k];
            let slot = (end - start) / n as u32;
            let checkpoints = tour
                .iter()
                .enumerate()
                .map(|(j, &p)| {
                    let from = start + j as u32 * slot;
                    let to = (from + 2 * slot).min(end);
                    let dwell_s = match places[p].kind {
                        KeyPlaceKind::School | KeyPlaceKind::Market | KeyPlaceKind::Station => 120,
                        KeyPlaceKind::Hospital => 60,
                        KeyPlaceKind::Riverbank | KeyPlaceKind::Square => 0,
                    };
                    Checkpoint {
                        key_place: places[p].id.clone(),
                        window: ClockWindow { from: clock(from), to: clock(to) },
                        dwell_s,
                    }
                })
                .collect();
            PatrolRoute {
                id: format!("{}-route-{:02}", township.code, k + 1),
                name: format!("{}{label}巡逻路线", township.name),
                team: teams[k].clone(),
                township: township.code.clone(),
                ordered: true,
                shift: ClockWindow { from: clock(start), to: clock(end) },
                checkpoints,
            }
        })
        .collect()
}
