//! The business calendar (工作日历) and the four ways a time limit is counted (时限类型),
//! shared by the services that count deadlines (dispatch's task limits, mediation's periods).
//! [`file`] reads `calendar.toml`; [`periods`] counts periods in days as procedure law does;
//! [`shipped`] is the official 2025–2026 calendar compiled in.
//!
//! A limit is counted in *business time*: a measure of how much of the limit an interval uses.
//! Each [`TimeType`] counts a different part of the timeline:
//!
//! | time type | 中文 | unit | what counts |
//! | --- | --- | --- | --- |
//! | [`TimeType::Urgent`] | 紧急 | hour | every instant (continuous hours) |
//! | [`TimeType::WorkingHours`] | 工作时 | hour | instants inside a working period of a working day |
//! | [`TimeType::WorkingDays`] | 工作日 | day | every instant of a working day (local midnight to midnight), from the day after the limit starts |
//! | [`TimeType::CalendarDays`] | 自然日 | day | every instant (continuous 24-hour days) |
//!
//! **The working-day rule.** A limit of N working days counts whole working days and never the
//! day it starts on (期间开始之日不计入): it ends at local midnight at the end of the Nth working
//! day after the local day of the start. A task assigned on Monday at 10:00 (or at 23:59) with
//! a 1-working-day limit is due at the end of Tuesday; if Tuesday is a public holiday, at the
//! end of Wednesday. Within those days time runs evenly, so 80% of a 5-working-day limit is
//! reached at 19:12 on the 4th working day.
//!
//! A working day is a date that is a make-up working day (调休上班), or else is neither a
//! public holiday nor a weekend day, in the calendar's fixed time zone.
//!
//! [`BusinessCalendar::business_time`] and [`BusinessCalendar::advance`] are inverse: `advance`
//! returns the *earliest* instant at which the amount has been used, so
//! `business_time(from, advance(from, x)) == x`, and `advance(from, business_time(from, to))`
//! is `to` itself when `to` lies in counted time, or the end of the last counted stretch before it.

pub mod file;
pub mod periods;

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, NaiveTime, Utc, Weekday};
use serde::{Deserialize, Serialize};

/// How a time limit is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeType {
    /// 紧急: continuous hours, nights and holidays included.
    Urgent,
    /// 工作时: hours inside the working periods of working days.
    WorkingHours,
    /// 工作日: whole working days after the starting day (see the module documentation).
    WorkingDays,
    /// 自然日: continuous 24-hour days.
    CalendarDays,
}

impl TimeType {
    /// Every time type, in declaration order.
    pub const ALL: [TimeType; 4] =
        [TimeType::Urgent, TimeType::WorkingHours, TimeType::WorkingDays, TimeType::CalendarDays];

    /// The Chinese label shown to users.
    pub fn label(self) -> &'static str {
        match self {
            TimeType::Urgent => "紧急",
            TimeType::WorkingHours => "工作时",
            TimeType::WorkingDays => "工作日",
            TimeType::CalendarDays => "自然日",
        }
    }

    /// The business time of one unit of a limit amount: an hour for [`TimeType::Urgent`] and
    /// [`TimeType::WorkingHours`], a day for [`TimeType::WorkingDays`] and
    /// [`TimeType::CalendarDays`].
    pub fn unit(self) -> Duration {
        match self {
            TimeType::Urgent | TimeType::WorkingHours => Duration::hours(1),
            TimeType::WorkingDays | TimeType::CalendarDays => Duration::days(1),
        }
    }

    /// The business time of `amount` units (never overflows: `u32::MAX` days fits).
    pub fn amount(self, amount: u32) -> Duration {
        match self {
            TimeType::Urgent | TimeType::WorkingHours => Duration::hours(i64::from(amount)),
            TimeType::WorkingDays | TimeType::CalendarDays => Duration::days(i64::from(amount)),
        }
    }
}

/// One working period of a working day, in local time; `start < end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkingPeriod {
    /// When the period starts (e.g. 08:30).
    pub start: NaiveTime,
    /// When it ends (e.g. 12:00).
    pub end: NaiveTime,
}

impl WorkingPeriod {
    /// A period from `start` to `end` given as hour and minute; `None` for an impossible time.
    pub fn hm(start: (u32, u32), end: (u32, u32)) -> Option<Self> {
        Some(WorkingPeriod {
            start: NaiveTime::from_hms_opt(start.0, start.1, 0)?,
            end: NaiveTime::from_hms_opt(end.0, end.1, 0)?,
        })
    }
}

/// Why a calendar cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    /// No working period at all: working hours would never pass.
    #[error("at least one working period is required")]
    NoWorkingPeriods,
    /// A period that does not end after it starts.
    #[error("working period {start}–{end} must end after it starts")]
    EmptyPeriod {
        /// Its start.
        start: NaiveTime,
        /// Its end.
        end: NaiveTime,
    },
    /// Periods that overlap or are out of order.
    #[error("working periods must be in order and must not overlap ({0} starts before the previous one ends)")]
    OverlappingPeriods(NaiveTime),
    /// Every day of the week is a weekend day: working time would never pass.
    #[error("at least one day of the week must be a working day")]
    NoWorkingWeekday,
    /// A date listed both as a public holiday and as a make-up working day.
    #[error("{0} is listed both as a public holiday and as a make-up working day")]
    HolidayAndWorkday(NaiveDate),
}

/// The business calendar: a fixed time zone, the working periods of a working day, the weekend
/// days, public holidays and make-up working days (调休上班).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusinessCalendar {
    offset: FixedOffset,
    periods: Vec<WorkingPeriod>,
    weekend: [bool; 7],
    holidays: BTreeSet<NaiveDate>,
    workdays: BTreeSet<NaiveDate>,
}

/// How far [`BusinessCalendar::advance`] looks ahead, and the longest span
/// [`BusinessCalendar::business_time`] counts day by day: a hundred years. Limits are days or
/// hours, so anything beyond this is a data error, not a deadline.
const MAX_SCAN_DAYS: i64 = 366 * 100;

impl BusinessCalendar {
    /// Builds a calendar after checking that working time can pass at all and that no date is
    /// both a holiday and a make-up working day.
    pub fn new(
        offset: FixedOffset,
        periods: Vec<WorkingPeriod>,
        weekend: &[Weekday],
        holidays: impl IntoIterator<Item = NaiveDate>,
        workdays: impl IntoIterator<Item = NaiveDate>,
    ) -> Result<Self, CalendarError> {
        if periods.is_empty() {
            return Err(CalendarError::NoWorkingPeriods);
        }
        let mut previous_end: Option<NaiveTime> = None;
        for p in &periods {
            if p.start >= p.end {
                return Err(CalendarError::EmptyPeriod { start: p.start, end: p.end });
            }
            if previous_end.is_some_and(|end| p.start < end) {
                return Err(CalendarError::OverlappingPeriods(p.start));
            }
            previous_end = Some(p.end);
        }
        let mut weekend_days = [false; 7];
        for day in weekend {
            weekend_days[day.num_days_from_monday() as usize] = true;
        }
        if weekend_days.iter().all(|w| *w) {
            return Err(CalendarError::NoWorkingWeekday);
        }
        let holidays: BTreeSet<NaiveDate> = holidays.into_iter().collect();
        let workdays: BTreeSet<NaiveDate> = workdays.into_iter().collect();
        if let Some(both) = holidays.intersection(&workdays).next() {
            return Err(CalendarError::HolidayAndWorkday(*both));
        }
        Ok(BusinessCalendar { offset, periods, weekend: weekend_days, holidays, workdays })
    }

    /// China's standard office calendar without holidays: UTC+08:00, 08:30–12:00 and
    /// 14:30–18:00, Saturday and Sunday off.
    pub fn china_default() -> Self {
        let periods = vec![
            WorkingPeriod { start: hm(8, 30), end: hm(12, 0) },
            WorkingPeriod { start: hm(14, 30), end: hm(18, 0) },
        ];
        // The standard calendar is valid by construction: two ordered periods, five workdays.
        BusinessCalendar {
            offset: china_offset(),
            periods,
            weekend: [false, false, false, false, false, true, true],
            holidays: BTreeSet::new(),
            workdays: BTreeSet::new(),
        }
    }

    /// The calendar's time zone.
    pub fn offset(&self) -> FixedOffset {
        self.offset
    }

    /// The working periods of a working day.
    pub fn periods(&self) -> &[WorkingPeriod] {
        &self.periods
    }

    /// The public holidays.
    pub fn holidays(&self) -> &BTreeSet<NaiveDate> {
        &self.holidays
    }

    /// The make-up working days.
    pub fn make_up_days(&self) -> &BTreeSet<NaiveDate> {
        &self.workdays
    }

    /// Whether `date` is a working day: a make-up working day, or neither a public holiday nor
    /// a weekend day.
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        if self.workdays.contains(&date) {
            return true;
        }
        !self.holidays.contains(&date) && !self.weekend[date.weekday().num_days_from_monday() as usize]
    }

    /// The local date of an instant.
    pub fn local_date(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.offset).date_naive()
    }

    /// The instant of a local date and time.
    pub fn instant(&self, date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
        let shift = Duration::seconds(i64::from(self.offset.local_minus_utc()));
        // Saturate at the ends of chrono's range (some 262,000 years away) instead of panicking.
        match date.and_time(time).checked_sub_signed(shift) {
            Some(utc) => utc.and_utc(),
            None if shift > Duration::zero() => DateTime::<Utc>::MIN_UTC,
            None => DateTime::<Utc>::MAX_UTC,
        }
    }

    /// The instant business time starts to count for a limit that starts at `from`: the next
    /// local midnight for [`TimeType::WorkingDays`] (the starting day never counts), `from`
    /// itself otherwise.
    pub fn counting_start(&self, time_type: TimeType, from: DateTime<Utc>) -> DateTime<Utc> {
        match time_type {
            TimeType::WorkingDays => match self.local_date(from).succ_opt() {
                Some(next) => self.instant(next, NaiveTime::MIN),
                None => DateTime::<Utc>::MAX_UTC,
            },
            _ => from,
        }
    }

    /// How much of a limit of `time_type` that started at `from` has been used by `to`
    /// (zero when `to` is not after `from`).
    pub fn business_time(&self, time_type: TimeType, from: DateTime<Utc>, to: DateTime<Utc>) -> Duration {
        self.counted_time(time_type, self.counting_start(time_type, from), to)
    }

    /// The earliest instant at which a limit of `time_type` that started at `from` has used
    /// `amount` of business time; `from` itself for a zero or negative amount.
    pub fn advance(&self, time_type: TimeType, from: DateTime<Utc>, amount: Duration) -> DateTime<Utc> {
        if amount <= Duration::zero() {
            return from;
        }
        self.advance_counted(time_type, self.counting_start(time_type, from), amount)
    }

    /// The business time of `time_type` inside `[a, b)`, without the starting-day rule of
    /// [`TimeType::WorkingDays`]: the measure stage clocks use for the stretches between pauses.
    pub fn counted_time(&self, time_type: TimeType, a: DateTime<Utc>, b: DateTime<Utc>) -> Duration {
        if b <= a {
            return Duration::zero();
        }
        match time_type {
            TimeType::Urgent | TimeType::CalendarDays => b - a,
            TimeType::WorkingHours | TimeType::WorkingDays => {
                let b = match a.checked_add_signed(Duration::days(MAX_SCAN_DAYS)) {
                    Some(horizon) if horizon < b => horizon,
                    _ => b,
                };
                let last = self.local_date(b);
                let mut date = self.local_date(a);
                let mut total = Duration::zero();
                loop {
                    for (s, e) in self.counted_stretches(time_type, date) {
                        let (s, e) = (s.max(a), e.min(b));
                        if e > s {
                            total += e - s;
                        }
                    }
                    match date.succ_opt() {
                        Some(next) if date < last => date = next,
                        _ => break,
                    }
                }
                total
            }
        }
    }

    /// The earliest instant `t ≥ a` with `counted_time(a, t) == amount`; `a` for a zero or
    /// negative amount. Saturates at chrono's last instant when the amount cannot be used
    /// within a hundred years.
    pub fn advance_counted(&self, time_type: TimeType, a: DateTime<Utc>, amount: Duration) -> DateTime<Utc> {
        if amount <= Duration::zero() {
            return a;
        }
        match time_type {
            TimeType::Urgent | TimeType::CalendarDays => {
                a.checked_add_signed(amount).unwrap_or(DateTime::<Utc>::MAX_UTC)
            }
            TimeType::WorkingHours | TimeType::WorkingDays => {
                let mut remaining = amount;
                let mut date = self.local_date(a);
                for _ in 0..MAX_SCAN_DAYS {
                    for (s, e) in self.counted_stretches(time_type, date) {
                        let s = s.max(a);
                        if e > s {
                            let available = e - s;
                            if remaining <= available {
                                return s + remaining;
                            }
                            remaining -= available;
                        }
                    }
                    match date.succ_opt() {
                        Some(next) => date = next,
                        None => break,
                    }
                }
                DateTime::<Utc>::MAX_UTC
            }
        }
    }

    /// The stretches of `date` that count for `time_type` (working periods, or the whole
    /// day), as UTC instants; empty on a day that does not count.
    fn counted_stretches(&self, time_type: TimeType, date: NaiveDate) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        if !self.is_working_day(date) {
            return Vec::new();
        }
        match time_type {
            TimeType::WorkingHours => {
                self.periods.iter().map(|p| (self.instant(date, p.start), self.instant(date, p.end))).collect()
            }
            // The continuous types never ask, but a whole day is the right answer for them too.
            TimeType::WorkingDays | TimeType::Urgent | TimeType::CalendarDays => {
                let end = match date.succ_opt() {
                    Some(next) => self.instant(next, NaiveTime::MIN),
                    None => DateTime::<Utc>::MAX_UTC,
                };
                vec![(self.instant(date, NaiveTime::MIN), end)]
            }
        }
    }
}

impl Default for BusinessCalendar {
    fn default() -> Self {
        BusinessCalendar::china_default()
    }
}

/// UTC+08:00, China Standard Time.
pub const CHINA_OFFSET: FixedOffset = match FixedOffset::east_opt(8 * 3600) {
    Some(offset) => offset,
    None => panic!("+08:00 is a valid offset"),
};

/// UTC+08:00, China Standard Time.
pub fn china_offset() -> FixedOffset {
    CHINA_OFFSET
}

/// A time of day from constant hours and minutes; checked when the constant is evaluated.
const fn hm(h: u32, m: u32) -> NaiveTime {
    match NaiveTime::from_hms_opt(h, m, 0) {
        Some(time) => time,
        None => panic!("not a time of day"),
    }
}

/// The shipped `calendar.toml`: China's working week and the official public holidays and
/// make-up days of 2025 and 2026.
pub const SHIPPED_TOML: &str = include_str!("../data/calendar.toml");

/// The calendar of [`SHIPPED_TOML`].
pub fn shipped() -> BusinessCalendar {
    // The shipped file is checked by the tests; should it ever not parse, the standard week
    // without holidays is the safe fallback.
    file::parse(SHIPPED_TOML).map(|f| f.calendar).unwrap_or_default()
}

#[cfg(test)]
mod tests;
