//! The business calendar: `calendar.toml`.
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

use super::ReferenceError;

pub use civicgrid_calendar::file::{CalendarFile as CalendarData, Holiday};

/// Parses and checks `calendar.toml` (the format and its checks are `civicgrid_calendar::file`).
pub fn from_toml(text: &str) -> Result<CalendarData, ReferenceError> {
    const FILE: &str = "calendar.toml";
    civicgrid_calendar::file::parse(text).map_err(|e| match e {
        civicgrid_calendar::file::FileError::Parse(message) => ReferenceError::Parse { file: FILE, message },
        civicgrid_calendar::file::FileError::Invalid(problems) => ReferenceError::Invalid { file: FILE, problems },
    })
}
