//! Checking a checkpoint in by hand (scanning a code posted there). A photo of the code can be
//! scanned anywhere, so the device's last accepted position decides: it must be recent and
//! near the checkpoint's fence.

use chrono::{DateTime, Duration, Utc};

use super::{CheckIn, How, Route, TourEvent, TourState, TourTimes, eligible_from};
use crate::domain::fix::LastFix;

/// What the device reports with a manual check-in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ManualCheckIn<'a> {
    /// The checkpoint's id (decoded from the code).
    pub checkpoint: &'a str,
    /// Who checks in.
    pub member: &'a str,
    /// The member's device's last accepted position, if any.
    pub position: Option<&'a LastFix>,
    /// The server's clock.
    pub now: DateTime<Utc>,
}

/// How near and how recent the position must be (`[patrol]` settings).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ManualRule {
    /// The farthest the position may be from the fence, metres (default 50).
    pub max_distance_m: f64,
    /// The oldest the position may be (default 2 minutes).
    pub max_fix_age: Duration,
}

impl Default for ManualRule {
    fn default() -> Self {
        ManualRule { max_distance_m: 50.0, max_fix_age: Duration::minutes(2) }
    }
}

/// Why a manual check-in is refused. The service answers NOT_FOUND for an unknown checkpoint
/// and FAILED_PRECONDITION for the rest, with [`ManualRefusal::as_str`] as the reason.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum ManualRefusal {
    /// The route has no such checkpoint.
    #[error("the route has no such checkpoint")]
    UnknownCheckpoint,
    /// It is checked in already.
    #[error("the checkpoint is checked in already")]
    AlreadyCheckedIn,
    /// It was missed.
    #[error("the checkpoint was missed")]
    Missed,
    /// Now is outside its window.
    #[error("the checkpoint's window is not open")]
    OutsideWindow,
    /// An earlier checkpoint of the ordered route is still open.
    #[error("an earlier checkpoint is still open")]
    OutOfOrder,
    /// The device has no accepted position.
    #[error("the device has reported no position")]
    NoPosition,
    /// The device's last position is older than the rule allows.
    #[error("the device's last position is {age_s} s old")]
    StalePosition {
        /// Its age, seconds.
        age_s: i64,
    },
    /// The device's last position is too far from the checkpoint.
    #[error("the device's last position is {distance_m:.0} m from the checkpoint")]
    TooFar {
        /// The distance, metres.
        distance_m: f64,
    },
}

impl ManualRefusal {
    /// The reason's name in answers and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            ManualRefusal::UnknownCheckpoint => "unknown_checkpoint",
            ManualRefusal::AlreadyCheckedIn => "already_checked_in",
            ManualRefusal::Missed => "missed",
            ManualRefusal::OutsideWindow => "outside_window",
            ManualRefusal::OutOfOrder => "out_of_order",
            ManualRefusal::NoPosition => "no_position",
            ManualRefusal::StalePosition { .. } => "stale_position",
            ManualRefusal::TooFar { .. } => "too_far",
        }
    }
}

/// Checks `req.checkpoint` in by hand at `req.now`, or says why not.
pub fn manual_check_in(
    state: &mut TourState,
    route: &Route,
    times: &TourTimes,
    req: &ManualCheckIn<'_>,
    rule: &ManualRule,
) -> Result<TourEvent, ManualRefusal> {
    state.fit(route);
    let k = route.position(req.checkpoint).ok_or(ManualRefusal::UnknownCheckpoint)?;
    let (cp, cs) = (&route.checkpoints[k], &state.checkpoints[k]);
    if cs.check_in.is_some() {
        return Err(ManualRefusal::AlreadyCheckedIn);
    }
    if cs.missed {
        return Err(ManualRefusal::Missed);
    }
    let (start, end) = cp.window.bounds(times);
    if req.now < start || req.now >= end {
        return Err(ManualRefusal::OutsideWindow);
    }
    if eligible_from(state, route, times, k).is_some_and(|e| e > req.now) {
        return Err(ManualRefusal::OutOfOrder);
    }
    let pos = req.position.ok_or(ManualRefusal::NoPosition)?;
    let age = req.now - pos.at;
    if age > rule.max_fix_age {
        return Err(ManualRefusal::StalePosition { age_s: age.num_seconds() });
    }
    let distance_m = cp.fence.distance_m(pos.point);
    if distance_m.is_nan() || distance_m > rule.max_distance_m {
        return Err(ManualRefusal::TooFar { distance_m });
    }
    let at = req.now;
    state.checkpoints[k].check_in = Some(CheckIn { at, member: req.member.to_owned(), how: How::Manual });
    Ok(TourEvent::CheckedIn { checkpoint: cp.id.clone(), at, member: req.member.to_owned(), how: How::Manual })
}
