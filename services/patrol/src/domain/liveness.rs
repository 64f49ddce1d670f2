//! Whether a member on shift is online: silent longer than a threshold during the shift makes
//! them offline (said once), a fresh fix afterwards brings them back.
//!
//! The service keeps, per member, the last fix time and whether they are marked offline; it
//! calls [`decide`] when a fix arrives and when [`next_check`] comes due (an indexed due-time
//! column, like every other deadline).

use chrono::{DateTime, Duration, Utc};

/// A shift's planned span, `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shift {
    /// When it starts.
    pub start: DateTime<Utc>,
    /// When it ends.
    pub end: DateTime<Utc>,
}

/// A change of a member's state to announce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Change {
    /// Silent for at least the threshold during the shift (member offline).
    Offline,
    /// Reporting again after being marked offline.
    Online,
}

impl Change {
    /// The name in facts and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Offline => "offline",
            Change::Online => "online",
        }
    }
}

/// Since when the member counts as silent: their last fix, or the shift's start if later
/// (a member who never reported is silent from the start of the shift).
fn silent_since(last_fix: Option<DateTime<Utc>>, shift: &Shift) -> DateTime<Utc> {
    last_fix.map_or(shift.start, |t| t.max(shift.start))
}

/// What to announce at `now`, if anything.
///
/// - Not marked offline, `now` within the shift, and silent for at least `threshold`:
///   [`Change::Offline`] (the caller marks the member, so it is said once).
/// - Marked offline and the last fix is less than `threshold` old: [`Change::Online`] (also
///   after the shift, so the mark is cleared).
pub fn decide(
    last_fix: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    threshold: Duration,
    marked_offline: bool,
    shift: &Shift,
) -> Option<Change> {
    if marked_offline {
        return last_fix.filter(|&t| now - t < threshold).map(|_| Change::Online);
    }
    let in_shift = now >= shift.start && now < shift.end;
    (in_shift && now - silent_since(last_fix, shift) >= threshold).then_some(Change::Offline)
}

/// When [`decide`] could next say [`Change::Offline`]: `threshold` after the member fell
/// silent, if that is before the shift ends. `None` when marked offline (only a fix can change
/// that) or when the shift ends first.
pub fn next_check(
    last_fix: Option<DateTime<Utc>>,
    threshold: Duration,
    marked_offline: bool,
    shift: &Shift,
) -> Option<DateTime<Utc>> {
    if marked_offline {
        return None;
    }
    let due = silent_since(last_fix, shift) + threshold;
    (due < shift.end).then_some(due)
}

#[cfg(test)]
mod tests;
