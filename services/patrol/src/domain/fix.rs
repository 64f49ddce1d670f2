//! A reported position (a fix) and the checks it passes before it counts.
//!
//! [`validate`] refuses, in this order: bad coordinates, poor accuracy, a time too far in the
//! future or too old, then against the member's last accepted fix a duplicate, a fix out of
//! order, and an implied speed above the limit. A refused fix changes nothing; the next one is
//! compared with the same last accepted fix, so one bad jump cannot poison the track.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::geo::{Point, distance_m};

/// A position as a member's device reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fix {
    /// The patrol member.
    pub member_id: String,
    /// The device that measured it.
    pub device_id: String,
    /// When the device measured it.
    pub at: DateTime<Utc>,
    /// Where.
    pub point: Point,
    /// The device's horizontal accuracy estimate (68% radius), metres, if it gave one.
    pub accuracy_m: Option<f32>,
}

impl Fix {
    /// The time and place, as kept for the next fix's checks.
    pub fn position(&self) -> LastFix {
        LastFix { at: self.at, point: self.point }
    }
}

/// A member's last accepted fix: what the next one is checked against, and where a segment to
/// the next one starts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LastFix {
    /// When it was measured.
    pub at: DateTime<Utc>,
    /// Where.
    pub point: Point,
}

/// The bounds a fix must keep (`[patrol]` settings).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// How far ahead of the server's clock a fix may be (device clock skew): 2 minutes.
    pub max_future: Duration,
    /// How old a fix may be when it arrives (devices buffer when offline): 24 hours.
    pub max_age: Duration,
    /// The fastest believable movement between two fixes, m/s: 70 (252 km/h).
    pub max_speed_mps: f64,
    /// The worst accuracy accepted, metres: 200.
    pub max_accuracy_m: f32,
    /// The time gap the speed check never divides by less than: 1 second. Two fixes a few
    /// milliseconds apart with a few metres of GPS jitter between them would otherwise imply an
    /// absurd speed; with the floor, jitter of up to 70 m between close fixes passes.
    pub speed_gap_floor: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_future: Duration::minutes(2),
            max_age: Duration::hours(24),
            max_speed_mps: 70.0,
            max_accuracy_m: 200.0,
            speed_gap_floor: Duration::seconds(1),
        }
    }
}

/// Why a fix was refused; [`Reject::as_str`] is the metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum Reject {
    /// Not finite, out of range, or 0,0 ("null island", a device without a position).
    #[error("coordinates are not a valid position")]
    Coordinates,
    /// Measured later than the server's clock allows.
    #[error("the fix is from the future")]
    Future,
    /// Older than the oldest accepted.
    #[error("the fix is too old")]
    Stale,
    /// The same time and place as the last accepted fix (a resend).
    #[error("the fix repeats the last accepted one")]
    Duplicate,
    /// Not later than the last accepted fix, and elsewhere.
    #[error("the fix is not later than the last accepted one")]
    OutOfOrder,
    /// Farther from the last accepted fix than the speed limit allows.
    #[error("the fix implies an impossible speed")]
    Speed,
    /// The device's accuracy estimate is worse than the limit (or not a number).
    #[error("the fix is not accurate enough")]
    Accuracy,
}

impl Reject {
    /// Every reason, for registering metric labels up front.
    pub const ALL: [Reject; 7] = [
        Reject::Coordinates,
        Reject::Future,
        Reject::Stale,
        Reject::Duplicate,
        Reject::OutOfOrder,
        Reject::Speed,
        Reject::Accuracy,
    ];

    /// The reason as a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Reject::Coordinates => "coordinates",
            Reject::Future => "future",
            Reject::Stale => "stale",
            Reject::Duplicate => "duplicate",
            Reject::OutOfOrder => "out_of_order",
            Reject::Speed => "speed",
            Reject::Accuracy => "accuracy",
        }
    }
}

/// Checks `fix` against the member's last accepted fix and the server's clock `now`.
pub fn validate(fix: &Fix, last: Option<&LastFix>, now: DateTime<Utc>, limits: &Limits) -> Result<(), Reject> {
    validate_parts(fix.at, fix.point, fix.accuracy_m, last, now, limits)
}

/// [`validate`] on the parts of a fix, for callers holding them borrowed from a request.
pub fn validate_parts(
    at: DateTime<Utc>,
    point: Point,
    accuracy_m: Option<f32>,
    last: Option<&LastFix>,
    now: DateTime<Utc>,
    limits: &Limits,
) -> Result<(), Reject> {
    if !point.is_valid() {
        return Err(Reject::Coordinates);
    }
    if let Some(acc) = accuracy_m
        && !(acc >= 0.0 && acc <= limits.max_accuracy_m)
    {
        return Err(Reject::Accuracy);
    }
    if at - now > limits.max_future {
        return Err(Reject::Future);
    }
    if now - at > limits.max_age {
        return Err(Reject::Stale);
    }
    let Some(last) = last else { return Ok(()) };
    if at <= last.at {
        return Err(if at == last.at && point == last.point { Reject::Duplicate } else { Reject::OutOfOrder });
    }
    let gap = (at - last.at).max(limits.speed_gap_floor);
    let secs = gap.num_milliseconds() as f64 / 1000.0;
    if distance_m(last.point, point) > limits.max_speed_mps * secs {
        return Err(Reject::Speed);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
