//! When a delivery goes out: at once, after the recipient's quiet hours, with the next digest,
//! or after a retry delay.

use std::time::Duration as StdDuration;

use backon::{BackoffBuilder, ExponentialBuilder};
use chrono::{DateTime, Duration, FixedOffset, NaiveTime, Utc};

/// A recipient's quiet hours in local time: `[start, end)`, spanning midnight when
/// `start > end`. Equal times mean none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    /// Start (inclusive).
    pub start: NaiveTime,
    /// End (exclusive).
    pub end: NaiveTime,
}

impl QuietHours {
    /// Parses "HH:MM" pairs.
    pub fn parse(start: &str, end: &str) -> Option<QuietHours> {
        let p = |s: &str| NaiveTime::parse_from_str(s.trim(), "%H:%M").ok();
        Some(QuietHours { start: p(start)?, end: p(end)? })
    }

    /// When the quiet hours around `now` end, or `None` when `now` is not in them.
    pub fn ends_after(&self, now: DateTime<Utc>, offset: FixedOffset) -> Option<DateTime<Utc>> {
        if self.start == self.end {
            return None;
        }
        let local = now.with_timezone(&offset);
        let t = local.time();
        let quiet =
            if self.start < self.end { self.start <= t && t < self.end } else { t >= self.start || t < self.end };
        if !quiet {
            return None;
        }
        // The end is today's when it is still ahead of us, otherwise tomorrow's.
        let day = if t < self.end { local.date_naive() } else { local.date_naive() + Duration::days(1) };
        day.and_time(self.end).and_local_timezone(offset).single().map(|d| d.to_utc())
    }
}

/// How urgent a notification is (the rules' `priority`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Priority {
    /// Digest material.
    Low = 1,
    /// Sent as it happens, outside quiet hours.
    Normal = 2,
    /// Like normal.
    High = 3,
    /// Never held.
    Critical = 4,
}

impl Priority {
    /// Parses a rules-file name.
    pub fn parse(s: &str) -> Option<Priority> {
        match s {
            "low" => Some(Priority::Low),
            "normal" => Some(Priority::Normal),
            "high" => Some(Priority::High),
            "critical" => Some(Priority::Critical),
            _ => None,
        }
    }

    /// From the stored number.
    pub fn from_i16(v: i16) -> Priority {
        match v {
            1 => Priority::Low,
            3 => Priority::High,
            4 => Priority::Critical,
            _ => Priority::Normal,
        }
    }
}

/// What the recipient's preferences say about timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Timing {
    /// Quiet hours, if any.
    pub quiet: Option<QuietHours>,
    /// Minutes between digests of low-priority notifications; 0 for none.
    pub digest_minutes: i32,
}

/// When a push delivery (webhook, SMS) of a new notification goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Now.
    Now,
    /// Held until the quiet hours end.
    Defer(DateTime<Utc>),
    /// Collected into the digest sent at that instant.
    Digest(DateTime<Utc>),
}

/// Plans a push delivery of a `priority` notification created at `now`. Critical ones always go
/// at once; low ones go into the digest when the recipient has one; the rest wait out quiet
/// hours. A digest falling inside quiet hours is held to their end.
pub fn plan(priority: Priority, timing: &Timing, now: DateTime<Utc>, offset: FixedOffset) -> Plan {
    if priority == Priority::Critical {
        return Plan::Now;
    }
    let quiet_end = |at: DateTime<Utc>| timing.quiet.and_then(|q| q.ends_after(at, offset));
    if priority == Priority::Low && timing.digest_minutes > 0 {
        let at = next_digest(now, timing.digest_minutes, offset);
        return Plan::Digest(quiet_end(at).unwrap_or(at));
    }
    match quiet_end(now) {
        Some(end) => Plan::Defer(end),
        None => Plan::Now,
    }
}

/// The next digest instant after `now`: digests go out on multiples of the interval counted from
/// local midnight (a daily digest at 00:00 local time, an hourly one on the hour), so every
/// notification of one window shares one instant without any lookup.
pub fn next_digest(now: DateTime<Utc>, minutes: i32, offset: FixedOffset) -> DateTime<Utc> {
    let step = i64::from(minutes.max(1)) * 60;
    let local = now.timestamp() + i64::from(offset.local_minus_utc());
    let next = (local.div_euclid(step) + 1) * step - i64::from(offset.local_minus_utc());
    DateTime::from_timestamp(next, 0).unwrap_or(now)
}

/// The delay before attempt `attempt + 1` after `attempt` failed attempts (1-based): exponential
/// from `initial`, doubling, capped at `max`, with jitter of up to the delay itself (backon's
/// exponential backoff), so endpoints recovering from an outage are not hit in lock step.
pub fn retry_delay(attempt: i32, initial: StdDuration, max: StdDuration) -> Duration {
    let delay = ExponentialBuilder::default()
        .with_min_delay(initial)
        .with_max_delay(max)
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
        .build()
        .nth(attempt.saturating_sub(1).max(0) as usize)
        .unwrap_or(max);
    Duration::from_std(delay.min(max * 2)).unwrap_or(Duration::seconds(60))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offset() -> FixedOffset {
        FixedOffset::east_opt(8 * 3600).unwrap()
    }

    /// A Beijing wall-clock time as an instant.
    fn bj(s: &str) -> DateTime<Utc> {
        chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M")
            .unwrap()
            .and_local_timezone(offset())
            .unwrap()
            .to_utc()
    }

    #[test]
    fn quiet_hours_across_midnight() {
        let q = QuietHours::parse("22:00", "07:00").unwrap();
        assert_eq!(q.ends_after(bj("2026-11-22 21:59"), offset()), None);
        assert_eq!(q.ends_after(bj("2026-11-22 22:00"), offset()), Some(bj("2026-11-23 07:00")));
        assert_eq!(q.ends_after(bj("2026-11-23 03:10"), offset()), Some(bj("2026-11-23 07:00")));
        assert_eq!(q.ends_after(bj("2026-11-23 07:00"), offset()), None);
    }

    #[test]
    fn quiet_hours_within_a_day_and_none() {
        let q = QuietHours::parse("12:00", "14:00").unwrap();
        assert_eq!(q.ends_after(bj("2026-11-22 13:00"), offset()), Some(bj("2026-11-22 14:00")));
        assert_eq!(q.ends_after(bj("2026-11-22 14:00"), offset()), None);
        assert_eq!(QuietHours::parse("08:00", "08:00").unwrap().ends_after(bj("2026-11-22 08:00"), offset()), None);
        assert_eq!(QuietHours::parse("25:00", "08:00"), None);
    }

    #[test]
    fn plans() {
        let quiet = Timing { quiet: QuietHours::parse("22:00", "07:00"), digest_minutes: 0 };
        let night = bj("2026-11-22 23:00");
        assert_eq!(plan(Priority::Critical, &quiet, night, offset()), Plan::Now);
        assert_eq!(plan(Priority::Normal, &quiet, night, offset()), Plan::Defer(bj("2026-11-23 07:00")));
        assert_eq!(plan(Priority::Normal, &quiet, bj("2026-11-22 10:00"), offset()), Plan::Now);
        let digest = Timing { quiet: QuietHours::parse("22:00", "07:00"), digest_minutes: 60 };
        assert_eq!(
            plan(Priority::Low, &digest, bj("2026-11-22 10:20"), offset()),
            Plan::Digest(bj("2026-11-22 11:00"))
        );
        assert_eq!(
            plan(Priority::Low, &digest, bj("2026-11-22 21:30"), offset()),
            Plan::Digest(bj("2026-11-23 07:00"))
        );
        assert_eq!(
            plan(Priority::High, &digest, bj("2026-11-22 10:20"), offset()),
            Plan::Now,
            "only low goes to digests"
        );
        assert_eq!(plan(Priority::Low, &Timing::default(), night, offset()), Plan::Now);
        let daily = Timing { quiet: None, digest_minutes: 1440 };
        assert_eq!(
            plan(Priority::Low, &daily, bj("2026-11-22 10:20"), offset()),
            Plan::Digest(bj("2026-11-23 00:00")),
            "a daily digest goes out at local midnight"
        );
    }

    #[test]
    fn retry_delays_grow_with_jitter_and_cap() {
        let (initial, max) = (StdDuration::from_secs(1), StdDuration::from_secs(60));
        for _ in 0..20 {
            let first = retry_delay(1, initial, max);
            assert!(first >= Duration::seconds(1) && first <= Duration::seconds(2), "{first}");
            let third = retry_delay(3, initial, max);
            assert!(third >= Duration::seconds(4) && third <= Duration::seconds(8), "{third}");
            let late = retry_delay(30, initial, max);
            assert!(late >= Duration::seconds(60) && late <= Duration::seconds(120), "{late}");
        }
    }
}
