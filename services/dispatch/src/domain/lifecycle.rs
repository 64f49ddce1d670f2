//! The task lifecycle (工单流转): states, actions, who may take them, and what each one does.
//!
//! | action | who | from | to | fact | clocks |
//! | --- | --- | --- | --- | --- | --- |
//! | Assign (分流/改派) | center | AwaitingTriage, Assigned | Assigned | `task-assigned` | start sign-for |
//! | Dismiss (不予立案) | center | AwaitingTriage | Closed | `task-closed` | — |
//! | SignFor (签收) | department | Assigned | Signed | `task-signed` | stop sign-for, start handle |
//! | Return (回退) | department | Assigned, Signed | AwaitingTriage | `task-returned` | stop sign-for or handle |
//! | RequestExtension (申请延期) | department | Signed, InProgress | same | `task-extension-requested` | — |
//! | ApproveExtension (批准延期) | center | Signed, InProgress, Suspended | same | `task-extended` | extend handle |
//! | RefuseExtension (驳回延期) | center | Signed, InProgress, Suspended | same | `task-extension-refused` | — |
//! | Suspend (挂账) | center | Signed, InProgress | Suspended | `task-suspended` | pause handle |
//! | Resume (恢复) | center | Suspended | the state before | `task-resumed` | resume handle |
//! | Resolve (办结反馈) | department | Signed, InProgress | Resolved | `task-resolved` | stop handle, start verify |
//! | Verify (复核通过) | grid worker, center | Resolved | Verified | `task-verified` | stop verify |
//! | RejectVerification (复核不通过) | grid worker, center | Resolved | InProgress | `task-reworked` | stop verify, start handle |
//! | Close (办结归档) | center | Verified | Closed | `task-closed` | — |
//! | Reopen (回访不满意重办) | center/system | Closed | Assigned (AwaitingTriage if dismissed) | `task-reopened` | start sign-for |
//!
//! - **Signed and InProgress.** Signing for a task (签收) starts its handling, so `Signed` is
//!   "signed for, being handled". `InProgress` means "being handled again": a task whose fix
//!   failed verification goes back to `InProgress` (the department already has it, so no new
//!   sign-for). Both accept the same actions except Return: a department that has already
//!   reported a fix cannot disown the task afterwards.
//! - **Suspended** (挂账) remembers the state it resumes to. The center suspends (the approval;
//!   the department's request reaches it outside this machine) and resumes.
//! - **Extension requests** (延期) are a flag on the task, not a state: the department asks
//!   while handling, the center approves (adding time to the handle clock) or refuses; resolving
//!   or returning the task drops a pending request.
//! - **Rework** (返工): a failed verification (→ `InProgress`, fresh handle clock) and a
//!   dissatisfied rating after closure (→ `Assigned`, fresh sign-for clock: the case was closed
//!   and the department must take it up again) each add one to the rework count.
//! - **Dismiss** (不予立案) closes a report that needs no dispatch (invalid, duplicate, out of
//!   scope) straight from triage; it publishes `task-closed`, and a dismissed task reopened
//!   goes back to triage.
//!
//! Who may act: department actions only the task's own department (and, for a
//! grid-self-handled task, a grid worker whose scope covers it); center actions a center whose
//! region scope covers the task, or an admin; verification a grid worker covering the task or
//! a center (not the grid worker of a task he handled himself). [`decide`] checks the input
//! first, then the actor, then the state, so a department never learns the state of another's
//! task.

use civicgrid_kit::region;
use civicgrid_proto::v1::{Actor, RegionPath, Role, TaskStatus};
use serde::{Deserialize, Serialize};

/// The state a suspended task resumes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resumable {
    /// Signed for and being handled.
    Signed,
    /// Being handled again after a failed verification.
    InProgress,
}

impl From<Resumable> for TaskState {
    fn from(r: Resumable) -> Self {
        match r {
            Resumable::Signed => TaskState::Signed,
            Resumable::InProgress => TaskState::InProgress,
        }
    }
}

/// The state of a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// 待分流: waiting for a center operator.
    AwaitingTriage,
    /// 已交办: assigned, not yet signed for.
    Assigned,
    /// 已签收: signed for and being handled.
    Signed,
    /// 处置中: being handled again after a failed verification.
    InProgress,
    /// 待核查: reported fixed, waiting for verification.
    Resolved,
    /// 已核查: the fix was confirmed on site.
    Verified,
    /// 已办结: closed and archived.
    Closed,
    /// 挂账: suspended; the handle clock is paused.
    Suspended {
        /// Where [`Action::Resume`] goes back to.
        resume_to: Resumable,
    },
}

impl TaskState {
    /// The contract's status for this state.
    pub fn status(self) -> TaskStatus {
        match self {
            TaskState::AwaitingTriage => TaskStatus::AwaitingTriage,
            TaskState::Assigned => TaskStatus::Assigned,
            TaskState::Signed => TaskStatus::Signed,
            TaskState::InProgress => TaskStatus::InProgress,
            TaskState::Resolved => TaskStatus::Resolved,
            TaskState::Verified => TaskStatus::Verified,
            TaskState::Closed => TaskStatus::Closed,
            TaskState::Suspended { .. } => TaskStatus::Suspended,
        }
    }

    /// A short lowercase name for storage and messages (`awaiting_triage`, `suspended` …).
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::AwaitingTriage => "awaiting_triage",
            TaskState::Assigned => "assigned",
            TaskState::Signed => "signed",
            TaskState::InProgress => "in_progress",
            TaskState::Resolved => "resolved",
            TaskState::Verified => "verified",
            TaskState::Closed => "closed",
            TaskState::Suspended { .. } => "suspended",
        }
    }

    /// Whether the department is handling it (the handle clock runs).
    pub fn is_handling(self) -> bool {
        matches!(self, TaskState::Signed | TaskState::InProgress)
    }
}

impl std::fmt::Display for TaskState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an actor asks to do to a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Triage by hand, or route automatically (center): give the task to a department. Also
    /// re-assigns a task not yet signed for (改派).
    Assign {
        /// The department.
        department_id: String,
    },
    /// Close a report that needs no dispatch, from triage (center).
    Dismiss {
        /// Why.
        reason: String,
    },
    /// Sign for the task (department).
    SignFor,
    /// Return the task as not the department's (回退, department).
    Return {
        /// Why.
        reason: String,
    },
    /// Ask for more time (department).
    RequestExtension {
        /// Units of the handle limit's time type.
        amount: u32,
        /// Why.
        reason: String,
    },
    /// Approve the pending extension request (center).
    ApproveExtension {
        /// Units granted; the requested amount when `None`.
        amount: Option<u32>,
    },
    /// Refuse the pending extension request (center).
    RefuseExtension {
        /// Why.
        reason: String,
    },
    /// Suspend the task (挂账, center, with the approval).
    Suspend {
        /// Why.
        reason: String,
    },
    /// Resume a suspended task (center).
    Resume,
    /// Report the task fixed (department).
    Resolve {
        /// What was done.
        result: String,
        /// Links to photos or documents.
        evidence_urls: Vec<String>,
    },
    /// Confirm the fix on site (复核, grid worker or center).
    Verify,
    /// The fix is not real: send the task back for rework (grid worker or center).
    RejectVerification {
        /// What is still wrong.
        reason: String,
    },
    /// Close and archive a verified task (center).
    Close,
    /// Reopen a closed task for rework after a dissatisfied rating (center, or the system acting
    /// on intake's `event-rated`).
    Reopen {
        /// Why (e.g. the rating's comment).
        reason: String,
    },
}

impl Action {
    /// The action's name, for errors and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Assign { .. } => "assign",
            Action::Dismiss { .. } => "dismiss",
            Action::SignFor => "sign_for",
            Action::Return { .. } => "return",
            Action::RequestExtension { .. } => "request_extension",
            Action::ApproveExtension { .. } => "approve_extension",
            Action::RefuseExtension { .. } => "refuse_extension",
            Action::Suspend { .. } => "suspend",
            Action::Resume => "resume",
            Action::Resolve { .. } => "resolve",
            Action::Verify => "verify",
            Action::RejectVerification { .. } => "reject_verification",
            Action::Close => "close",
            Action::Reopen { .. } => "reopen",
        }
    }
}

/// The fact a decision publishes: the subject token `civicgrid.dispatch.<fact>.…` and the
/// `TaskEvent.fact` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Fact {
    /// `task-assigned`
    Assigned,
    /// `task-signed`
    Signed,
    /// `task-returned`
    Returned,
    /// `task-extension-requested`
    ExtensionRequested,
    /// `task-extended`
    Extended,
    /// `task-extension-refused`
    ExtensionRefused,
    /// `task-suspended`
    Suspended,
    /// `task-resumed`
    Resumed,
    /// `task-resolved`
    Resolved,
    /// `task-verified`
    Verified,
    /// `task-reworked`
    Reworked,
    /// `task-closed`
    Closed,
    /// `task-reopened`
    Reopened,
}

impl Fact {
    /// Every fact a decision can publish.
    pub const ALL: [Fact; 13] = [
        Fact::Assigned,
        Fact::Signed,
        Fact::Returned,
        Fact::ExtensionRequested,
        Fact::Extended,
        Fact::ExtensionRefused,
        Fact::Suspended,
        Fact::Resumed,
        Fact::Resolved,
        Fact::Verified,
        Fact::Reworked,
        Fact::Closed,
        Fact::Reopened,
    ];

    /// The subject token, e.g. `task-assigned`.
    pub fn as_str(self) -> &'static str {
        match self {
            Fact::Assigned => "task-assigned",
            Fact::Signed => "task-signed",
            Fact::Returned => "task-returned",
            Fact::ExtensionRequested => "task-extension-requested",
            Fact::Extended => "task-extended",
            Fact::ExtensionRefused => "task-extension-refused",
            Fact::Suspended => "task-suspended",
            Fact::Resumed => "task-resumed",
            Fact::Resolved => "task-resolved",
            Fact::Verified => "task-verified",
            Fact::Reworked => "task-reworked",
            Fact::Closed => "task-closed",
            Fact::Reopened => "task-reopened",
        }
    }
}

/// A task's stage clocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// 签收: from assignment to sign-for.
    SignFor,
    /// 处置: from sign-for to resolution.
    Handle,
    /// 核查: from resolution to verification.
    Verify,
}

/// What a decision does to a stage clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClockChange {
    /// Start a fresh clock for the stage with the item's limit (replacing any earlier one).
    Start(Stage),
    /// Stop the stage's clock: the stage is done (or abandoned, on return).
    Stop(Stage),
    /// Pause the stage's clock (suspension).
    Pause(Stage),
    /// Resume it.
    Resume(Stage),
    /// Add approved units to its limit.
    Extend(Stage, u32),
}

/// What a decision does to the task's department.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DepartmentChange {
    /// It stays.
    Keep,
    /// It becomes this department.
    Set(String),
    /// The task no longer has one (returned to triage).
    Clear,
}

/// The outcome of an allowed action: everything the store writes and the bus publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The state after the action.
    pub state: TaskState,
    /// The fact to publish.
    pub fact: Fact,
    /// The department after the action.
    pub department: DepartmentChange,
    /// Clock changes, in the order to apply them.
    pub clocks: Vec<ClockChange>,
    /// The rework count after the action.
    pub rework_count: u32,
    /// The pending extension request (units) after the action.
    pub extension_requested: Option<u32>,
    /// The department that returned the task, to add to the task's list of returners.
    pub returned_by: Option<String>,
}

/// What [`decide`] needs to know about a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskView {
    /// Its state.
    pub state: TaskState,
    /// The department it is assigned to (`None` while awaiting triage, or once dismissed).
    pub department_id: Option<String>,
    /// The event's region path.
    pub region: RegionPath,
    /// The event's grid code, when known.
    pub grid_code: Option<String>,
    /// Whether the item is grid-self-handled (网格自处理).
    pub grid_self: bool,
    /// How many times it has been reworked.
    pub rework_count: u32,
    /// The pending extension request (units), if any.
    pub extension_requested: Option<u32>,
}

/// What [`decide`] needs to know about the actor: the verified claims of its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActorView {
    /// The role.
    pub role: Role,
    /// The department, for department roles.
    pub department_id: String,
    /// The region or grid code its authority covers; empty means no limit.
    pub region_scope: String,
}

impl From<&Actor> for ActorView {
    fn from(a: &Actor) -> Self {
        ActorView {
            role: Role::try_from(a.role).unwrap_or(Role::Unspecified),
            department_id: a.department_id.clone(),
            region_scope: a.region_scope.clone(),
        }
    }
}

/// Why an action was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    /// The input is incomplete (→ `INVALID_ARGUMENT`).
    #[error("{field} {problem}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// The actor may not take this action on this task (→ `PERMISSION_DENIED`).
    #[error("{action} is not allowed: {why}")]
    NotAllowed {
        /// The action.
        action: &'static str,
        /// Why not.
        why: &'static str,
    },
    /// The action does not apply in the task's state (→ `FAILED_PRECONDITION`).
    #[error("{action} is not possible while the task is {state}")]
    IllegalTransition {
        /// The action.
        action: &'static str,
        /// The task's state.
        state: TaskState,
    },
}

/// Who an action needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Department,
    Center,
    Verifier,
}

fn who(action: &Action) -> Who {
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
/// covers the task.
fn covers(scope: &str, task: &TaskView) -> bool {
    if scope.len() == 15 {
        return task.grid_code.as_deref() == Some(scope);
    }
    region::contains(scope, &task.region)
}

fn is_center(actor: &ActorView, task: &TaskView) -> bool {
    match actor.role {
        Role::Admin => true,
        Role::Center => covers(&actor.region_scope, task),
        _ => false,
    }
}

fn is_grid_worker_of(actor: &ActorView, task: &TaskView) -> bool {
    // A grid worker must be scoped: an unscoped grid worker covers nothing.
    actor.role == Role::GridWorker && !actor.region_scope.is_empty() && covers(&actor.region_scope, task)
}

fn check_actor(action: &Action, task: &TaskView, actor: &ActorView) -> Result<(), LifecycleError> {
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

fn required(field: &'static str, value: &str) -> Result<(), LifecycleError> {
    if value.trim().is_empty() {
        return Err(LifecycleError::Invalid { field, problem: "is required" });
    }
    Ok(())
}

fn check_input(action: &Action) -> Result<(), LifecycleError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    const DEPT: &str = "411602001-chengguan";

    /// A task of our department in `state`. (A task awaiting triage has no department in real
    /// life; keeping one here lets the state tables test the state checks alone. The refusal
    /// of department actions on an unassigned task is tested on its own.)
    fn task(state: TaskState) -> TaskView {
        TaskView {
            state,
            department_id: Some(DEPT.to_string()),
            region: region::path_of_grid("411602001001002").unwrap(),
            grid_code: Some("411602001001002".into()),
            grid_self: false,
            rework_count: 0,
            extension_requested: None,
        }
    }

    fn actor(role: Role, department_id: &str, scope: &str) -> ActorView {
        ActorView { role, department_id: department_id.into(), region_scope: scope.into() }
    }

    fn department() -> ActorView {
        actor(Role::Department, DEPT, "")
    }

    fn center() -> ActorView {
        actor(Role::Center, "", "411602001")
    }

    fn grid_worker() -> ActorView {
        actor(Role::GridWorker, "", "411602001001002")
    }

    fn reason() -> String {
        "理由".into()
    }

    /// One of every action.
    fn actions() -> Vec<Action> {
        vec![
            Action::Assign { department_id: "411602001-zhujian".into() },
            Action::Dismiss { reason: reason() },
            Action::SignFor,
            Action::Return { reason: reason() },
            Action::RequestExtension { amount: 2, reason: reason() },
            Action::ApproveExtension { amount: None },
            Action::RefuseExtension { reason: reason() },
            Action::Suspend { reason: reason() },
            Action::Resume,
            Action::Resolve { result: "已修复".into(), evidence_urls: vec!["https://img.example.org/1.jpg".into()] },
            Action::Verify,
            Action::RejectVerification { reason: reason() },
            Action::Close,
            Action::Reopen { reason: reason() },
        ]
    }

    fn states() -> Vec<TaskState> {
        vec![
            TaskState::AwaitingTriage,
            TaskState::Assigned,
            TaskState::Signed,
            TaskState::InProgress,
            TaskState::Resolved,
            TaskState::Verified,
            TaskState::Closed,
            TaskState::Suspended { resume_to: Resumable::Signed },
            TaskState::Suspended { resume_to: Resumable::InProgress },
        ]
    }

    /// An actor allowed to take `action` on a task of our department and region.
    fn allowed_actor(action: &Action) -> ActorView {
        match who(action) {
            Who::Department => department(),
            Who::Center => center(),
            Who::Verifier => grid_worker(),
        }
    }

    /// Every legal (state, action) pair: the next state and fact, with the task as
    /// [`task`] builds it plus a pending extension where the action needs one.
    fn legal(state: TaskState, action: &Action) -> Option<(TaskState, Fact)> {
        use TaskState as S;
        let suspended_signed = S::Suspended { resume_to: Resumable::Signed };
        let suspended_in_progress = S::Suspended { resume_to: Resumable::InProgress };
        Some(match (action, state) {
            (Action::Assign { .. }, S::AwaitingTriage | S::Assigned) => (S::Assigned, Fact::Assigned),
            (Action::Dismiss { .. }, S::AwaitingTriage) => (S::Closed, Fact::Closed),
            (Action::SignFor, S::Assigned) => (S::Signed, Fact::Signed),
            (Action::Return { .. }, S::Assigned | S::Signed) => (S::AwaitingTriage, Fact::Returned),
            (Action::RequestExtension { .. }, S::Signed | S::InProgress) => (state, Fact::ExtensionRequested),
            (Action::ApproveExtension { .. }, S::Signed | S::InProgress | S::Suspended { .. }) => {
                (state, Fact::Extended)
            }
            (Action::RefuseExtension { .. }, S::Signed | S::InProgress | S::Suspended { .. }) => {
                (state, Fact::ExtensionRefused)
            }
            (Action::Suspend { .. }, S::Signed) => (suspended_signed, Fact::Suspended),
            (Action::Suspend { .. }, S::InProgress) => (suspended_in_progress, Fact::Suspended),
            (Action::Resume, S::Suspended { resume_to }) => (resume_to.into(), Fact::Resumed),
            (Action::Resolve { .. }, S::Signed | S::InProgress) => (S::Resolved, Fact::Resolved),
            (Action::Verify, S::Resolved) => (S::Verified, Fact::Verified),
            (Action::RejectVerification { .. }, S::Resolved) => (S::InProgress, Fact::Reworked),
            (Action::Close, S::Verified) => (S::Closed, Fact::Closed),
            (Action::Reopen { .. }, S::Closed | S::Verified) => (S::Assigned, Fact::Reopened),
            _ => return None,
        })
    }

    fn needs_pending_extension(action: &Action) -> bool {
        matches!(action, Action::ApproveExtension { .. } | Action::RefuseExtension { .. })
    }

    #[test]
    fn every_state_and_action() {
        let mut legal_count = 0;
        for state in states() {
            for action in actions() {
                let mut view = task(state);
                if needs_pending_extension(&action) {
                    view.extension_requested = Some(2);
                }
                let got = decide(&view, &action, &allowed_actor(&action));
                match legal(state, &action) {
                    Some((next, fact)) => {
                        legal_count += 1;
                        let d = got.unwrap_or_else(|e| panic!("{state} {}: {e}", action.name()));
                        assert_eq!((d.state, d.fact), (next, fact), "{state} {}", action.name());
                    }
                    None => assert_eq!(
                        got,
                        Err(LifecycleError::IllegalTransition { action: action.name(), state }),
                        "{state} {}",
                        action.name()
                    ),
                }
            }
        }
        assert_eq!(legal_count, 27);
    }

    #[test]
    fn illegal_transitions() {
        use TaskState as S;
        // A readable table of the refusals people ask about.
        let table: Vec<(TaskState, Action)> = vec![
            (S::AwaitingTriage, Action::SignFor),
            (S::Signed, Action::SignFor),
            (S::Signed, Action::Assign { department_id: "x".into() }),
            (S::Assigned, Action::Resolve { result: "已修复".into(), evidence_urls: vec![] }),
            (S::InProgress, Action::Return { reason: reason() }),
            (S::Resolved, Action::Close),
            (S::Resolved, Action::Suspend { reason: reason() }),
            (S::Verified, Action::RejectVerification { reason: reason() }),
            (S::Closed, Action::Close),
            (S::Closed, Action::Verify),
            (
                S::Suspended { resume_to: Resumable::Signed },
                Action::Resolve { result: "x".into(), evidence_urls: vec![] },
            ),
            (S::Suspended { resume_to: Resumable::Signed }, Action::Suspend { reason: reason() }),
            (S::Signed, Action::Resume),
            // Extension answers need a pending request, and there can be only one.
            (S::Signed, Action::ApproveExtension { amount: None }),
            (S::Signed, Action::RefuseExtension { reason: reason() }),
        ];
        for (state, action) in table {
            let got = decide(&task(state), &action, &allowed_actor(&action));
            assert_eq!(got, Err(LifecycleError::IllegalTransition { action: action.name(), state }));
        }
        let mut pending = task(S::Signed);
        pending.extension_requested = Some(1);
        let again = Action::RequestExtension { amount: 1, reason: reason() };
        assert!(matches!(decide(&pending, &again, &department()), Err(LifecycleError::IllegalTransition { .. })));
    }

    #[test]
    fn clocks_and_counters() {
        use ClockChange::*;
        let d = decide(&task(TaskState::AwaitingTriage), &Action::Assign { department_id: DEPT.into() }, &center())
            .unwrap();
        assert_eq!(d.department, DepartmentChange::Set(DEPT.into()));
        assert_eq!(d.clocks, vec![Start(Stage::SignFor)]);

        let d = decide(&task(TaskState::Assigned), &Action::SignFor, &department()).unwrap();
        assert_eq!(d.clocks, vec![Stop(Stage::SignFor), Start(Stage::Handle)]);

        let d = decide(&task(TaskState::Assigned), &Action::Return { reason: reason() }, &department()).unwrap();
        assert_eq!(d.department, DepartmentChange::Clear);
        assert_eq!(d.returned_by.as_deref(), Some(DEPT));
        assert_eq!(d.clocks, vec![Stop(Stage::SignFor)]);
        let mut signed = task(TaskState::Signed);
        signed.extension_requested = Some(3);
        let d = decide(&signed, &Action::Return { reason: reason() }, &department()).unwrap();
        assert_eq!(d.clocks, vec![Stop(Stage::Handle)]);
        assert_eq!(d.extension_requested, None);

        let d =
            decide(&task(TaskState::Signed), &Action::RequestExtension { amount: 3, reason: reason() }, &department())
                .unwrap();
        assert_eq!((d.state, d.extension_requested), (TaskState::Signed, Some(3)));
        assert_eq!(
            decide(&signed, &Action::ApproveExtension { amount: None }, &center()).unwrap().clocks,
            vec![Extend(Stage::Handle, 3)]
        );
        let d = decide(&signed, &Action::ApproveExtension { amount: Some(1) }, &center()).unwrap();
        assert_eq!((d.clocks, d.extension_requested), (vec![Extend(Stage::Handle, 1)], None));
        let d = decide(&signed, &Action::RefuseExtension { reason: reason() }, &center()).unwrap();
        assert_eq!((d.clocks, d.extension_requested), (vec![], None));

        let d = decide(&task(TaskState::InProgress), &Action::Suspend { reason: reason() }, &center()).unwrap();
        assert_eq!(d.clocks, vec![Pause(Stage::Handle)]);
        let d = decide(&task(d.state), &Action::Resume, &center()).unwrap();
        assert_eq!((d.state, d.clocks), (TaskState::InProgress, vec![Resume(Stage::Handle)]));

        let resolve = Action::Resolve { result: "已修复".into(), evidence_urls: vec![] };
        let d = decide(&signed, &resolve, &department()).unwrap();
        assert_eq!((d.clocks, d.extension_requested), (vec![Stop(Stage::Handle), Start(Stage::Verify)], None));

        let mut resolved = task(TaskState::Resolved);
        resolved.rework_count = 2;
        let d = decide(&resolved, &Action::RejectVerification { reason: reason() }, &grid_worker()).unwrap();
        assert_eq!((d.rework_count, d.clocks), (3, vec![Stop(Stage::Verify), Start(Stage::Handle)]));
        let d = decide(&resolved, &Action::Verify, &grid_worker()).unwrap();
        assert_eq!((d.rework_count, d.clocks), (2, vec![Stop(Stage::Verify)]));

        let d = decide(&task(TaskState::Closed), &Action::Reopen { reason: reason() }, &center()).unwrap();
        assert_eq!((d.state, d.rework_count, d.clocks), (TaskState::Assigned, 1, vec![Start(Stage::SignFor)]));
        assert_eq!(d.department, DepartmentChange::Keep);
        let mut dismissed = task(TaskState::Closed);
        dismissed.department_id = None;
        let d = decide(&dismissed, &Action::Reopen { reason: reason() }, &center()).unwrap();
        assert_eq!((d.state, d.fact, d.clocks), (TaskState::AwaitingTriage, Fact::Reopened, vec![]));
    }

    #[test]
    fn only_the_own_department_acts_on_a_task() {
        let t = task(TaskState::Assigned);
        let other = actor(Role::Department, "411602001-zhujian", "");
        assert!(matches!(decide(&t, &Action::SignFor, &other), Err(LifecycleError::NotAllowed { .. })));
        // Even on a closed task, a stranger learns nothing about the state.
        assert!(matches!(
            decide(&task(TaskState::Closed), &Action::SignFor, &other),
            Err(LifecycleError::NotAllowed { .. })
        ));
        // Not the center, not a grid worker, not an unscoped department.
        for a in [center(), grid_worker(), actor(Role::Department, "", ""), actor(Role::Admin, "", "")] {
            assert!(matches!(decide(&t, &Action::SignFor, &a), Err(LifecycleError::NotAllowed { .. })), "{a:?}");
        }
        // A task awaiting triage belongs to no department.
        let mut unassigned = task(TaskState::AwaitingTriage);
        unassigned.department_id = None;
        let returned = decide(&unassigned, &Action::SignFor, &department());
        assert!(matches!(returned, Err(LifecycleError::NotAllowed { .. })));
    }

    #[test]
    fn centers_act_within_their_region() {
        let t = task(TaskState::Verified);
        for ok in ["411602001", "411602", "411600", "", "411602001001"] {
            assert!(decide(&t, &Action::Close, &actor(Role::Center, "", ok)).is_ok(), "{ok}");
        }
        for no in ["411602002", "411603", "411621100"] {
            assert!(
                matches!(
                    decide(&t, &Action::Close, &actor(Role::Center, "", no)),
                    Err(LifecycleError::NotAllowed { .. })
                ),
                "{no}"
            );
        }
        assert!(decide(&t, &Action::Close, &actor(Role::Admin, "", "411603")).is_ok());
        for role in [Role::CountyCenter, Role::Department, Role::GridWorker, Role::CitizenApp, Role::Unspecified] {
            assert!(matches!(
                decide(&t, &Action::Close, &actor(role, DEPT, "411602")),
                Err(LifecycleError::NotAllowed { .. })
            ));
        }
    }

    #[test]
    fn verification_by_grid_worker_or_center() {
        let t = task(TaskState::Resolved);
        assert!(decide(&t, &Action::Verify, &grid_worker()).is_ok());
        assert!(decide(&t, &Action::Verify, &actor(Role::GridWorker, "", "411602001001")).is_ok());
        assert!(decide(&t, &Action::Verify, &center()).is_ok());
        for no in ["411602001001001", "411602001002", ""] {
            assert!(
                matches!(
                    decide(&t, &Action::Verify, &actor(Role::GridWorker, "", no)),
                    Err(LifecycleError::NotAllowed { .. })
                ),
                "{no:?}"
            );
        }
        assert!(matches!(decide(&t, &Action::Verify, &department()), Err(LifecycleError::NotAllowed { .. })));
    }

    #[test]
    fn grid_self_tasks_are_handled_by_the_grid_worker_and_verified_by_the_center() {
        let mut t = task(TaskState::Assigned);
        t.grid_self = true;
        t.department_id = Some("411602001-grid".into());
        assert!(decide(&t, &Action::SignFor, &grid_worker()).is_ok());
        let other_grid = actor(Role::GridWorker, "", "411602001001001");
        assert!(matches!(decide(&t, &Action::SignFor, &other_grid), Err(LifecycleError::NotAllowed { .. })));
        t.state = TaskState::Resolved;
        assert!(matches!(decide(&t, &Action::Verify, &grid_worker()), Err(LifecycleError::NotAllowed { .. })));
        assert!(decide(&t, &Action::Verify, &center()).is_ok());
    }

    #[test]
    fn input_is_checked_first() {
        let t = task(TaskState::Assigned);
        let blank = Action::Return { reason: "  ".into() };
        assert_eq!(
            decide(&t, &blank, &department()),
            Err(LifecycleError::Invalid { field: "reason", problem: "is required" })
        );
        let zero = Action::RequestExtension { amount: 0, reason: reason() };
        assert!(matches!(decide(&task(TaskState::Signed), &zero, &department()), Err(LifecycleError::Invalid { .. })));
        let resolve = Action::Resolve { result: String::new(), evidence_urls: vec![] };
        assert!(matches!(
            decide(&task(TaskState::Signed), &resolve, &department()),
            Err(LifecycleError::Invalid { .. })
        ));
        let assign = Action::Assign { department_id: String::new() };
        assert!(matches!(
            decide(&task(TaskState::AwaitingTriage), &assign, &center()),
            Err(LifecycleError::Invalid { .. })
        ));
        let grant = Action::ApproveExtension { amount: Some(0) };
        assert!(matches!(decide(&task(TaskState::Signed), &grant, &center()), Err(LifecycleError::Invalid { .. })));
    }

    #[test]
    fn states_map_to_the_contract() {
        assert_eq!(TaskState::Suspended { resume_to: Resumable::Signed }.status(), TaskStatus::Suspended);
        assert_eq!(TaskState::AwaitingTriage.status(), TaskStatus::AwaitingTriage);
        assert_eq!(TaskState::InProgress.status(), TaskStatus::InProgress);
        assert_eq!(Fact::ExtensionRefused.as_str(), "task-extension-refused");
        let tokens: Vec<&str> = Fact::ALL.iter().map(|f| f.as_str()).collect();
        assert!(tokens.iter().all(|t| t.starts_with("task-") && !t.contains('.')));
    }

    #[test]
    fn actor_from_the_contract() {
        let a = Actor {
            subject: "u1".into(),
            role: Role::Department as i32,
            department_id: DEPT.into(),
            region_scope: String::new(),
        };
        assert_eq!(ActorView::from(&a), department());
        let bad = Actor { role: 99, ..a };
        assert_eq!(ActorView::from(&bad).role, Role::Unspecified);
    }
}
