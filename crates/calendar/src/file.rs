//! The calendar file, `calendar.toml`.
//!
//! ```toml
//! version = "2026.11.1"
//! time_zone = "+08:00"
//! weekend = ["saturday", "sunday"]
//! working_periods = [
//!   { start = "08:30", end = "12:00" },
//!   { start = "14:30", end = "18:00" },
//! ]
//!
//! [[holidays]]            # one official holiday of one year (国务院办公厅 notice)
//! name = "春节"
//! year = 2026
//! from = 2026-02-15       # first and last day off, inclusive
//! to = 2026-02-23
//! make_up = [2026-02-14, 2026-02-28]   # weekend days worked instead (调休上班)
//! ```
//!
//! Dates may be TOML dates or `"YYYY-MM-DD"` strings, times `"HH:MM"` strings.

use chrono::{Datelike, FixedOffset, NaiveDate, NaiveTime, Weekday};
use serde::Deserialize;

use crate::{BusinessCalendar, CHINA_OFFSET, WorkingPeriod};

/// Why a calendar file does not load.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FileError {
    /// Not TOML of the expected shape.
    #[error("{0}")]
    Parse(String),
    /// Parsed, but wrong; every problem is listed.
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
}

#[derive(Debug, Deserialize)]
struct RawCalendar {
    version: String,
    time_zone: String,
    weekend: Vec<String>,
    working_periods: Vec<RawPeriod>,
    #[serde(default)]
    holidays: Vec<RawHoliday>,
}

#[derive(Debug, Deserialize)]
struct RawPeriod {
    start: String,
    end: String,
}

#[derive(Debug, Deserialize)]
struct RawHoliday {
    name: String,
    year: i32,
    from: String,
    to: String,
    #[serde(default)]
    make_up: Vec<String>,
}

/// One official holiday of one year.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holiday {
    /// Its name (春节 …).
    pub name: String,
    /// The year it belongs to.
    pub year: i32,
    /// The first day off.
    pub from: NaiveDate,
    /// The last day off.
    pub to: NaiveDate,
    /// The weekend days worked instead.
    pub make_up: Vec<NaiveDate>,
}

/// The calendar file, checked.
#[derive(Debug, Clone)]
pub struct CalendarFile {
    /// The file's version.
    pub version: String,
    /// The holidays as listed.
    pub holidays: Vec<Holiday>,
    /// The calendar built from it.
    pub calendar: BusinessCalendar,
}

impl CalendarFile {
    /// The years that have holidays listed, in order.
    pub fn years(&self) -> Vec<i32> {
        let mut years: Vec<i32> = self.holidays.iter().map(|h| h.year).collect();
        years.sort_unstable();
        years.dedup();
        years
    }
}

fn date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()
}

fn time(s: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(s.trim(), "%H:%M").ok()
}

/// A version string: 1 to 64 characters of `A-Z a-z 0-9 . _ - +`.
pub fn is_version(version: &str) -> bool {
    !version.trim().is_empty()
        && version.len() <= 64
        && version.chars().all(|c| c.is_ascii_alphanumeric() || "._-+".contains(c))
}

/// Parses and checks `calendar.toml`.
pub fn parse(text: &str) -> Result<CalendarFile, FileError> {
    let raw: RawCalendar = config::Config::builder()
        .add_source(config::File::from_str(text, config::FileFormat::Toml))
        .build()
        .and_then(|c| c.try_deserialize())
        .map_err(|e| FileError::Parse(e.to_string()))?;
    let mut problems = Vec::new();
    if !is_version(&raw.version) {
        problems.push(format!("version `{}` must be 1 to 64 characters of A-Z a-z 0-9 . _ - +", raw.version));
    }
    let offset = raw.time_zone.parse::<FixedOffset>().ok();
    if offset.is_none() {
        problems.push(format!("time_zone `{}` must be an offset like +08:00", raw.time_zone));
    }
    let mut weekend = Vec::new();
    for day in &raw.weekend {
        match day.parse::<Weekday>() {
            Ok(d) => weekend.push(d),
            Err(_) => problems.push(format!("weekend day `{day}` is not a day of the week (e.g. saturday)")),
        }
    }
    let mut periods = Vec::new();
    for p in &raw.working_periods {
        match (time(&p.start), time(&p.end)) {
            (Some(start), Some(end)) => periods.push(WorkingPeriod { start, end }),
            _ => problems.push(format!("working period `{}`–`{}`: times must be HH:MM", p.start, p.end)),
        }
    }

    let mut holidays: Vec<Holiday> = Vec::new();
    for h in raw.holidays {
        let label = format!("holiday {} {}", h.year, h.name);
        let (Some(from), Some(to)) = (date(&h.from), date(&h.to)) else {
            problems.push(format!("{label}: from and to must be dates (YYYY-MM-DD)"));
            continue;
        };
        if from > to {
            problems.push(format!("{label}: from {from} is after to {to}"));
        }
        if from.year() != h.year {
            problems.push(format!("{label}: starts in {}, not {}", from.year(), h.year));
        }
        if (to - from).num_days() > 31 {
            problems.push(format!("{label}: longer than a month"));
        }
        let mut make_up = Vec::new();
        for m in &h.make_up {
            match date(m) {
                Some(d) if weekend.contains(&d.weekday()) => make_up.push(d),
                Some(d) => problems.push(format!("{label}: make-up day {d} is a {}, not a weekend day", d.weekday())),
                None => problems.push(format!("{label}: make-up day `{m}` is not a date (YYYY-MM-DD)")),
            }
        }
        for other in &holidays {
            if from <= other.to && other.from <= to {
                problems.push(format!("{label}: overlaps {} {}", other.year, other.name));
            }
        }
        holidays.push(Holiday { name: h.name, year: h.year, from, to, make_up });
    }

    let mut calendar = None;
    if problems.is_empty() {
        let days_off = holidays.iter().flat_map(|h| h.from.iter_days().take_while(move |d| *d <= h.to));
        let make_up = holidays.iter().flat_map(|h| h.make_up.iter().copied());
        match BusinessCalendar::new(offset.unwrap_or(CHINA_OFFSET), periods, &weekend, days_off, make_up) {
            Ok(c) => calendar = Some(c),
            Err(e) => problems.push(e.to_string()),
        }
    }
    match calendar {
        Some(calendar) if problems.is_empty() => Ok(CalendarFile { version: raw.version, holidays, calendar }),
        _ => Err(FileError::Invalid(problems)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
        version = "t"
        time_zone = "+08:00"
        weekend = ["saturday", "sun"]
        working_periods = [{ start = "08:30", end = "12:00" }, { start = "14:30", end = "18:00" }]
    "#;

    #[test]
    fn toml_dates_and_strings_both_work() {
        let text = format!(
            "{BASE}
            [[holidays]]
            name = \"春节\"
            year = 2026
            from = 2026-02-15
            to = \"2026-02-23\"
            make_up = [2026-02-14, \"2026-02-28\"]
            "
        );
        let c = parse(&text).unwrap();
        let d = |s| date(s).unwrap();
        assert!(!c.calendar.is_working_day(d("2026-02-16")));
        assert!(c.calendar.is_working_day(d("2026-02-28")));
        assert!(!c.calendar.is_working_day(d("2026-03-01")));
        assert_eq!(c.years(), vec![2026]);
        assert_eq!(c.calendar.periods().len(), 2);
    }

    #[test]
    fn every_problem_is_named() {
        let text = r#"
            version = "t"
            time_zone = "Asia/Shanghai"
            weekend = ["saturday", "caturday"]
            working_periods = [{ start = "8h30", end = "12:00" }]
            [[holidays]]
            name = "国庆"
            year = 2026
            from = 2026-10-07
            to = 2026-10-01
            make_up = [2026-10-12]
            [[holidays]]
            name = "中秋"
            year = 2025
            from = 2026-10-03
            to = 2026-10-04
        "#;
        let Err(FileError::Invalid(problems)) = parse(text) else { panic!() };
        assert_eq!(
            problems,
            [
                "time_zone `Asia/Shanghai` must be an offset like +08:00",
                "weekend day `caturday` is not a day of the week (e.g. saturday)",
                "working period `8h30`–`12:00`: times must be HH:MM",
                "holiday 2026 国庆: from 2026-10-07 is after to 2026-10-01",
                "holiday 2026 国庆: make-up day 2026-10-12 is a Mon, not a weekend day",
                "holiday 2025 中秋: starts in 2026, not 2025",
            ]
        );
    }

    #[test]
    fn overlaps_and_calendar_errors() {
        let text = format!(
            "{BASE}
            [[holidays]]
            name = \"甲\"
            year = 2026
            from = 2026-10-01
            to = 2026-10-07
            [[holidays]]
            name = \"乙\"
            year = 2026
            from = 2026-10-07
            to = 2026-10-08
            "
        );
        let Err(FileError::Invalid(problems)) = parse(&text) else { panic!() };
        assert_eq!(problems, ["holiday 2026 乙: overlaps 2026 甲"]);
        let no_periods = BASE.replace(
            "[{ start = \"08:30\", end = \"12:00\" }, { start = \"14:30\", end = \"18:00\" }]",
            "[{ start = \"14:30\", end = \"12:00\" }]",
        );
        let Err(FileError::Invalid(problems)) = parse(&no_periods) else { panic!() };
        assert_eq!(problems, ["working period 14:30:00–12:00:00 must end after it starts"]);
    }

    #[test]
    fn the_shipped_calendar_parses() {
        let f = parse(crate::SHIPPED_TOML).expect("the shipped calendar");
        assert_eq!(f.years(), [2025, 2026]);
    }
}
