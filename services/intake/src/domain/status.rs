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

/// Whether a task fact of `version` should be applied when the task's last applied version is
/// `last` (facts may arrive out of order; an older one must not undo a newer one).
pub fn is_newer(version: i64, last: Option<i64>) -> bool {
    last.is_none_or(|l| version > l)
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
    fn stale_facts_are_ignored() {
        assert!(is_newer(1, None));
        assert!(is_newer(3, Some(2)));
        assert!(!is_newer(2, Some(2)));
        assert!(!is_newer(1, Some(2)));
    }
}
