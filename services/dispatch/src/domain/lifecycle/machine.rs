//! The state machine: [`decide`] takes a task, an action and an actor, and returns what the
//! action does (state, fact, department, clocks, counters) or why it is refused.

use super::{
    Action, ActorView, ClockChange, Decision, DepartmentChange, Fact, LifecycleError, Resumable, Stage, TaskState,
    TaskView,
    permissions::{check_actor, check_input},
};

/// Decides whether `actor` may take `action` on `task`, and what it does.
pub fn decide(task: &TaskView, action: &Action, actor: &ActorView) -> Result<Decision, LifecycleError> {
    check_input(action)?;
    check_actor(action, task, actor)?;
    let illegal = || LifecycleError::IllegalTransition { action: action.name(), state: task.state };
    let keep = |state: TaskState, fact: Fact, clocks: Vec<ClockChange>| Decision {
        state,
        fact,
        department: DepartmentChange::Keep,
        clocks,
        rework_count: task.rework_count,
        extension_requested: task.extension_requested,
        returned_by: None,
    };
    use ClockChange::{Extend, Pause, Resume, Start, Stop};
    use TaskState as S;
    let decision = match (action, task.state) {
        (Action::Assign { department_id }, S::AwaitingTriage | S::Assigned) => Decision {
            department: DepartmentChange::Set(department_id.clone()),
            ..keep(S::Assigned, Fact::Assigned, vec![Start(Stage::SignFor)])
        },
        (Action::Dismiss { .. }, S::AwaitingTriage) => keep(S::Closed, Fact::Closed, vec![]),
        (Action::SignFor, S::Assigned) => {
            keep(S::Signed, Fact::Signed, vec![Stop(Stage::SignFor), Start(Stage::Handle)])
        }
        (Action::Return { .. }, S::Assigned | S::Signed) => Decision {
            department: DepartmentChange::Clear,
            extension_requested: None,
            returned_by: task.department_id.clone(),
            ..keep(
                S::AwaitingTriage,
                Fact::Returned,
                vec![Stop(if task.state == S::Assigned { Stage::SignFor } else { Stage::Handle })],
            )
        },
        (Action::RequestExtension { amount, .. }, S::Signed | S::InProgress) => {
            if task.extension_requested.is_some() {
                return Err(illegal());
            }
            Decision { extension_requested: Some(*amount), ..keep(task.state, Fact::ExtensionRequested, vec![]) }
        }
        (Action::ApproveExtension { amount }, S::Signed | S::InProgress | S::Suspended { .. }) => {
            let Some(requested) = task.extension_requested else { return Err(illegal()) };
            let granted = amount.unwrap_or(requested);
            Decision {
                extension_requested: None,
                ..keep(task.state, Fact::Extended, vec![Extend(Stage::Handle, granted)])
            }
        }
        (Action::RefuseExtension { .. }, S::Signed | S::InProgress | S::Suspended { .. }) => {
            if task.extension_requested.is_none() {
                return Err(illegal());
            }
            Decision { extension_requested: None, ..keep(task.state, Fact::ExtensionRefused, vec![]) }
        }
        (Action::Suspend { .. }, S::Signed) => {
            keep(S::Suspended { resume_to: Resumable::Signed }, Fact::Suspended, vec![Pause(Stage::Handle)])
        }
        (Action::Suspend { .. }, S::InProgress) => {
            keep(S::Suspended { resume_to: Resumable::InProgress }, Fact::Suspended, vec![Pause(Stage::Handle)])
        }
        (Action::Resume, S::Suspended { resume_to }) => {
            keep(resume_to.into(), Fact::Resumed, vec![Resume(Stage::Handle)])
        }
        (Action::Resolve { .. }, S::Signed | S::InProgress) => Decision {
            extension_requested: None,
            ..keep(S::Resolved, Fact::Resolved, vec![Stop(Stage::Handle), Start(Stage::Verify)])
        },
        (Action::Verify, S::Resolved) => keep(S::Verified, Fact::Verified, vec![Stop(Stage::Verify)]),
        (Action::RejectVerification { .. }, S::Resolved) => Decision {
            rework_count: task.rework_count.saturating_add(1),
            ..keep(S::InProgress, Fact::Reworked, vec![Stop(Stage::Verify), Start(Stage::Handle)])
        },
        (Action::Close, S::Verified) => keep(S::Closed, Fact::Closed, vec![]),
        // A dissatisfied callback may come after verification but before closing, too.
        (Action::Reopen { .. }, S::Closed | S::Verified) => {
            let rework_count = task.rework_count.saturating_add(1);
            if task.department_id.is_some() {
                Decision { rework_count, ..keep(S::Assigned, Fact::Reopened, vec![Start(Stage::SignFor)]) }
            } else {
                // A dismissed report has no department: it goes back to triage.
                Decision { rework_count, ..keep(S::AwaitingTriage, Fact::Reopened, vec![]) }
            }
        }
        _ => return Err(illegal()),
    };
    Ok(decision)
}
