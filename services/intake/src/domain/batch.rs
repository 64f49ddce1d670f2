//! Group commit: what each submission of a batch becomes, decided before anything is written.
//!
//! A batch is written in one transaction, so the promises that hold between two transactions
//! must also hold between two submissions of the same batch: a second copy of a `request_id`
//! gets the first copy's answer, a report of something reported earlier in the batch merges
//! into that event, and tracking numbers follow the batch's order.

use std::{collections::HashMap, hash::Hash};

use super::dedupe::{self, Candidate};

/// What the planner needs to know about one submission.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    /// The caller's subject (idempotency key, first half).
    pub caller: &'a str,
    /// The idempotency key, second half.
    pub request_id: &'a str,
    /// Catalog item.
    pub item_code: &'a str,
    /// County code.
    pub county: &'a str,
    /// Coordinates (lat, lng), when given.
    pub point: Option<(f64, f64)>,
    /// Grid code, when given.
    pub grid_code: Option<&'a str>,
}

/// An event a report can merge into.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target<Id> {
    /// An event stored before this batch.
    Stored(Id),
    /// The event that submission `i` of this batch opens.
    Batch(usize),
}

/// What one submission of a batch becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision<Id> {
    /// `(caller, request_id)` was answered before this batch: return that answer.
    Answered,
    /// An earlier submission `i` of this batch has the same `(caller, request_id)`: same answer.
    SameAs(usize),
    /// A new event.
    New,
    /// An additional report of an open event.
    Merge(Target<Id>),
}

/// The first submission of the batch with each `(caller, request_id)`: `None` for a leader,
/// `Some(i)` for a later copy of submission `i`.
pub fn leaders(entries: &[Entry<'_>]) -> Vec<Option<usize>> {
    let mut first: HashMap<(&str, &str), usize> = HashMap::new();
    entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let leader = *first.entry((e.caller, e.request_id)).or_insert(i);
            (leader != i).then_some(leader)
        })
        .collect()
}

/// Decides every submission, in batch order.
///
/// `answered[i]` says that submission `i`'s key already has a stored answer; `stored[i]` holds
/// the open events the database search found for it (same item and county, in the duplicate
/// window, newest first). Events opened earlier in the batch are candidates too, newest first
/// and ahead of the stored ones, so a grid-only report merges into the most recent event of
/// its grid, as it would had each submission been committed on its own.
pub fn plan<Id: Clone>(
    entries: &[Entry<'_>],
    answered: &[bool],
    stored: &[Vec<Candidate<Id>>],
    radius_m: f64,
) -> Vec<Decision<Id>> {
    let copies = leaders(entries);
    let mut decisions: Vec<Decision<Id>> = Vec::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        if let Some(leader) = copies[i] {
            decisions.push(Decision::SameAs(leader));
            continue;
        }
        if answered.get(i).copied().unwrap_or(false) {
            decisions.push(Decision::Answered);
            continue;
        }
        if e.point.is_none() && e.grid_code.is_none() {
            decisions.push(Decision::New);
            continue;
        }
        let opened_here = (0..i).rev().filter(|&j| {
            matches!(decisions[j], Decision::New)
                && entries[j].item_code == e.item_code
                && entries[j].county == e.county
        });
        let mut candidates: Vec<Candidate<Target<Id>>> = opened_here
            .map(|j| Candidate {
                id: Target::Batch(j),
                point: entries[j].point,
                grid_code: entries[j].grid_code.map(str::to_string),
            })
            .collect();
        candidates.extend(stored.get(i).into_iter().flatten().map(|c| Candidate {
            id: Target::Stored(c.id.clone()),
            point: c.point,
            grid_code: c.grid_code.clone(),
        }));
        decisions.push(match dedupe::find_duplicate(&candidates, e.point, e.grid_code, radius_m) {
            Some(target) => Decision::Merge(target),
            None => Decision::New,
        });
    }
    decisions
}

/// What a batch's decisions ask of the database: the merges to count into stored events and
/// the tracking numbers to draw.
#[derive(Debug)]
pub struct Tally<'a, Id> {
    /// The stored events merged into, in order of first appearance.
    pub merge_ids: Vec<Id>,
    /// How many of the batch's reports merge into each stored event.
    pub merge_counts: HashMap<Id, usize>,
    /// How many of the batch's reports merge into the event submission `i` opens, by `i`.
    pub batch_merges: HashMap<usize, usize>,
    /// The tracking sequence of each new event, in batch order.
    pub needs: Vec<&'a str>,
}

/// Counts what `decisions` ask for; `sequences[i]` is the tracking sequence of submission `i`.
pub fn tally<'a, Id: Clone + Eq + Hash>(decisions: &[Decision<Id>], sequences: &'a [String]) -> Tally<'a, Id> {
    let mut t =
        Tally { merge_ids: Vec::new(), merge_counts: HashMap::new(), batch_merges: HashMap::new(), needs: Vec::new() };
    for (d, sequence) in decisions.iter().zip(sequences) {
        match d {
            Decision::Merge(Target::Stored(id)) => {
                let n = t.merge_counts.entry(id.clone()).or_insert(0);
                if *n == 0 {
                    t.merge_ids.push(id.clone());
                }
                *n += 1;
            }
            Decision::Merge(Target::Batch(j)) => *t.batch_merges.entry(*j).or_insert(0) += 1,
            Decision::New => t.needs.push(sequence),
            Decision::Answered | Decision::SameAs(_) => {}
        }
    }
    t
}

/// Whose answer each submission gets: its own, or for a later copy of a key in the batch its
/// first copy's.
pub fn answered_by<Id>(decisions: &[Decision<Id>]) -> Vec<usize> {
    decisions
        .iter()
        .enumerate()
        .map(|(i, d)| match d {
            Decision::SameAs(j) => *j,
            _ => i,
        })
        .collect()
}

/// The report count and version an event shows after each of `merges` additional reports,
/// given its values after all of them (`count`, `version`); the first merge comes first.
pub fn merge_steps(count: i32, version: i64, merges: usize) -> Vec<(i32, i64)> {
    (0..merges).map(|j| (count - merges as i32 + 1 + j as i32, version - merges as i64 + 1 + j as i64)).collect()
}

/// Hands out the numbers drawn from each tracking sequence to the new events that need them,
/// in batch order: `needs[i]` is the sequence of new event `i`, `drawn` what each sequence gave.
/// The numbers of one sequence are sorted first, so they increase along the batch. `None` when
/// a sequence gave fewer numbers than asked for.
pub fn assign_numbers(needs: &[&str], drawn: &HashMap<String, Vec<i64>>) -> Option<Vec<i64>> {
    let mut sorted: HashMap<&str, std::vec::IntoIter<i64>> = drawn
        .iter()
        .map(|(name, numbers)| {
            let mut numbers = numbers.clone();
            numbers.sort_unstable();
            (name.as_str(), numbers.into_iter())
        })
        .collect();
    needs.iter().map(|name| sorted.get_mut(name).and_then(Iterator::next)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry<'a>(request_id: &'a str, item: &'a str, point: Option<(f64, f64)>, grid: Option<&'a str>) -> Entry<'a> {
        Entry { caller: "dev-admin", request_id, item_code: item, county: "411602", point, grid_code: grid }
    }

    #[test]
    fn a_second_copy_of_a_request_id_follows_the_first() {
        let entries = [
            entry("req-a", "01.02.003", Some((33.0, 114.0)), None),
            entry("req-b", "01.02.003", Some((34.0, 114.0)), None),
            entry("req-a", "05.01.001", Some((35.0, 114.0)), None),
        ];
        assert_eq!(leaders(&entries), vec![None, None, Some(0)]);
        let d = plan::<u32>(&entries, &[false; 3], &[vec![], vec![], vec![]], 50.0);
        assert_eq!(d, vec![Decision::New, Decision::New, Decision::SameAs(0)]);
        // Another caller with the same request id is another key.
        let mut other = entries.clone();
        other[2].caller = "someone-else";
        assert_eq!(leaders(&other), vec![None, None, None]);
    }

    #[test]
    fn answered_keys_and_their_copies_are_not_planned() {
        let entries = [entry("req-a", "01.02.003", Some((33.0, 114.0)), None), entry("req-a", "01.02.003", None, None)];
        let d = plan::<u32>(&entries, &[true, false], &[vec![], vec![]], 50.0);
        assert_eq!(d, vec![Decision::Answered, Decision::SameAs(0)]);
    }

    #[test]
    fn a_report_merges_into_an_event_opened_earlier_in_the_batch() {
        let entries = [
            entry("req-a", "01.02.003", Some((33.0, 114.0)), Some("411602001001001")),
            // ~22 m away, same item: the same thing.
            entry("req-b", "01.02.003", Some((33.0002, 114.0)), None),
            // Same place, another item; then another county.
            entry("req-c", "02.01.001", Some((33.0, 114.0)), None),
            Entry { county: "411603", ..entry("req-d", "01.02.003", Some((33.0, 114.0)), None) },
            // ~220 m away: a new event.
            entry("req-e", "01.02.003", Some((33.002, 114.0)), None),
        ];
        let d = plan::<u32>(&entries, &[false; 5], &vec![vec![]; 5], 50.0);
        assert_eq!(
            d,
            vec![Decision::New, Decision::Merge(Target::Batch(0)), Decision::New, Decision::New, Decision::New]
        );
    }

    #[test]
    fn the_nearest_event_wins_whether_stored_or_opened_in_the_batch() {
        let entries = [
            entry("req-a", "01.02.003", Some((33.0, 114.0)), None),
            entry("req-b", "01.02.003", Some((33.0001, 114.0)), None),
        ];
        // A stored event ~33 m from req-b and the batch's ~11 m away: the batch's is nearer.
        let stored = vec![vec![], vec![Candidate { id: 7u32, point: Some((33.0004, 114.0)), grid_code: None }]];
        let d = plan(&entries, &[false; 2], &stored, 50.0);
        assert_eq!(d[1], Decision::Merge(Target::Batch(0)));
        // Stored ~1 m away: the stored one is nearer.
        let stored = vec![vec![], vec![Candidate { id: 7u32, point: Some((33.00011, 114.0)), grid_code: None }]];
        let d = plan(&entries, &[false; 2], &stored, 50.0);
        assert_eq!(d, vec![Decision::New, Decision::Merge(Target::Stored(7))]);
    }

    #[test]
    fn without_coordinates_the_newest_event_of_the_grid_wins() {
        let grid = Some("411602001001003");
        let entries = [
            entry("req-a", "01.02.003", None, grid),
            // Merged too: merges open nothing, so the stored event stays the newest.
            entry("req-b", "01.02.003", None, grid),
            entry("req-c", "01.02.003", None, Some("411602001001004")),
            entry("req-d", "01.02.003", None, grid),
            // Only a region: never merged.
            entry("req-e", "01.02.003", None, None),
            entry("req-f", "01.02.003", None, None),
        ];
        let stored = vec![vec![Candidate { id: 9u32, point: None, grid_code: grid.map(str::to_string) }]; 6];
        let d = plan(&entries, &[false; 6], &stored, 50.0);
        assert_eq!(
            d,
            vec![
                Decision::Merge(Target::Stored(9)),
                Decision::Merge(Target::Stored(9)),
                Decision::New,
                Decision::Merge(Target::Stored(9)),
                Decision::New,
                Decision::New,
            ]
        );
        // With nothing stored, the first opens the event and the later ones of its grid join it.
        let d = plan::<u32>(&entries, &[false; 6], &vec![vec![]; 6], 50.0);
        assert_eq!(d[0], Decision::New);
        assert_eq!(d[1], Decision::Merge(Target::Batch(0)));
        assert_eq!(d[3], Decision::Merge(Target::Batch(0)));
    }

    #[test]
    fn the_tally_counts_merges_and_new_events() {
        let decisions = [
            Decision::New,
            Decision::Merge(Target::Stored(7u32)),
            Decision::Merge(Target::Batch(0)),
            Decision::Answered,
            Decision::Merge(Target::Stored(5)),
            Decision::Merge(Target::Stored(7)),
            Decision::SameAs(1),
            Decision::New,
            Decision::Merge(Target::Batch(0)),
        ];
        let sequences: Vec<String> =
            (0..decisions.len()).map(|i| format!("tracking_41160{}_20261122", i % 2)).collect();
        let t = tally(&decisions, &sequences);
        assert_eq!(t.merge_ids, vec![7, 5], "in order of first appearance");
        assert_eq!(t.merge_counts, [(7, 2), (5, 1)].into());
        assert_eq!(t.batch_merges, [(0, 2)].into());
        assert_eq!(t.needs, vec!["tracking_411600_20261122", "tracking_411601_20261122"]);
        assert_eq!(answered_by(&decisions), vec![0, 1, 2, 3, 4, 5, 1, 7, 8]);
    }

    #[test]
    fn merge_steps_count_up_to_the_final_values() {
        assert_eq!(merge_steps(5, 9, 3), vec![(3, 7), (4, 8), (5, 9)]);
        assert_eq!(merge_steps(2, 2, 1), vec![(2, 2)]);
        assert!(merge_steps(1, 1, 0).is_empty());
    }

    #[test]
    fn numbers_increase_along_the_batch_per_sequence() {
        let drawn: HashMap<String, Vec<i64>> = [
            ("tracking_411602_20261122".to_string(), vec![12, 10, 11]),
            ("tracking_411603_20261122".to_string(), vec![4]),
        ]
        .into();
        let needs = [
            "tracking_411602_20261122",
            "tracking_411603_20261122",
            "tracking_411602_20261122",
            "tracking_411602_20261122",
        ];
        assert_eq!(assign_numbers(&needs, &drawn), Some(vec![10, 4, 11, 12]));
        assert_eq!(assign_numbers(&["tracking_411603_20261122"; 2], &drawn), None);
    }
}
