//! civicgrid's public status of an event (`domain::status`) as Open311 shows it: `open` or
//! `closed`, with a human `status_notes`.
//!
//! | civicgrid | Open311 `status` | `status_notes` |
//! | --- | --- | --- |
//! | REPORTED | open | Received (已受理); waiting for the command center. |
//! | TRIAGE | open | Waiting for the command center to route it (待分流). |
//! | DISPATCHED | open | Dispatched to the responsible department (已交办). |
//! | IN_PROGRESS | open | The department is handling it (处置中). |
//! | RESOLVED | open | The department reports it fixed; on-site verification pending (待核查). |
//! | CLOSED | closed | Verified and closed (已办结). |
//! | CLOSED, never dispatched | closed | Closed without dispatch (不予立案): nothing to act on. |
//!
//! After a rework or a reopening (`task-reworked`, `task-reopened`), an open request's notes
//! add "Reopened for rework (返工)."

use civicgrid_proto::v1::EventStatus;
use serde::Serialize;

/// Open311's two states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Open311Status {
    /// Anything not closed.
    Open,
    /// Closed (finished or dismissed).
    Closed,
}

impl Open311Status {
    /// `open` or `closed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Open311Status::Open => "open",
            Open311Status::Closed => "closed",
        }
    }

    /// The state named `s` (`open`, `closed`), as a `status` filter takes it.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "open" => Some(Open311Status::Open),
            "closed" => Some(Open311Status::Closed),
            _ => None,
        }
    }

    /// The public statuses that show as this state.
    pub fn event_statuses(self) -> &'static [EventStatus] {
        match self {
            Open311Status::Open => &[
                EventStatus::Reported,
                EventStatus::Triage,
                EventStatus::Dispatched,
                EventStatus::InProgress,
                EventStatus::Resolved,
            ],
            Open311Status::Closed => &[EventStatus::Closed],
        }
    }
}

/// The Open311 state of public status `s`: closed only when the case is closed.
pub fn open311_status(s: EventStatus) -> Open311Status {
    match s {
        EventStatus::Closed => Open311Status::Closed,
        _ => Open311Status::Open,
    }
}

/// What an event's latest known change says, for the notes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LastChange<'a> {
    /// The fact of the latest status change, e.g. `task-reworked`.
    pub fact: Option<&'a str>,
    /// Whether any department was ever named on it.
    pub had_department: bool,
}

/// The `status_notes` of public status `s` after `last`.
pub fn status_notes(s: EventStatus, last: &LastChange<'_>) -> String {
    let base = match s {
        EventStatus::Closed if !last.had_department => {
            "Closed without dispatch (不予立案): the command center found nothing to act on."
        }
        EventStatus::Closed => "Verified and closed (已办结).",
        EventStatus::Resolved => "The department reports it fixed; on-site verification pending (待核查).",
        EventStatus::InProgress => "The department is handling it (处置中).",
        EventStatus::Dispatched => "Dispatched to the responsible department (已交办).",
        EventStatus::Triage => "Waiting for the command center to route it (待分流).",
        EventStatus::Reported | EventStatus::Unspecified => "Received (已受理); waiting for the command center.",
    };
    let reopened = matches!(last.fact, Some("task-reworked" | "task-reopened"));
    if reopened && open311_status(s) == Open311Status::Open {
        format!("{base} Reopened for rework (返工).")
    } else {
        base.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_closed_is_closed() {
        for s in Open311Status::Open.event_statuses() {
            assert_eq!(open311_status(*s), Open311Status::Open, "{s:?}");
        }
        assert_eq!(open311_status(EventStatus::Closed), Open311Status::Closed);
        assert_eq!(Open311Status::Closed.event_statuses(), &[EventStatus::Closed]);
        assert_eq!(Open311Status::parse("closed"), Some(Open311Status::Closed));
        assert_eq!(Open311Status::parse("Closed"), None);
        assert_eq!(Open311Status::Open.as_str(), "open");
    }

    #[test]
    fn notes_say_what_civicgrid_knows() {
        let dispatched = LastChange { fact: Some("task-closed"), had_department: true };
        assert_eq!(status_notes(EventStatus::Closed, &dispatched), "Verified and closed (已办结).");
        let dismissed = LastChange { fact: Some("task-closed"), had_department: false };
        assert!(status_notes(EventStatus::Closed, &dismissed).contains("不予立案"));
        assert!(status_notes(EventStatus::Resolved, &LastChange::default()).contains("verification pending"));
        assert!(status_notes(EventStatus::Reported, &LastChange::default()).starts_with("Received"));
        let reworked = LastChange { fact: Some("task-reworked"), had_department: true };
        assert!(status_notes(EventStatus::InProgress, &reworked).ends_with("Reopened for rework (返工)."));
        let reopened = LastChange { fact: Some("task-reopened"), had_department: true };
        assert!(status_notes(EventStatus::Dispatched, &reopened).contains("返工"));
    }
}
