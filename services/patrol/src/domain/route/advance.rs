//! One fix's effect on a tour: entries, exits and check-ins along the segment from the
//! member's previous fix.

use chrono::{DateTime, Duration, Utc};

use super::{CheckIn, How, Inside, Route, TourEvent, TourState, TourTimes, eligible_from};
use crate::domain::fix::LastFix;
use crate::domain::geo::{BBox, Crossing};

/// Processes `member`'s accepted `fix`, given their previous accepted fix `prev`, and returns
/// what happened, in time order.
///
/// The member is taken to move in a straight line at constant speed from `prev` to `fix`;
/// entry, exit and check-in times are interpolated along it. Without `prev` (or with one not
/// before `fix`) only `fix` itself is examined. At equal instants exits come before entries,
/// entries before check-ins, and an exit after the entry or check-in it closes. Only
/// checkpoints whose box overlaps the segment's box are examined; nothing is allocated unless
/// something happens or a member stands in an open checkpoint.
pub fn advance(
    state: &mut TourState,
    route: &Route,
    times: &TourTimes,
    member: &str,
    prev: Option<&LastFix>,
    fix: LastFix,
) -> Vec<TourEvent> {
    state.fit(route);
    let start = match prev {
        Some(p) if p.at < fix.at => *p,
        _ => fix,
    };
    let seg = Segment { t0: start.at, t1: fix.at };
    let bbox = BBox::of_segment(start.point, fix.point);
    let mut pending: Vec<Pending> = Vec::new();
    let mut candidates: Vec<Candidate> = Vec::new();

    for (k, (cp, cs)) in route.checkpoints.iter().zip(state.checkpoints.iter_mut()).enumerate() {
        let stored = cs.inside.iter().position(|i| i.member == member);
        let near = cp.fence.bbox().intersects(&bbox);
        if !near && stored.is_none() {
            continue;
        }
        let x = if near { cp.fence.crossing(start.point, fix.point) } else { Crossing::default() };
        let mut since = stored.map(|i| cs.inside[i].since);
        let mut emit = |at, rank, event| {
            pending.push(Pending { at, rank, k, event });
            pending.len() - 1
        };
        // Reconcile what is stored with where the segment starts (they agree unless the
        // state was restored or the fence changed).
        match (x.starts_inside(), since) {
            (true, None) => {
                emit(seg.t0, ENTRY, TourEvent::Entered { checkpoint: cp.id.clone(), at: seg.t0 });
                since = Some(seg.t0);
            }
            (false, Some(_)) => {
                emit(seg.t0, EXIT, TourEvent::Exited { checkpoint: cp.id.clone(), at: seg.t0 });
                since = None;
            }
            _ => {}
        }
        let (window_start, window_end) = cp.window.bounds(times);
        let last = x.spans().len().saturating_sub(1);
        for (i, span) in x.spans().iter().enumerate() {
            let continues = i == 0 && x.starts_inside();
            let stays = i == last && x.ends_inside();
            let from = match since.filter(|_| continues) {
                Some(s) => s,
                None => {
                    let at = seg.at(span.from);
                    emit(at, ENTRY, TourEvent::Entered { checkpoint: cp.id.clone(), at });
                    at
                }
            };
            let to = seg.at(span.to);
            let exit = if stays {
                None
            } else {
                // A stay of no length ends after its own entry, whatever else happens then.
                let rank = if to == from { LATE_EXIT } else { EXIT };
                Some(emit(to, rank, TourEvent::Exited { checkpoint: cp.id.clone(), at: to }))
            };
            since = stays.then_some(from);
            // The earliest instant the dwell is complete inside the window.
            let done = from.max(window_start) + cp.dwell;
            if cs.is_open() && done <= to && done < window_end {
                let how = if continues || stays { How::Inside } else { How::Crossing };
                candidates.push(Candidate { k, done, until: to, window_end, how, exit });
            }
        }
        match (stored, since) {
            (Some(i), Some(s)) => cs.inside[i].since = s,
            (Some(i), None) => {
                cs.inside.swap_remove(i);
            }
            (None, Some(s)) => cs.inside.push(Inside { member: member.to_owned(), since: s }),
            (None, None) => {}
        }
    }

    check_in(state, route, times, member, &candidates, &mut pending);
    pending.sort_by_key(|p| (p.at, p.rank, p.k)); // stable: generation order breaks ties
    pending.into_iter().map(|p| p.event).collect()
}

/// Applies the feasible check-ins, earliest first: one may make a later checkpoint of an
/// ordered route eligible.
fn check_in(
    state: &mut TourState,
    route: &Route,
    times: &TourTimes,
    member: &str,
    candidates: &[Candidate],
    pending: &mut Vec<Pending>,
) {
    loop {
        let mut best: Option<(&Candidate, DateTime<Utc>)> = None;
        for c in candidates {
            if !state.checkpoints[c.k].is_open() {
                continue;
            }
            let at = eligible_from(state, route, times, c.k).map_or(c.done, |e| e.max(c.done));
            if at <= c.until && at < c.window_end && best.is_none_or(|(_, b)| at < b) {
                best = Some((c, at));
            }
        }
        let Some((c, at)) = best else { return };
        state.checkpoints[c.k].check_in = Some(CheckIn { at, member: member.to_owned(), how: c.how });
        if let Some(exit) = c.exit
            && pending[exit].at == at
        {
            pending[exit].rank = LATE_EXIT;
        }
        let checkpoint = route.checkpoints[c.k].id.clone();
        pending.push(Pending {
            at,
            rank: CHECK_IN,
            k: c.k,
            event: TourEvent::CheckedIn { checkpoint, at, member: member.to_owned(), how: c.how },
        });
    }
}

/// Ranks of events at one instant.
const EXIT: u8 = 0;
const ENTRY: u8 = 1;
const CHECK_IN: u8 = 2;
const LATE_EXIT: u8 = 3;

/// An event with its sort key.
struct Pending {
    at: DateTime<Utc>,
    rank: u8,
    k: usize,
    event: TourEvent,
}

/// A stay that completes its dwell in its checkpoint's window, unless order forbids.
struct Candidate {
    k: usize,
    /// When the dwell is complete.
    done: DateTime<Utc>,
    /// When the stay ends (the fix's time if it goes on).
    until: DateTime<Utc>,
    window_end: DateTime<Utc>,
    how: How,
    /// The stay's exit event, if it ends on this segment.
    exit: Option<usize>,
}

/// The segment's times.
struct Segment {
    t0: DateTime<Utc>,
    t1: DateTime<Utc>,
}

impl Segment {
    /// The instant at fraction `f` along the segment, to the microsecond.
    fn at(&self, f: f64) -> DateTime<Utc> {
        if f <= 0.0 {
            return self.t0;
        }
        if f >= 1.0 {
            return self.t1;
        }
        let micros = (self.t1 - self.t0).num_microseconds().unwrap_or(i64::MAX);
        self.t0 + Duration::microseconds((micros as f64 * f).round() as i64)
    }
}

#[cfg(test)]
mod tests;
