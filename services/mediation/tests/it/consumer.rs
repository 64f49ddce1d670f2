//! dispatch's `task-assigned` facts: a dispute item dispatched to a justice office opens one
//! case per task (a republished fact opens nothing more); anything else is left alone, without
//! a transaction.

use civicgrid_kit::clock::Clock;
use civicgrid_proto::v1::{CaseSource, CaseState, ListCasesRequest};

use crate::helpers::*;

#[tokio::test]
async fn disputes_dispatched_to_a_justice_office_open_one_case_per_task() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let task = task_assigned("06.01.002", JUSTICE_OFFICE, VILLAGE);
    app.publish_task(&task).await;
    // A republish of the same fact (a new ce-id), and facts that are not for mediation: a
    // dispute for another department, another item for the justice office, a later fact.
    app.publish_task(&task).await;
    app.publish_task(&task_assigned("06.01.002", "411602001-gongan", VILLAGE)).await;
    app.publish_task(&task_assigned("01.01.001", JUSTICE_OFFICE, VILLAGE)).await;
    let signed = civicgrid_proto::v1::TaskEvent {
        fact: "task-signed".into(),
        ..task_assigned("06.01.001", JUSTICE_OFFICE, VILLAGE)
    };
    app.publish_task(&signed).await;
    let last = task_assigned("06.02.001", JUSTICE_OFFICE, OTHER_VILLAGE);
    app.publish_task(&last).await;

    let case = app.case_of_task(&task.task_id).await;
    assert_eq!(case.source, CaseSource::Event as i32);
    assert_eq!(case.state, CaseState::Applied as i32);
    assert_eq!(case.event_id, task.event_id);
    assert_eq!(case.tracking_number, task.tracking_number);
    assert!(case.facts.contains(&task.tracking_number), "{}", case.facts);
    // The last one, a labour dispute, goes to the county's labour committee.
    let labour = app.case_of_task(&last.task_id).await;
    assert_eq!(labour.organisation_id, "411602-labour");
    // Only the facts that open a case took a transaction, each leaving its inbox row (the
    // republish has a ce-id of its own); the two other `task-assigned` were acknowledged
    // without one, and counted (the consumer does not receive `task-signed` at all).
    let inbox: i64 = sqlx::query_scalar("SELECT count(*) FROM mediation.inbox WHERE consumer = 'mediation-dispatch'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(inbox, 3, "inbox rows of mediation-dispatch");
    let scrape = civicgrid_dev::testing::metrics::scrape(app.metrics_addr).await;
    assert_eq!(
        scrape.value("civicgrid_consumer_passed_over_total", &[("durable", "mediation-dispatch")]),
        Some(2.0),
        "facts passed over"
    );
    let all = app.list(ListCasesRequest::default(), &admin()).await;
    assert_eq!(all.len(), 2, "{all:?}");
    // The justice office sees them; the case waits for its parties before acceptance.
    assert_eq!(app.list(ListCasesRequest::default(), &department(JUSTICE_OFFICE)).await.len(), 2);
    let accept = civicgrid_proto::v1::CaseRequest { request_id: rid(), case_id: case.id.clone() };
    let refused = app.client.clone().accept_case(authed(accept, &department(JUSTICE_OFFICE))).await;
    expect_code(refused, tonic::Code::FailedPrecondition, "accept without parties");
    app.stop().await;
}
