//! Trip totals for a track, as Traccar's trips and stops reports: distance, moving and stopped
//! time, and the stops.
//!
//! A track is a member's accepted fixes in time order (a fix not later than the one before it is
//! skipped). Distance is the haversine sum between consecutive fixes. A **stop** begins at a fix
//! and lasts while the following fixes stay within [`TripRule::stop_radius_m`] of it; it counts
//! if it lasts at least [`TripRule::min_stop`] (from its first fix to its last). Stopped time is
//! the stops' total, moving time the rest of the span from the first fix to the last. Restricted
//! to a time range, stops are found on the whole track (so one straddling the range is still a
//! stop) and clipped, and a segment between fixes counts in proportion to its time in the range.

use chrono::{DateTime, Duration, Utc};

use super::fix::LastFix;
use super::geo::{Point, distance_m};

/// What makes a stop.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TripRule {
    /// How far from where it began a stop may wander, metres (30).
    pub stop_radius_m: f64,
    /// How long it must last (2 minutes).
    pub min_stop: Duration,
}

impl Default for TripRule {
    fn default() -> Self {
        TripRule { stop_radius_m: 30.0, min_stop: Duration::minutes(2) }
    }
}

/// A stop.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stop {
    /// Its first fix's time (or the range's start, clipped).
    pub start: DateTime<Utc>,
    /// Its last fix's time (or the range's end, clipped).
    pub end: DateTime<Utc>,
    /// `end − start`.
    pub duration: Duration,
    /// The mean position of its fixes.
    pub center: Point,
}

/// A track's totals.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Totals {
    /// Distance travelled, metres.
    pub distance_m: f64,
    /// Time not stopped.
    pub moving: Duration,
    /// Time in stops.
    pub stopped: Duration,
    /// The stops, in order.
    pub stops: Vec<Stop>,
}

/// The totals of the whole track.
pub fn totals(track: &[LastFix], rule: &TripRule) -> Totals {
    let fixes = ordered(track);
    let (Some(first), Some(last)) = (fixes.first(), fixes.last()) else { return Totals::default() };
    clip(&fixes, &stops(&fixes, rule), first.at, last.at)
}

/// The totals of the part of the track within `[from, to]`.
pub fn totals_between(track: &[LastFix], rule: &TripRule, from: DateTime<Utc>, to: DateTime<Utc>) -> Totals {
    let fixes = ordered(track);
    clip(&fixes, &stops(&fixes, rule), from, to)
}

/// The fixes each later than the one before.
fn ordered(track: &[LastFix]) -> Vec<LastFix> {
    let mut out: Vec<LastFix> = Vec::with_capacity(track.len());
    for f in track {
        if out.last().is_none_or(|l| f.at > l.at) {
            out.push(*f);
        }
    }
    out
}

/// The stops of the whole track, as index ranges (first and last fix).
fn stops(fixes: &[LastFix], rule: &TripRule) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < fixes.len() {
        let mut j = i;
        while j + 1 < fixes.len() && distance_m(fixes[i].point, fixes[j + 1].point) <= rule.stop_radius_m {
            j += 1;
        }
        if j > i && fixes[j].at - fixes[i].at >= rule.min_stop {
            out.push((i, j));
            i = j + 1;
        } else {
            i += 1;
        }
    }
    out
}

/// The length of `[a0, a1] ∩ [b0, b1]`.
fn overlap(a0: DateTime<Utc>, a1: DateTime<Utc>, b0: DateTime<Utc>, b1: DateTime<Utc>) -> Duration {
    (a1.min(b1) - a0.max(b0)).max(Duration::zero())
}

fn clip(fixes: &[LastFix], stops: &[(usize, usize)], from: DateTime<Utc>, to: DateTime<Utc>) -> Totals {
    let mut metres = 0.0;
    for w in fixes.windows(2) {
        let (a, b) = (w[0], w[1]);
        let span = (b.at - a.at).num_microseconds().unwrap_or(i64::MAX) as f64;
        let inside = overlap(a.at, b.at, from, to).num_microseconds().unwrap_or(i64::MAX) as f64;
        if inside > 0.0 {
            metres += distance_m(a.point, b.point) * (inside / span);
        }
    }
    let covered = match (fixes.first(), fixes.last()) {
        (Some(f), Some(l)) => overlap(f.at, l.at, from, to),
        _ => Duration::zero(),
    };
    let mut kept = Vec::new();
    for &(i, j) in stops {
        let (start, end) = (fixes[i].at.max(from), fixes[j].at.min(to));
        if start < end {
            let n = (j - i + 1) as f64;
            let lat = fixes[i..=j].iter().map(|f| f.point.lat).sum::<f64>() / n;
            let lng = fixes[i..=j].iter().map(|f| f.point.lng).sum::<f64>() / n;
            kept.push(Stop { start, end, duration: end - start, center: Point::new(lat, lng) });
        }
    }
    let stopped = kept.iter().map(|s| s.duration).fold(Duration::zero(), |a, b| a + b);
    Totals { distance_m: metres, moving: covered - stopped, stopped, stops: kept }
}

#[cfg(test)]
mod tests;
