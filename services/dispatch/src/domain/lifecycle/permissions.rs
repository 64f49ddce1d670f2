//! Who may act on a task (the permission checks of [`decide`](super::decide)), and the input
//! checks that come before them: a department only on its own tasks, a center within its
//! region, verification by the task's grid worker or a center.

use civicgrid_kit::auth::Scope;
use civicgrid_proto::v1::Role;

use super::{Action, ActorView, LifecycleError, TaskView};

/// Who an action needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Who {
    /// The task's own department (or, for a grid-self-handled task, its grid worker).
    Department,
    /// A center covering the task, or an admin.
    Center,
    /// The task's grid worker or a center covering it.
    Verifier,
}

/// Who may take `action`.
pub(super) fn who(action: &Action) -> Who {
    match action {
        Action::SignFor | Action::Return { .. } | Action::RequestExtension { .. } | Action::Resolve { .. } => {
            Who::Department
        }
        Action::Verify | Action::RejectVerification { .. } => Who::Verifier,
        Action::Assign { .. }
        | Action::Dismiss { .. }
        | Action::ApproveExtension { .. }
        | Action::RefuseExtension { .. }
        | Action::Suspend { .. }
        | Action::Resume
        | Action::Close
        | Action::Reopen { .. } => Who::Center,
    }
}

/// Whether `scope` (a region code of any level, a 15-digit grid code, or empty for no limit)
/// covers the task, by the kit's one scope rule.
fn covers(scope: &str, task: &TaskView) -> bool {
    Scope::parse(scope).covers(&task.region, task.grid_code.as_deref().unwrap_or_default())
}

/// Whether the actor is a center covering the task, or an admin.
fn is_center(actor: &ActorView, task: &TaskView) -> bool {
    match actor.role {
        Role::Admin => true,
        Role::Center => covers(&actor.region_scope, task),
        _ => false,
    }
}

/// Whether the actor is a grid worker whose scope covers the task.
fn is_grid_worker_of(actor: &ActorView, task: &TaskView) -> bool {
    // A grid worker must be scoped: an unscoped grid worker covers nothing.
    actor.role == Role::GridWorker && !actor.region_scope.is_empty() && covers(&actor.region_scope, task)
}

/// Whether `actor` may take `action` on `task` at all, whatever its state.
pub(super) fn check_actor(action: &Action, task: &TaskView, actor: &ActorView) -> Result<(), LifecycleError> {
    let name = action.name();
    let denied = |why| Err(LifecycleError::NotAllowed { action: name, why });
    match who(action) {
        Who::Department => {
            let own = actor.role == Role::Department
                && !actor.department_id.is_empty()
                && task.department_id.as_deref() == Some(actor.department_id.as_str());
            let self_handling = task.grid_self && task.department_id.is_some() && is_grid_worker_of(actor, task);
            if own || self_handling { Ok(()) } else { denied("only the task's own department may do this") }
        }
        Who::Center => {
            if is_center(actor, task) {
                Ok(())
            } else {
                denied("only a center whose region covers the task, or an admin, may do this")
            }
        }
        Who::Verifier => {
            if is_center(actor, task) || (!task.grid_self && is_grid_worker_of(actor, task)) {
                Ok(())
            } else {
                denied("only the task's grid worker or a center covering it may verify")
            }
        }
    }
}

/// A required text field must not be blank.
fn required(field: &'static str, value: &str) -> Result<(), LifecycleError> {
    if value.trim().is_empty() {
        return Err(LifecycleError::Invalid { field, problem: "is required" });
    }
    Ok(())
}

/// Whether the action carries what it needs (checked before anything else).
pub(super) fn check_input(action: &Action) -> Result<(), LifecycleError> {
    match action {
        Action::Assign { department_id } => required("department_id", department_id),
        Action::Dismiss { reason }
        | Action::Return { reason }
        | Action::RefuseExtension { reason }
        | Action::Suspend { reason }
        | Action::RejectVerification { reason }
        | Action::Reopen { reason } => required("reason", reason),
        Action::RequestExtension { amount, reason } => {
            if *amount == 0 {
                return Err(LifecycleError::Invalid { field: "amount", problem: "must be at least 1" });
            }
            required("reason", reason)
        }
        Action::ApproveExtension { amount: Some(0) } => {
            Err(LifecycleError::Invalid { field: "amount", problem: "must be at least 1" })
        }
        Action::Resolve { result, .. } => required("result", result),
        Action::SignFor | Action::ApproveExtension { .. } | Action::Resume | Action::Verify | Action::Close => Ok(()),
    }
}
