//! Four-colour warnings (蓝黄橙红预警) and escalation (督办升级).
//!
//! | colour | when |
//! | --- | --- |
//! | blue 蓝 | less than 80% of the limit used |
//! | yellow 黄 | at least 80% used, not yet overdue |
//! | orange 橙 | overdue: the whole limit used (from the deadline on) |
//! | red 红 | overdue and escalated |
//!
//! Colours depend only on the stage clock, the calendar and the escalation flag, so the instant
//! of the next change is known in advance: [`next_change`] is what the database indexes, and a
//! ticker only ever looks at the rows whose instant has come.
//!
//! Escalation goes to the center of the next region level up: a task coordinated by a village
//! (grid self-handled) goes to the township's center, a township's to the county's, a county's
//! to the city's. It happens when a task turns overdue (orange → red), when it has been reworked
//! [`ESCALATE_AFTER_REWORKS`] times, or when [`ESCALATE_AFTER_RETURNS`] different departments
//! have returned it; a task escalates once.

use chrono::{DateTime, Utc};
use civicgrid_kit::region::{self, Level};
use serde::{Deserialize, Serialize};

use super::calendar::BusinessCalendar;
use super::sla::StageClock;

/// The fraction of the limit at which the warning turns yellow.
pub const YELLOW_FRACTION: f64 = 0.8;

/// Reworks (返工) after which a task escalates.
pub const ESCALATE_AFTER_REWORKS: u32 = 3;

/// Distinct departments returning a task (回退) after which it escalates.
pub const ESCALATE_AFTER_RETURNS: usize = 3;

/// A warning colour, ordered from calm to alarming.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Colour {
    /// On time: less than 80% of the limit used.
    Blue,
    /// At least 80% used.
    Yellow,
    /// Overdue.
    Orange,
    /// Overdue and escalated (督办).
    Red,
}

impl Colour {
    /// The lowercase name used in facts and metrics (`blue`, `yellow` …).
    pub fn as_str(self) -> &'static str {
        match self {
            Colour::Blue => "blue",
            Colour::Yellow => "yellow",
            Colour::Orange => "orange",
            Colour::Red => "red",
        }
    }

    /// The Chinese label.
    pub fn label(self) -> &'static str {
        match self {
            Colour::Blue => "蓝色",
            Colour::Yellow => "黄色",
            Colour::Orange => "橙色",
            Colour::Red => "红色",
        }
    }
}

/// The colour of a stage clock at `now`.
pub fn colour(clock: &StageClock, cal: &BusinessCalendar, now: DateTime<Utc>, escalated: bool) -> Colour {
    // Both thresholds compare business time, so an instant from `next_change` is exactly the
    // first instant of the new colour, and a paused clock keeps its colour.
    let elapsed = clock.elapsed(cal, now);
    if elapsed >= clock.total() {
        if escalated { Colour::Red } else { Colour::Orange }
    } else if elapsed >= clock.amount_at_fraction(YELLOW_FRACTION) {
        Colour::Yellow
    } else {
        Colour::Blue
    }
}

/// The next instant after `now` at which the colour changes with no new fact: the 80% instant
/// while blue, the deadline while yellow. `None` while the clock is paused or stopped, and once
/// orange or red (only a new fact — escalation, a stop — changes those).
pub fn next_change(clock: &StageClock, cal: &BusinessCalendar, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if clock.is_paused() || clock.stopped_at().is_some() {
        return None;
    }
    match colour(clock, cal, now, false) {
        Colour::Blue => clock.instant_at_fraction(cal, YELLOW_FRACTION),
        Colour::Yellow => clock.deadline(cal),
        Colour::Orange | Colour::Red => None,
    }
}

/// Why a task escalates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EscalationReason {
    /// It is overdue (its warning turns red).
    Overdue,
    /// It has been reworked [`ESCALATE_AFTER_REWORKS`] times.
    Reworked,
    /// [`ESCALATE_AFTER_RETURNS`] departments have returned it.
    Returned,
}

impl EscalationReason {
    /// The lowercase name used in facts (`overdue`, `reworked`, `returned`).
    pub fn as_str(self) -> &'static str {
        match self {
            EscalationReason::Overdue => "overdue",
            EscalationReason::Reworked => "reworked",
            EscalationReason::Returned => "returned",
        }
    }
}

/// Whether a task should escalate now, and why. `colour` is the current colour of its running
/// stage clock (if any); a task that has already escalated does not escalate again. When
/// several reasons hold, being overdue is named first.
pub fn should_escalate(
    colour: Option<Colour>,
    already_escalated: bool,
    rework_count: u32,
    returned_by: &[String],
) -> Option<EscalationReason> {
    if already_escalated {
        return None;
    }
    if colour == Some(Colour::Orange) {
        return Some(EscalationReason::Overdue);
    }
    if rework_count >= ESCALATE_AFTER_REWORKS {
        return Some(EscalationReason::Reworked);
    }
    let mut departments: Vec<&str> = returned_by.iter().map(String::as_str).collect();
    departments.sort_unstable();
    departments.dedup();
    if departments.len() >= ESCALATE_AFTER_RETURNS {
        return Some(EscalationReason::Returned);
    }
    None
}

/// The region code of the center a task coordinated by `center_region` escalates to: the
/// region one level up. `None` for a city (nothing above) or a code that is not a region code.
pub fn escalation_target(center_region: &str) -> Option<String> {
    match region::level(center_region).ok()? {
        Level::Village => Some(center_region[..9].to_string()),
        Level::Township => Some(center_region[..6].to_string()),
        Level::County => Some(format!("{}00", &center_region[..4])),
        Level::City => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{
        calendar::TimeType,
        sla::{Limit, StageClock},
    };

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_str(&format!("{s} +0800"), "%Y-%m-%d %H:%M %z").unwrap().to_utc()
    }

    #[test]
    fn colours_follow_the_clock() {
        let cal = BusinessCalendar::china_default();
        // Monday 09:00, 10 working hours: 80% = 8 h → Tuesday 10:00; deadline Tuesday 12:00.
        let clock = StageClock::new(t("2026-11-16 09:00"), Limit::new(10, TimeType::WorkingHours));
        assert_eq!(colour(&clock, &cal, t("2026-11-16 09:00"), false), Colour::Blue);
        assert_eq!(next_change(&clock, &cal, t("2026-11-16 09:00")), Some(t("2026-11-17 10:00")));
        assert_eq!(colour(&clock, &cal, t("2026-11-17 09:59"), false), Colour::Blue);
        assert_eq!(colour(&clock, &cal, t("2026-11-17 10:00"), false), Colour::Yellow);
        assert_eq!(next_change(&clock, &cal, t("2026-11-17 10:00")), Some(t("2026-11-17 12:00")));
        assert_eq!(colour(&clock, &cal, t("2026-11-17 11:59"), false), Colour::Yellow);
        assert_eq!(colour(&clock, &cal, t("2026-11-17 12:00"), false), Colour::Orange);
        assert_eq!(colour(&clock, &cal, t("2026-11-17 20:00"), true), Colour::Red);
        assert_eq!(next_change(&clock, &cal, t("2026-11-17 12:00")), None);
        // Escalated but on time: the colour follows the clock alone.
        assert_eq!(colour(&clock, &cal, t("2026-11-16 10:00"), true), Colour::Blue);
    }

    #[test]
    fn next_change_is_the_first_instant_of_the_new_colour() {
        let cal = BusinessCalendar::china_default();
        for tt in TimeType::ALL {
            let clock = StageClock::new(t("2026-11-20 16:47"), Limit::new(3, tt));
            let mut now = t("2026-11-20 16:47");
            let mut seen = vec![colour(&clock, &cal, now, false)];
            while let Some(at) = next_change(&clock, &cal, now) {
                assert!(at > now, "{tt:?}: {at} must be after {now}");
                assert_eq!(colour(&clock, &cal, at - chrono::Duration::milliseconds(1), false), *seen.last().unwrap());
                now = at;
                seen.push(colour(&clock, &cal, now, false));
            }
            assert_eq!(seen, vec![Colour::Blue, Colour::Yellow, Colour::Orange], "{tt:?}");
        }
    }

    #[test]
    fn a_paused_clock_has_no_next_change() {
        let cal = BusinessCalendar::china_default();
        let mut clock = StageClock::new(t("2026-11-16 09:00"), Limit::new(2, TimeType::Urgent));
        clock.pause(t("2026-11-16 10:00")).unwrap();
        assert_eq!(next_change(&clock, &cal, t("2026-11-16 10:30")), None);
        assert_eq!(colour(&clock, &cal, t("2026-11-18 10:30"), false), Colour::Blue);
        clock.resume(t("2026-11-18 10:00")).unwrap();
        // 1 h used, 0.6 h to 80%.
        assert_eq!(next_change(&clock, &cal, t("2026-11-18 10:00")), Some(t("2026-11-18 10:36")));
        clock.stop(t("2026-11-18 10:10")).unwrap();
        assert_eq!(next_change(&clock, &cal, t("2026-11-18 10:10")), None);
    }

    #[test]
    fn escalation_rules() {
        let none: Vec<String> = vec![];
        assert_eq!(should_escalate(Some(Colour::Yellow), false, 0, &none), None);
        assert_eq!(should_escalate(Some(Colour::Orange), false, 0, &none), Some(EscalationReason::Overdue));
        assert_eq!(should_escalate(Some(Colour::Orange), true, 0, &none), None);
        assert_eq!(should_escalate(None, false, 2, &none), None);
        assert_eq!(should_escalate(None, false, 3, &none), Some(EscalationReason::Reworked));
        let twice: Vec<String> = ["a", "b", "a"].map(String::from).to_vec();
        assert_eq!(should_escalate(Some(Colour::Blue), false, 0, &twice), None);
        let thrice: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        assert_eq!(should_escalate(Some(Colour::Blue), false, 0, &thrice), Some(EscalationReason::Returned));
    }

    #[test]
    fn escalation_goes_one_level_up() {
        assert_eq!(escalation_target("411602001001").as_deref(), Some("411602001"));
        assert_eq!(escalation_target("411602001").as_deref(), Some("411602"));
        assert_eq!(escalation_target("411602").as_deref(), Some("411600"));
        assert_eq!(escalation_target("411600"), None);
        assert_eq!(escalation_target("x"), None);
    }
}
