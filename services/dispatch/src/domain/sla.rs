//! Stage clocks (时限): how much of a stage's time limit is used, and when it runs out.
//!
//! A task has a clock per stage (sign-for 签收, handle 处置, verify 核查). A clock is nothing but
//! recorded facts — when it started, its limit, the suspensions (挂账) that paused it, the
//! extensions (延期) approved, when it stopped — and everything else is computed from them on a
//! [`BusinessCalendar`], so a past period recomputes identically from the same facts and the
//! same calendar version.
//!
//! Business time is counted from [`BusinessCalendar::counting_start`] (the day after the start
//! for working-day limits), except while paused. The total is the limit plus every approved
//! extension, all in the limit's time type. The deadline is the earliest instant at which the
//! total has been used; it is unknown (`None`) while a pause is open and the limit was not yet
//! used up when the pause began.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::calendar::{BusinessCalendar, TimeType};

/// A time limit: an amount of units of a time type (hours for urgent and working hours, days
/// for working and calendar days).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Limit {
    /// How many units.
    pub amount: u32,
    /// How they are counted.
    pub time_type: TimeType,
}

impl Limit {
    /// A limit of `amount` units of `time_type`.
    pub fn new(amount: u32, time_type: TimeType) -> Self {
        Limit { amount, time_type }
    }

    /// The limit as business time.
    pub fn duration(&self) -> Duration {
        self.time_type.amount(self.amount)
    }
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let unit = match self.time_type {
            TimeType::Urgent | TimeType::WorkingHours => "小时",
            TimeType::WorkingDays | TimeType::CalendarDays => "天",
        };
        write!(f, "{}{}（{}）", self.amount, unit, self.time_type.label())
    }
}

/// A pause of the clock (挂账); `to` is `None` while it lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pause {
    /// When the pause began.
    pub from: DateTime<Utc>,
    /// When the clock resumed.
    pub to: Option<DateTime<Utc>>,
}

/// Why a fact cannot be applied to a clock: the facts must be applied in the order they
/// happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SlaError {
    /// The fact is dated before the clock started or before the previous fact.
    #[error("the fact is dated before the clock's previous fact")]
    OutOfOrder,
    /// A pause while already paused.
    #[error("the clock is already paused")]
    AlreadyPaused,
    /// A resume while not paused.
    #[error("the clock is not paused")]
    NotPaused,
    /// Any change after the clock stopped.
    #[error("the clock has stopped")]
    Stopped,
    /// An extension of zero units.
    #[error("an extension must add at least one unit")]
    EmptyExtension,
}

/// The clock of one stage of one task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageClock {
    start: DateTime<Utc>,
    limit: Limit,
    pauses: Vec<Pause>,
    extensions: Vec<u32>,
    stopped_at: Option<DateTime<Utc>>,
}

impl StageClock {
    /// A clock started at `start` with `limit`.
    pub fn new(start: DateTime<Utc>, limit: Limit) -> Self {
        StageClock { start, limit, pauses: Vec::new(), extensions: Vec::new(), stopped_at: None }
    }

    /// When the stage started.
    pub fn start(&self) -> DateTime<Utc> {
        self.start
    }

    /// The limit as set when the stage started.
    pub fn limit(&self) -> Limit {
        self.limit
    }

    /// The pauses, in order.
    pub fn pauses(&self) -> &[Pause] {
        &self.pauses
    }

    /// The approved extensions, in units of the limit's time type, in order.
    pub fn extensions(&self) -> &[u32] {
        &self.extensions
    }

    /// When the stage ended (signed for, resolved, verified …), if it has.
    pub fn stopped_at(&self) -> Option<DateTime<Utc>> {
        self.stopped_at
    }

    /// Whether a pause is open.
    pub fn is_paused(&self) -> bool {
        self.pauses.last().is_some_and(|p| p.to.is_none())
    }

    /// The instant of the latest recorded fact; later facts must not be dated before it.
    fn latest_fact(&self) -> DateTime<Utc> {
        let mut latest = self.start;
        if let Some(p) = self.pauses.last() {
            latest = latest.max(p.to.unwrap_or(p.from));
        }
        latest
    }

    fn check_open(&self, at: DateTime<Utc>) -> Result<(), SlaError> {
        if self.stopped_at.is_some() {
            return Err(SlaError::Stopped);
        }
        if at < self.latest_fact() {
            return Err(SlaError::OutOfOrder);
        }
        Ok(())
    }

    /// Pauses the clock at `at` (a suspension was approved).
    pub fn pause(&mut self, at: DateTime<Utc>) -> Result<(), SlaError> {
        self.check_open(at)?;
        if self.is_paused() {
            return Err(SlaError::AlreadyPaused);
        }
        self.pauses.push(Pause { from: at, to: None });
        Ok(())
    }

    /// Resumes a paused clock at `at`.
    pub fn resume(&mut self, at: DateTime<Utc>) -> Result<(), SlaError> {
        self.check_open(at)?;
        match self.pauses.last_mut() {
            Some(p) if p.to.is_none() => {
                p.to = Some(at);
                Ok(())
            }
            _ => Err(SlaError::NotPaused),
        }
    }

    /// Adds an approved extension of `amount` units of the limit's time type. The extension
    /// lengthens the total whenever it was approved, so its own date does not matter.
    pub fn extend(&mut self, amount: u32) -> Result<(), SlaError> {
        if self.stopped_at.is_some() {
            return Err(SlaError::Stopped);
        }
        if amount == 0 {
            return Err(SlaError::EmptyExtension);
        }
        self.extensions.push(amount);
        Ok(())
    }

    /// Stops the clock at `at` (the stage is done); an open pause ends there too.
    pub fn stop(&mut self, at: DateTime<Utc>) -> Result<(), SlaError> {
        self.check_open(at)?;
        if let Some(p) = self.pauses.last_mut().filter(|p| p.to.is_none()) {
            p.to = Some(at);
        }
        self.stopped_at = Some(at);
        Ok(())
    }

    /// The limit plus every approved extension, as business time.
    pub fn total(&self) -> Duration {
        let units: u64 = u64::from(self.limit.amount) + self.extensions.iter().map(|e| u64::from(*e)).sum::<u64>();
        // Units beyond u32 are no real limit; saturate instead of overflowing.
        self.limit.time_type.amount(u32::try_from(units).unwrap_or(u32::MAX))
    }

    /// Business time used by `now` (or by the stop, if earlier), pauses excluded.
    pub fn elapsed(&self, cal: &BusinessCalendar, now: DateTime<Utc>) -> Duration {
        let tt = self.limit.time_type;
        let origin = cal.counting_start(tt, self.start);
        let end = self.stopped_at.map_or(now, |s| s.min(now));
        let mut used = cal.counted_time(tt, origin, end);
        for p in &self.pauses {
            let from = p.from.max(origin);
            let to = p.to.unwrap_or(end).min(end);
            used -= cal.counted_time(tt, from, to);
        }
        used.max(Duration::zero())
    }

    /// The share of the total used by `now`: 0 at the start, 1 at the deadline, above 1 once
    /// overdue only for continuous time types (working time stops between working periods).
    pub fn used_fraction(&self, cal: &BusinessCalendar, now: DateTime<Utc>) -> f64 {
        let total = self.total().num_milliseconds();
        if total <= 0 {
            return 1.0;
        }
        self.elapsed(cal, now).num_milliseconds() as f64 / total as f64
    }

    /// Whether the whole total has been used by `now`: from the deadline on, the task is
    /// overdue. (Work *finished* exactly at the deadline is still on time, see
    /// [`StageClock::finished_on_time`].)
    pub fn is_overdue(&self, cal: &BusinessCalendar, now: DateTime<Utc>) -> bool {
        self.elapsed(cal, now) >= self.total()
    }

    /// The business time that is `fraction` of the total, rounded to the millisecond (the
    /// threshold warnings compare [`StageClock::elapsed`] with).
    pub fn amount_at_fraction(&self, fraction: f64) -> Duration {
        let fraction = if fraction.is_finite() { fraction.max(0.0) } else { 0.0 };
        let ms = (self.total().num_milliseconds() as f64 * fraction).round();
        // Fractions far above 1 saturate rather than overflow.
        Duration::milliseconds(if ms >= i64::MAX as f64 / 2.0 { i64::MAX / 2 } else { ms as i64 })
    }

    /// When the deadline falls: the earliest instant at which the total has been used. `None`
    /// while a pause is open that began before the total was used up.
    pub fn deadline(&self, cal: &BusinessCalendar) -> Option<DateTime<Utc>> {
        self.instant_after(cal, self.total())
    }

    /// When `fraction` of the total is (or was) used, e.g. 0.8 for the yellow warning; `None`
    /// while a pause is open that began before that point.
    pub fn instant_at_fraction(&self, cal: &BusinessCalendar, fraction: f64) -> Option<DateTime<Utc>> {
        self.instant_after(cal, self.amount_at_fraction(fraction))
    }

    /// The earliest instant at which `amount` of business time is used, walking the stretches
    /// between pauses.
    fn instant_after(&self, cal: &BusinessCalendar, amount: Duration) -> Option<DateTime<Utc>> {
        let tt = self.limit.time_type;
        let mut cursor = cal.counting_start(tt, self.start);
        let mut remaining = amount;
        for p in &self.pauses {
            if p.from > cursor {
                let available = cal.counted_time(tt, cursor, p.from);
                if remaining <= available {
                    return Some(cal.advance_counted(tt, cursor, remaining));
                }
                remaining -= available;
            }
            cursor = cursor.max(p.to?);
        }
        Some(cal.advance_counted(tt, cursor, remaining))
    }

    /// Whether the stage finished at or before its deadline; `None` while it runs.
    pub fn finished_on_time(&self, cal: &BusinessCalendar) -> Option<bool> {
        let stopped = self.stopped_at?;
        Some(self.deadline(cal).is_none_or(|deadline| stopped <= deadline))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_str(&format!("{s} +0800"), "%Y-%m-%d %H:%M %z").unwrap().to_utc()
    }

    fn cal() -> BusinessCalendar {
        BusinessCalendar::china_default()
    }

    #[test]
    fn a_plain_clock() {
        let c = cal();
        // Monday 2026-11-16 09:00, 14 working hours = two 7-hour days, so Wednesday 09:00.
        let clock = StageClock::new(t("2026-11-16 09:00"), Limit::new(14, TimeType::WorkingHours));
        assert_eq!(clock.deadline(&c), Some(t("2026-11-18 09:00")));
        assert_eq!(clock.used_fraction(&c, t("2026-11-16 09:00")), 0.0);
        assert_eq!(clock.used_fraction(&c, t("2026-11-17 09:00")), 0.5);
        assert!(!clock.is_overdue(&c, t("2026-11-18 08:59")));
        assert!(clock.is_overdue(&c, t("2026-11-18 09:00")));
        // 80% of 14 h = 11 h 12 min: 6 h 30 min on Monday, 4 h 42 min on Tuesday.
        assert_eq!(clock.instant_at_fraction(&c, 0.8), Some(t("2026-11-17 15:42")));
        assert_eq!(clock.total(), Duration::hours(14));
    }

    #[test]
    fn suspension_moves_the_deadline() {
        let c = cal();
        let mut clock = StageClock::new(t("2026-11-16 09:00"), Limit::new(5, TimeType::WorkingDays));
        // 5 working days from Monday: Tue–Fri and next Monday → end of Monday 23rd.
        assert_eq!(clock.deadline(&c), Some(t("2026-11-24 00:00")));
        // Suspended from Wednesday noon to the following Wednesday noon (five working days).
        clock.pause(t("2026-11-18 12:00")).unwrap();
        assert!(clock.is_paused());
        assert_eq!(clock.deadline(&c), None);
        assert_eq!(clock.instant_at_fraction(&c, 0.1), Some(t("2026-11-17 12:00")));
        let frozen = clock.elapsed(&c, t("2026-11-20 12:00"));
        assert_eq!(frozen, Duration::hours(36));
        assert_eq!(clock.elapsed(&c, t("2026-11-24 12:00")), frozen);
        clock.resume(t("2026-11-25 12:00")).unwrap();
        assert!(!clock.is_paused());
        // 1.5 days used; 3.5 left from Wednesday 25th noon: Wed pm, Thu, Fri, Mon → end of Monday.
        assert_eq!(clock.deadline(&c), Some(t("2026-12-01 00:00")));
        assert_eq!(clock.elapsed(&c, t("2026-11-26 00:00")), Duration::hours(48));
        // A second suspension (all of Thursday) stacks: one working day later.
        clock.pause(t("2026-11-26 00:00")).unwrap();
        clock.resume(t("2026-11-27 00:00")).unwrap();
        assert_eq!(clock.deadline(&c), Some(t("2026-12-02 00:00")));
    }

    #[test]
    fn a_pause_after_the_deadline_keeps_it() {
        let c = cal();
        let mut clock = StageClock::new(t("2026-11-16 09:00"), Limit::new(2, TimeType::Urgent));
        clock.pause(t("2026-11-16 12:00")).unwrap();
        assert_eq!(clock.deadline(&c), Some(t("2026-11-16 11:00")));
        assert!(clock.is_overdue(&c, t("2026-11-20 00:00")));
    }

    #[test]
    fn extensions_add_to_the_limit() {
        let c = cal();
        let mut clock = StageClock::new(t("2026-11-16 10:00"), Limit::new(3, TimeType::CalendarDays));
        assert_eq!(clock.deadline(&c), Some(t("2026-11-19 10:00")));
        clock.extend(2).unwrap();
        clock.extend(1).unwrap();
        assert_eq!(clock.total(), Duration::days(6));
        assert_eq!(clock.deadline(&c), Some(t("2026-11-22 10:00")));
        assert_eq!(clock.extend(0), Err(SlaError::EmptyExtension));
        assert_eq!(clock.used_fraction(&c, t("2026-11-19 10:00")), 0.5);
    }

    #[test]
    fn stopping_freezes_the_clock() {
        let c = cal();
        let mut clock = StageClock::new(t("2026-11-16 09:00"), Limit::new(2, TimeType::WorkingHours));
        assert_eq!(clock.finished_on_time(&c), None);
        clock.pause(t("2026-11-16 09:30")).unwrap();
        clock.stop(t("2026-11-16 10:00")).unwrap();
        assert!(!clock.is_paused());
        assert_eq!(clock.elapsed(&c, t("2026-11-30 09:00")), Duration::minutes(30));
        assert_eq!(clock.finished_on_time(&c), Some(true));
        assert_eq!(clock.extend(1), Err(SlaError::Stopped));
        assert_eq!(clock.pause(t("2026-11-17 09:00")), Err(SlaError::Stopped));

        let mut late = StageClock::new(t("2026-11-16 09:00"), Limit::new(2, TimeType::WorkingHours));
        late.stop(t("2026-11-16 11:00")).unwrap();
        assert_eq!(late.finished_on_time(&c), Some(true), "exactly at the deadline is on time");
        let mut later = StageClock::new(t("2026-11-16 09:00"), Limit::new(2, TimeType::WorkingHours));
        later.stop(t("2026-11-16 11:01")).unwrap();
        assert_eq!(later.finished_on_time(&c), Some(false));
    }

    #[test]
    fn facts_must_come_in_order() {
        let mut clock = StageClock::new(t("2026-11-16 09:00"), Limit::new(2, TimeType::WorkingHours));
        assert_eq!(clock.pause(t("2026-11-16 08:00")), Err(SlaError::OutOfOrder));
        assert_eq!(clock.resume(t("2026-11-16 10:00")), Err(SlaError::NotPaused));
        clock.pause(t("2026-11-16 10:00")).unwrap();
        assert_eq!(clock.pause(t("2026-11-16 10:30")), Err(SlaError::AlreadyPaused));
        assert_eq!(clock.resume(t("2026-11-16 09:30")), Err(SlaError::OutOfOrder));
        clock.resume(t("2026-11-16 11:00")).unwrap();
        assert_eq!(clock.stop(t("2026-11-16 10:59")), Err(SlaError::OutOfOrder));
    }

    #[test]
    fn working_day_clocks_ignore_pauses_on_the_starting_day() {
        let c = cal();
        let mut clock = StageClock::new(t("2026-11-16 09:00"), Limit::new(1, TimeType::WorkingDays));
        // Paused and resumed on Monday itself: nothing was counting yet.
        clock.pause(t("2026-11-16 10:00")).unwrap();
        clock.resume(t("2026-11-16 15:00")).unwrap();
        assert_eq!(clock.deadline(&c), Some(t("2026-11-18 00:00")));
        assert_eq!(clock.elapsed(&c, t("2026-11-17 06:00")), Duration::hours(6));
    }

    #[test]
    fn display_of_a_limit() {
        assert_eq!(Limit::new(5, TimeType::WorkingDays).to_string(), "5天（工作日）");
        assert_eq!(Limit::new(2, TimeType::Urgent).to_string(), "2小时（紧急）");
    }
}
