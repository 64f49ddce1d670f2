//! Deadlines on the manual clock: the mediation deadline warns three days before and once it
//! passes (and the case lists as overdue); the confirmation window closes and an application
//! after it is FAILED_PRECONDITION.

use civicgrid_kit::clock::Clock;
use civicgrid_proto::v1::{ApplyConfirmationRequest, ListCasesRequest};
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn the_mediation_deadline_warns_before_and_when_it_passes() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let org = department(ORGANISATION);
    let case = app.open(application(VILLAGE), &org).await;
    let accepted = app.accept(&case.id, &org).await;
    // Accepted Monday 16 November: 30 days end with Wednesday 16 December (24:00 local).
    let due = accepted.deadlines.iter().find(|d| d.name == "mediation").expect("a mediation deadline");
    assert_eq!(due.due, Some(civicgrid_kit::time::to_proto(local("2026-12-17 00:00"))));
    assert!(!due.overdue);

    app.set_time(local("2026-12-14 00:30"));
    let soon = app.wait_for_warning(&case.id, "mediation-soon").await;
    let deadline = soon.deadline.expect("the deadline");
    assert_eq!((deadline.name.as_str(), deadline.overdue), ("mediation", false));
    let overdue = ListCasesRequest { overdue_only: true, ..Default::default() };
    assert!(app.list(overdue.clone(), &org).await.is_empty());

    app.set_time(local("2026-12-17 00:30"));
    let passed = app.wait_for_warning(&case.id, "mediation-passed").await;
    assert!(passed.deadline.expect("the deadline").overdue);
    assert_eq!(app.list(overdue, &org).await.len(), 1);
    let warnings: Vec<String> =
        app.facts_of(&case.id).await.into_iter().filter(|f| f.fact == "case-warning").map(|f| f.reason).collect();
    assert_eq!(warnings, ["mediation-soon", "mediation-passed"], "each warning once");
    // An outcome after the deadline counts as overdue in the statistics (see stats.rs).
    app.stop().await;
}

#[tokio::test]
async fn the_confirmation_window_closes() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let org = department(ORGANISATION);
    let me = mediator(MEDIATOR);
    let case = app.open(application(VILLAGE), &org).await;
    app.accept(&case.id, &org).await;
    app.hold_session(&case.id, &me).await;
    let agreed = app.agree(&case.id, &me).await;
    let window = agreed.deadlines.iter().find(|d| d.name == "confirmation-window").expect("the window");
    // Effective Monday 16 November: the 30th day is Wednesday 16 December.
    assert_eq!(window.due, Some(civicgrid_kit::time::to_proto(local("2026-12-17 00:00"))));

    app.set_time(local("2026-12-17 08:00"));
    app.wait_for_warning(&case.id, "confirmation-window-passed").await;
    let late =
        ApplyConfirmationRequest { request_id: rid(), case_id: case.id.clone(), court: "川汇区人民法院".into() };
    let answer = app.client.clone().apply_confirmation(authed(late, &me)).await;
    let status = expect_code(answer, Code::FailedPrecondition, "apply after the window");
    assert!(status.message().contains("window"), "{}", status.message());
    app.stop().await;
}
