//! Routes of checkpoints and a tour's progress along one.
//!
//! A [`Route`] is a list of [`Checkpoint`]s (a key place's geofence or a point with a radius,
//! a time [`Window`] and a dwell), ordered or not. A shift's team walks it as one tour: the
//! [`TourState`] records, per checkpoint, its check-in (when, by whom, how), whether it was
//! missed, and which members are inside since when. Any member's fixes count.
//!
//! - [`advance`] takes one member's fix (and their previous accepted fix) and returns what
//!   happened along the straight segment between them: [`TourEvent::Entered`],
//!   [`TourEvent::Exited`] and [`TourEvent::CheckedIn`], at times interpolated along the segment.
//! - [`manual_check_in`] checks a checkpoint in by hand (a scanned code), if the device's last
//!   position is recent and near it.
//! - [`misses`] marks (once) the checkpoints whose window has closed; [`next_due`] is the next
//!   instant that can happen, for the service's indexed due-time job; [`is_complete`] says
//!   whether every checkpoint is checked in or missed.
//!
//! **Windows** are half-open, `[start, end)`, and clipped to the shift. A check-in counts only at
//! an instant inside its checkpoint's window; a checkpoint is missed once `now ≥ end` without
//! one. **Dwell**: the member must be inside for `dwell` without a break, counted from when they
//! entered or from the window's start, whichever is later; the check-in is at the instant the
//! dwell is complete (with dwell 0, the instant of entry — so a segment that passes through a
//! small checkpoint between two fixes checks it in). A dwell completes only as far as fixes
//! show: a member standing inside is checked in when their next fix (still inside, or the exit
//! it implies) covers the instant. Stays are per member: two members do not add up. **Order**: on an ordered route a checkpoint checks in only at an instant when every earlier
//! one is checked in (at or before it) or its window has ended (it is missed, reported or not).
//!
//! **Which checkpoints are examined**: a route has at most [`MAX_CHECKPOINTS`] (200), so
//! [`advance`] compares the segment's box with each checkpoint's precomputed box (a few
//! nanoseconds each, no hashing) and computes crossings only for those that overlap; the city's
//! full set of key places goes through the [`index`](super::index) instead.

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, NaiveTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::geo::Fence;

mod advance;
mod manual;

pub use advance::advance;
pub use manual::{ManualCheckIn, ManualRefusal, ManualRule, manual_check_in};

/// The most checkpoints a route may have.
pub const MAX_CHECKPOINTS: usize = 200;

/// Local time for clock windows and days: UTC+08:00 (China Standard Time).
pub const LOCAL_OFFSET: FixedOffset = match FixedOffset::east_opt(8 * 3600) {
    Some(o) => o,
    None => panic!("UTC+08:00 is a valid offset"),
};

/// When a checkpoint may be checked in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Window {
    /// Any time during the shift.
    Anytime,
    /// Between two local (UTC+08:00) clock times on the shift's date: the first occurrence that
    /// ends after the shift starts (so a night shift's 01:00–02:00 is the next morning's). When
    /// `to` is before `from` the window runs past midnight.
    Clock {
        /// Local opening time.
        from: NaiveTime,
        /// Local closing time (exclusive).
        to: NaiveTime,
    },
    /// Between two offsets from the tour's start.
    FromStart {
        /// Opening offset (≥ 0).
        min: Duration,
        /// Closing offset (exclusive, > `min`).
        max: Duration,
    },
}

impl Window {
    /// The window's instants `[start, end)` for this tour, clipped to the shift (`start ≥ end`
    /// when nothing of it lies in the shift).
    pub fn bounds(&self, times: &TourTimes) -> (DateTime<Utc>, DateTime<Utc>) {
        let (s, e) = match *self {
            Window::Anytime => (times.shift_start, times.shift_end),
            Window::FromStart { min, max } => (times.started_at + min, times.started_at + max),
            Window::Clock { from, to } => clock_window(from, to, times.shift_start),
        };
        (s.max(times.shift_start), e.min(times.shift_end))
    }
}

/// The first occurrence of the local window `from`–`to` that ends after `shift_start`.
fn clock_window(from: NaiveTime, to: NaiveTime, shift_start: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let day = local_date(shift_start);
    let on = |d: NaiveDate| {
        let start = local_instant(d, from);
        let end = local_instant(d, to) + if to <= from { TimeDelta::days(1) } else { TimeDelta::zero() };
        (start, end)
    };
    let days = [day.pred_opt(), Some(day), day.succ_opt()];
    days.into_iter().flatten().map(on).find(|&(_, e)| e > shift_start).unwrap_or_else(|| on(day))
}

/// The local (UTC+08:00) date of `t`.
pub fn local_date(t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&LOCAL_OFFSET).date_naive()
}

/// The instant of local (UTC+08:00) time `time` on `day`.
pub fn local_instant(day: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
    (day.and_time(time) - TimeDelta::seconds(i64::from(LOCAL_OFFSET.local_minus_utc()))).and_utc()
}

/// A place the route passes and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The checkpoint's id, unique in the route.
    pub id: String,
    /// The key place's geofence, or a point with a radius.
    pub fence: Fence,
    /// When it may be checked in.
    pub window: Window,
    /// How long a member must stay inside (zero: passing through is enough).
    pub dwell: Duration,
}

/// A checked route: at most [`MAX_CHECKPOINTS`] checkpoints with unique, non-empty ids and
/// sensible windows and dwells.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RouteParts")]
pub struct Route {
    id: String,
    ordered: bool,
    checkpoints: Vec<Checkpoint>,
}

#[derive(Deserialize)]
struct RouteParts {
    id: String,
    ordered: bool,
    checkpoints: Vec<Checkpoint>,
}

impl TryFrom<RouteParts> for Route {
    type Error = RouteError;

    fn try_from(p: RouteParts) -> Result<Route, RouteError> {
        Route::new(p.id, p.ordered, p.checkpoints)
    }
}

/// Why a route is refused; the service answers INVALID_ARGUMENT naming [`RouteError::field`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// More than [`MAX_CHECKPOINTS`].
    #[error("checkpoints: at most {MAX_CHECKPOINTS}, got {count}")]
    TooManyCheckpoints {
        /// Checkpoints given.
        count: usize,
    },
    /// An empty checkpoint id.
    #[error("checkpoints[{index}].id: must not be empty")]
    EmptyId {
        /// The checkpoint's position.
        index: usize,
    },
    /// A checkpoint id used twice.
    #[error("checkpoints[{index}].id: {id:?} is used by an earlier checkpoint")]
    DuplicateId {
        /// The second checkpoint's position.
        index: usize,
        /// The id.
        id: String,
    },
    /// A clock window with `from == to`, or an offset window with `min < 0` or `max ≤ min`.
    #[error("checkpoints[{index}].window: empty or negative")]
    Window {
        /// The checkpoint's position.
        index: usize,
    },
    /// A negative dwell.
    #[error("checkpoints[{index}].dwell: must not be negative")]
    Dwell {
        /// The checkpoint's position.
        index: usize,
    },
}

impl RouteError {
    /// The offending field: `checkpoints` or `checkpoints[i].id|window|dwell`.
    pub fn field(&self) -> String {
        match self {
            RouteError::TooManyCheckpoints { .. } => "checkpoints".to_owned(),
            RouteError::EmptyId { index } | RouteError::DuplicateId { index, .. } => format!("checkpoints[{index}].id"),
            RouteError::Window { index } => format!("checkpoints[{index}].window"),
            RouteError::Dwell { index } => format!("checkpoints[{index}].dwell"),
        }
    }
}

impl Route {
    /// Checks and builds a route.
    pub fn new(id: impl Into<String>, ordered: bool, checkpoints: Vec<Checkpoint>) -> Result<Route, RouteError> {
        if checkpoints.len() > MAX_CHECKPOINTS {
            return Err(RouteError::TooManyCheckpoints { count: checkpoints.len() });
        }
        for (index, cp) in checkpoints.iter().enumerate() {
            if cp.id.is_empty() {
                return Err(RouteError::EmptyId { index });
            }
            if checkpoints[..index].iter().any(|c| c.id == cp.id) {
                return Err(RouteError::DuplicateId { index, id: cp.id.clone() });
            }
            let window_ok = match cp.window {
                Window::Anytime => true,
                Window::Clock { from, to } => from != to,
                Window::FromStart { min, max } => min >= Duration::zero() && max > min,
            };
            if !window_ok {
                return Err(RouteError::Window { index });
            }
            if cp.dwell < Duration::zero() {
                return Err(RouteError::Dwell { index });
            }
        }
        Ok(Route { id: id.into(), ordered, checkpoints })
    }

    /// The route's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Whether checkpoints must be checked in in order.
    pub fn ordered(&self) -> bool {
        self.ordered
    }

    /// The checkpoints in order.
    pub fn checkpoints(&self) -> &[Checkpoint] {
        &self.checkpoints
    }

    /// The position of the checkpoint `id`.
    pub fn position(&self, id: &str) -> Option<usize> {
        self.checkpoints.iter().position(|c| c.id == id)
    }
}

/// The instants a tour's windows are counted from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TourTimes {
    /// When the tour actually started ([`Window::FromStart`] counts from here).
    pub started_at: DateTime<Utc>,
    /// The shift's planned start.
    pub shift_start: DateTime<Utc>,
    /// The shift's planned end: every window closes by then.
    pub shift_end: DateTime<Utc>,
}

/// How a checkpoint was checked in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum How {
    /// Only the straight segment between two fixes passed through the fence; no fix was inside.
    Crossing,
    /// A reported fix was inside the fence during the stay.
    Inside,
    /// By hand (a scanned code), near enough by the device's last position.
    Manual,
}

impl How {
    /// The name in facts and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            How::Crossing => "crossing",
            How::Inside => "inside",
            How::Manual => "manual",
        }
    }
}

/// A recorded check-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckIn {
    /// When it counted.
    pub at: DateTime<Utc>,
    /// Who.
    pub member: String,
    /// How.
    pub how: How,
}

/// A member inside a checkpoint's fence, since when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inside {
    /// The member.
    pub member: String,
    /// When they entered (interpolated), or their first fix inside.
    pub since: DateTime<Utc>,
}

/// One checkpoint's progress in a tour.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointState {
    /// The check-in, once there is one.
    pub check_in: Option<CheckIn>,
    /// Whether its window closed without one (reported by [`misses`]).
    pub missed: bool,
    /// The members inside now.
    pub inside: Vec<Inside>,
}

impl CheckpointState {
    /// Neither checked in nor missed.
    pub fn is_open(&self) -> bool {
        self.check_in.is_none() && !self.missed
    }
}

/// A tour's progress: one [`CheckpointState`] per checkpoint of its route, in route order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TourState {
    /// Per checkpoint, in route order.
    pub checkpoints: Vec<CheckpointState>,
}

impl TourState {
    /// A tour of `route` that has not begun.
    pub fn new(route: &Route) -> TourState {
        TourState { checkpoints: vec![CheckpointState::default(); route.checkpoints.len()] }
    }

    /// Keeps one state per checkpoint (a tour's route does not change, but a state read back
    /// from storage must not make indexing panic).
    fn fit(&mut self, route: &Route) {
        self.checkpoints.resize_with(route.checkpoints.len(), CheckpointState::default);
    }
}

/// What happened along a fix's segment, or by hand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TourEvent {
    /// The member entered the checkpoint's fence.
    Entered {
        /// The checkpoint's id.
        checkpoint: String,
        /// When (interpolated).
        at: DateTime<Utc>,
    },
    /// The member left it.
    Exited {
        /// The checkpoint's id.
        checkpoint: String,
        /// When (interpolated).
        at: DateTime<Utc>,
    },
    /// The checkpoint counts as visited.
    CheckedIn {
        /// The checkpoint's id.
        checkpoint: String,
        /// When it counted.
        at: DateTime<Utc>,
        /// Who.
        member: String,
        /// How.
        how: How,
    },
}

impl TourEvent {
    /// When it happened.
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            TourEvent::Entered { at, .. } | TourEvent::Exited { at, .. } | TourEvent::CheckedIn { at, .. } => *at,
        }
    }

    /// The checkpoint's id.
    pub fn checkpoint(&self) -> &str {
        match self {
            TourEvent::Entered { checkpoint, .. }
            | TourEvent::Exited { checkpoint, .. }
            | TourEvent::CheckedIn { checkpoint, .. } => checkpoint,
        }
    }
}

/// The earliest instant at which checkpoint `k` of an ordered route may check in, as far as
/// the earlier checkpoints go: each is resolved at its check-in, or else at its window's end
/// (then it is missed). `None` for unordered routes and the first checkpoint.
fn eligible_from(state: &TourState, route: &Route, times: &TourTimes, k: usize) -> Option<DateTime<Utc>> {
    if !route.ordered {
        return None;
    }
    route.checkpoints[..k]
        .iter()
        .zip(&state.checkpoints)
        .map(|(cp, cs)| cs.check_in.as_ref().map_or_else(|| cp.window.bounds(times).1, |c| c.at))
        .max()
}

/// The earliest window end among checkpoints still open: when [`misses`] next has something to
/// report. `None` when every checkpoint is checked in or missed.
pub fn next_due(state: &TourState, route: &Route, times: &TourTimes) -> Option<DateTime<Utc>> {
    route
        .checkpoints
        .iter()
        .enumerate()
        .filter(|(k, _)| state.checkpoints.get(*k).is_none_or(CheckpointState::is_open))
        .map(|(_, cp)| cp.window.bounds(times).1)
        .min()
}

/// Marks missed, and returns the ids of, the open checkpoints whose window has ended by `now`;
/// each is reported once. The service may pass `now` less a grace for devices' upload delay.
pub fn misses(state: &mut TourState, route: &Route, times: &TourTimes, now: DateTime<Utc>) -> Vec<String> {
    state.fit(route);
    let mut out = Vec::new();
    for (cp, cs) in route.checkpoints.iter().zip(state.checkpoints.iter_mut()) {
        if cs.is_open() && cp.window.bounds(times).1 <= now {
            cs.missed = true;
            out.push(cp.id.clone());
        }
    }
    out
}

/// Whether every checkpoint is checked in or missed.
pub fn is_complete(state: &TourState, route: &Route) -> bool {
    let n = route.checkpoints.len();
    state.checkpoints.len() >= n && state.checkpoints[..n].iter().all(|c| !c.is_open())
}

#[cfg(test)]
mod tests;
