//! Unit tests of the lifecycle: every state and action, clocks and counters, and who may act.

use civicgrid_kit::region;

use super::{
    permissions::{Who, who},
    *,
};

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
        (Action::ApproveExtension { .. }, S::Signed | S::InProgress | S::Suspended { .. }) => (state, Fact::Extended),
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
        (S::Suspended { resume_to: Resumable::Signed }, Action::Resolve { result: "x".into(), evidence_urls: vec![] }),
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
    let d =
        decide(&task(TaskState::AwaitingTriage), &Action::Assign { department_id: DEPT.into() }, &center()).unwrap();
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

    let d = decide(&task(TaskState::Signed), &Action::RequestExtension { amount: 3, reason: reason() }, &department())
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
            matches!(decide(&t, &Action::Close, &actor(Role::Center, "", no)), Err(LifecycleError::NotAllowed { .. })),
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
    assert!(matches!(decide(&task(TaskState::Signed), &resolve, &department()), Err(LifecycleError::Invalid { .. })));
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
