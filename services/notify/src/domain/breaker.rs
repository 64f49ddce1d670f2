//! An endpoint's circuit breaker. Its state lives in the endpoint's row, so every replica of
//! notify sees the same circuit and it follows the service clock (tests move it by hand); an
//! in-process breaker (such as the `failsafe` crate's) would give each replica its own view and
//! read the wall clock.
//!
//! Closed: calls go out. After `threshold` failed calls in a row the circuit opens for
//! `open_for`; calls are held (rescheduled, not counted as attempts) until then. Once the time
//! has passed it is half-open: one trial call goes out; success closes it, failure opens it again.

use chrono::{DateTime, Duration, Utc};

/// The breaker's settings.
#[derive(Debug, Clone, Copy)]
pub struct BreakerPolicy {
    /// Failed calls in a row that open the circuit.
    pub threshold: i32,
    /// How long it stays open.
    pub open_for: Duration,
}

/// A circuit's stored state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Circuit {
    /// Failed calls in a row.
    pub failures: i32,
    /// Set while open (or half-open, once passed).
    pub open_until: Option<DateTime<Utc>>,
}

/// What the breaker allows now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permit {
    /// Closed: call.
    Call,
    /// Half-open: one trial call.
    Trial,
    /// Open: hold the call until then.
    Hold(DateTime<Utc>),
}

impl Circuit {
    /// What a call may do at `now`.
    pub fn permit(&self, now: DateTime<Utc>) -> Permit {
        match self.open_until {
            None => Permit::Call,
            Some(until) if now >= until => Permit::Trial,
            Some(until) => Permit::Hold(until),
        }
    }

    /// Records a call's outcome at `now`.
    pub fn record(&mut self, success: bool, now: DateTime<Utc>, policy: &BreakerPolicy) {
        if success {
            *self = Circuit::default();
            return;
        }
        self.failures = self.failures.saturating_add(1);
        // A failed trial re-opens at once; a closed circuit opens at the threshold.
        if self.open_until.is_some() || self.failures >= policy.threshold.max(1) {
            self.open_until = Some(now + policy.open_for);
        }
    }

    /// "closed", "open" or "half-open" at `now`.
    pub fn state_name(&self, now: DateTime<Utc>) -> &'static str {
        match self.permit(now) {
            Permit::Call => "closed",
            Permit::Trial => "half-open",
            Permit::Hold(_) => "open",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    const POLICY: BreakerPolicy = BreakerPolicy { threshold: 3, open_for: Duration::seconds(60) };

    #[test]
    fn opens_after_threshold_then_trial_closes_it() {
        let mut c = Circuit::default();
        c.record(false, t(0), &POLICY);
        c.record(false, t(1), &POLICY);
        assert_eq!(c.permit(t(2)), Permit::Call, "two failures: still closed");
        c.record(false, t(2), &POLICY);
        assert_eq!(c.permit(t(3)), Permit::Hold(t(62)));
        assert_eq!(c.state_name(t(3)), "open");
        assert_eq!(c.permit(t(62)), Permit::Trial);
        assert_eq!(c.state_name(t(62)), "half-open");
        c.record(true, t(62), &POLICY);
        assert_eq!((c, c.permit(t(63))), (Circuit::default(), Permit::Call));
    }

    #[test]
    fn a_failed_trial_reopens_and_success_resets_the_count() {
        let mut c = Circuit { failures: 3, open_until: Some(t(0)) };
        c.record(false, t(10), &POLICY);
        assert_eq!(c.permit(t(11)), Permit::Hold(t(70)));
        let mut d = Circuit::default();
        d.record(false, t(0), &POLICY);
        d.record(true, t(1), &POLICY);
        d.record(false, t(2), &POLICY);
        d.record(false, t(3), &POLICY);
        assert_eq!(d.permit(t(4)), Permit::Call, "the count restarted after the success");
    }
}
