//! Per-shift coverage and presence figures.
//!
//! - [`coverage`]: checkpoints in the route, visited on time (checked in: a check-in only counts
//!   inside its window), missed, still open, and the on-time share (0 for an empty route).
//! - [`time_in_places`]: time spent inside each key place, from one member's entry and exit
//!   events; an entry without its exit closes at the shift's end.
//! - [`presence`]: a member's online time on a local (UTC+08:00) day from their fix times —
//!   the gaps between consecutive fixes no longer than the offline threshold — and whether it
//!   reaches the minimum; [`online_rate`] is a region's 上线率, online members over members.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};

use super::route::{Route, TourEvent, TourState, local_instant};

/// A shift's checkpoint coverage.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Coverage {
    /// Checkpoints in the route.
    pub total: usize,
    /// Checked in (in their windows).
    pub on_time: usize,
    /// Missed.
    pub missed: usize,
    /// Neither yet.
    pub open: usize,
    /// `on_time / total`, 0 when the route is empty.
    pub share_on_time: f64,
}

/// The coverage of a tour so far.
pub fn coverage(state: &TourState, route: &Route) -> Coverage {
    let total = route.checkpoints().len();
    let states = state.checkpoints.iter().take(total);
    let on_time = states.clone().filter(|c| c.check_in.is_some()).count();
    let missed = states.filter(|c| c.check_in.is_none() && c.missed).count();
    let share_on_time = if total == 0 { 0.0 } else { on_time as f64 / total as f64 };
    Coverage { total, on_time, missed, open: total - on_time - missed, share_on_time }
}

/// Time inside each place (by checkpoint id, sorted), from one member's events in time order.
/// An entry while already inside and an exit while outside are ignored; an entry still open
/// closes at `shift_end`.
pub fn time_in_places<'a>(
    events: impl IntoIterator<Item = &'a TourEvent>,
    shift_end: DateTime<Utc>,
) -> Vec<(String, Duration)> {
    let mut places: BTreeMap<&str, (Option<DateTime<Utc>>, Duration)> = BTreeMap::new();
    for e in events {
        match e {
            TourEvent::Entered { checkpoint, at } => {
                let p = places.entry(checkpoint).or_insert((None, Duration::zero()));
                p.0.get_or_insert(*at);
            }
            TourEvent::Exited { checkpoint, at } => {
                if let Some(p) = places.get_mut(checkpoint.as_str())
                    && let Some(since) = p.0.take()
                {
                    p.1 += (*at - since).max(Duration::zero());
                }
            }
            TourEvent::CheckedIn { .. } => {}
        }
    }
    places
        .into_iter()
        .map(|(id, (open, total))| {
            let tail = open.map_or(Duration::zero(), |since| (shift_end - since).max(Duration::zero()));
            (id.to_owned(), total + tail)
        })
        .collect()
}

/// What counts as online on a day.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PresenceRule {
    /// A gap between fixes longer than this is time offline.
    pub offline_threshold: Duration,
    /// The online time a member needs on a day to count as online that day.
    pub min_online: Duration,
}

/// A member's presence on a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Presence {
    /// Time online.
    pub online_time: Duration,
    /// Whether it reaches the rule's minimum.
    pub online: bool,
}

impl Presence {
    /// The online time in whole minutes.
    pub fn online_minutes(&self) -> i64 {
        self.online_time.num_minutes()
    }
}

/// A member's presence on local `day` from their fix times (in order; times not later than the
/// one before are skipped). A gap between two fixes counts when it is no longer than the
/// threshold, for its part within the day.
pub fn presence(fix_times: &[DateTime<Utc>], day: NaiveDate, rule: &PresenceRule) -> Presence {
    let day_start = local_instant(day, NaiveTime::MIN);
    let day_end = day.succ_opt().map_or(DateTime::<Utc>::MAX_UTC, |d| local_instant(d, NaiveTime::MIN));
    let mut online_time = Duration::zero();
    let mut prev: Option<DateTime<Utc>> = None;
    for &t in fix_times {
        match prev {
            Some(p) if t <= p => continue,
            Some(p) if t - p <= rule.offline_threshold => {
                online_time += (t.min(day_end) - p.max(day_start)).max(Duration::zero());
            }
            _ => {}
        }
        prev = Some(t);
    }
    Presence { online_time, online: online_time >= rule.min_online }
}

/// A region's online rate (上线率): `online / members`, 0 when there are no members.
pub fn online_rate(online: usize, members: usize) -> f64 {
    if members == 0 { 0.0 } else { online as f64 / members as f64 }
}

#[cfg(test)]
mod tests;
