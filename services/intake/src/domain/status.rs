//! The public status of an event, derived from dispatch's task facts.

use civicgrid_proto::v1::{EventStatus, TaskStatus};

/// The public status an event shows while its task is in `task`; `None` for a task state that
/// says nothing to the public.
pub fn public_status(task: TaskStatus) -> Option<EventStatus> {
    Some(match task {
        TaskStatus::AwaitingTriage => EventStatus::Triage,
        TaskStatus::Assigned => EventStatus::Dispatched,
        TaskStatus::Signed | TaskStatus::InProgress | TaskStatus::Suspended => EventStatus::InProgress,
        TaskStatus::Resolved | TaskStatus::Verified => EventStatus::Resolved,
        TaskStatus::Closed => EventStatus::Closed,
        TaskStatus::Unspecified => return None,
    })
}

/// True for the public states in which the event has an outcome the reporter can rate:
/// RESOLVED and CLOSED.
pub fn is_outcome(status: EventStatus) -> bool {
    matches!(status, EventStatus::Resolved | EventStatus::Closed)
}

/// Whether a change of the public status from `from` to `to` starts a new outcome round (回访
/// 轮次): the event enters RESOLVED or CLOSED from a state without an outcome. RESOLVED → CLOSED
/// is the same outcome (verified and archived), so a rating given while RESOLVED also covers the
/// closed case; a rework (back to DISPATCHED / IN_PROGRESS …) followed by a new resolution is a
/// new outcome that may be rated again. Round 0 means "never resolved".
pub fn starts_outcome_round(from: EventStatus, to: EventStatus) -> bool {
    is_outcome(to) && !is_outcome(from)
}

/// Whether a task fact of `version` should be applied when the task's last applied version is
/// `last` (facts may arrive out of order; an older one must not undo a newer one).
pub fn is_newer(version: i64, last: Option<i64>) -> bool {
    last.is_none_or(|l| version > l)
}

/// A change of an event's public status made by a task fact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    /// The new public status.
    pub to: EventStatus,
    /// Whether it starts a new outcome round ([`starts_outcome_round`]).
    pub new_round: bool,
}

/// What a fact that a task is now in `task` does to its event's public status `current`; `None`
/// when the status stays. The lead task decides; without a known lead task (`other_lead`: another
/// task of the event is the lead), any task does.
pub fn change(current: EventStatus, task: TaskStatus, lead: bool, other_lead: bool) -> Option<Change> {
    if !lead && other_lead {
        return None;
    }
    let to = public_status(task)?;
    (to != current).then(|| Change { to, new_round: starts_outcome_round(current, to) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_task_state_maps() {
        assert_eq!(public_status(TaskStatus::AwaitingTriage), Some(EventStatus::Triage));
        assert_eq!(public_status(TaskStatus::Assigned), Some(EventStatus::Dispatched));
        assert_eq!(public_status(TaskStatus::Signed), Some(EventStatus::InProgress));
        assert_eq!(public_status(TaskStatus::Suspended), Some(EventStatus::InProgress));
        assert_eq!(public_status(TaskStatus::Verified), Some(EventStatus::Resolved));
        assert_eq!(public_status(TaskStatus::Closed), Some(EventStatus::Closed));
        assert_eq!(public_status(TaskStatus::Unspecified), None);
    }

    #[test]
    fn outcome_rounds_start_on_entering_resolved_or_closed() {
        use EventStatus::*;
        assert!(starts_outcome_round(InProgress, Resolved));
        assert!(starts_outcome_round(Dispatched, Resolved));
        assert!(starts_outcome_round(Triage, Closed), "closed without dispatch is an outcome too");
        assert!(!starts_outcome_round(Resolved, Closed), "closing a resolved event is the same outcome");
        assert!(!starts_outcome_round(Closed, Resolved));
        assert!(!starts_outcome_round(Resolved, InProgress), "a rework ends the outcome, it does not start one");
        assert!(!starts_outcome_round(Reported, Dispatched));
        assert!(is_outcome(Resolved) && is_outcome(Closed) && !is_outcome(InProgress));
    }

    #[test]
    fn stale_facts_are_ignored() {
        assert!(is_newer(1, None));
        assert!(is_newer(3, Some(2)));
        assert!(!is_newer(2, Some(2)));
        assert!(!is_newer(1, Some(2)));
    }

    #[test]
    fn the_lead_task_decides_the_public_status() {
        use EventStatus::*;
        let change_to = |to, new_round| Some(Change { to, new_round });
        assert_eq!(change(Dispatched, TaskStatus::InProgress, true, false), change_to(InProgress, false));
        assert_eq!(change(Dispatched, TaskStatus::InProgress, true, true), change_to(InProgress, false));
        // A task beside a known lead says nothing to the public; without a known lead it does.
        assert_eq!(change(Dispatched, TaskStatus::Resolved, false, true), None);
        assert_eq!(change(Dispatched, TaskStatus::Resolved, false, false), change_to(Resolved, true));
        // Same status, or a task state without a public one: no change.
        assert_eq!(change(InProgress, TaskStatus::Suspended, true, false), None);
        assert_eq!(change(Dispatched, TaskStatus::Unspecified, true, false), None);
        // An unknown stored status changes like any other.
        assert_eq!(change(Unspecified, TaskStatus::Closed, true, false), change_to(Closed, true));
        assert_eq!(change(Resolved, TaskStatus::Closed, true, false), change_to(Closed, false));
    }
}
