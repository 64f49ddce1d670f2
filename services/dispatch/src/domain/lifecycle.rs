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
//!
//! This file holds the vocabulary (states, actions, facts, decisions, the views of a task and
//! an actor); [`machine`] the transitions ([`decide`]); [`permissions`] who may act.

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

mod machine;
mod permissions;
#[cfg(test)]
mod tests;

pub use machine::decide;
