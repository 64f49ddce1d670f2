//! 返工: a dissatisfied citizen reopens a closed case; a failed verification sends the fix back;
//! three reworks escalate the task, once.

use civicgrid_kit::{clock::Clock, time::to_proto};
use civicgrid_proto::v1::{
    GetKpisRequest, Kpis, Rating, ResolveRequest, Stage, Task, TaskReasonRequest, TaskRequest, TaskStatus, TimeRange,
};
use tonic::Code;

use crate::helpers::*;

fn req(task: &Task) -> TaskRequest {
    TaskRequest { request_id: rid(), task_id: task.id.clone() }
}

fn fix(task: &Task) -> ResolveRequest {
    ResolveRequest {
        request_id: rid(), task_id: task.id.clone(), result: "已处置完毕".into(), evidence_urls: vec![]
    }
}

impl TestApp {
    /// Takes a task from assigned to closed (department, grid worker of the village, center).
    async fn close_task(&self, task: &Task, department_id: &str, grid: &GridPick) -> Task {
        let mut client = self.client.clone();
        let dept = department(department_id);
        client.sign_for(authed(req(task), &dept)).await.expect("sign for");
        client.resolve(authed(fix(task), &dept)).await.expect("resolve");
        client.verify(authed(req(task), &grid_worker(&grid.grid_worker, &grid.path.village))).await.expect("verify");
        client.close(authed(req(task), &center(TOWNSHIP))).await.expect("close").into_inner()
    }

    async fn kpis(&self, department_id: &str) -> Kpis {
        let period = TimeRange {
            from: Some(to_proto(local("2026-11-16 00:00"))),
            to: Some(to_proto(local("2026-11-17 00:00"))),
        };
        let mut client = self.client.clone();
        client
            .get_kpis(authed(
                GetKpisRequest { period: Some(period), department_id: String::new(), region_code: String::new() },
                &department(department_id),
            ))
            .await
            .expect("kpis")
            .into_inner()
    }
}

#[tokio::test]
async fn a_dissatisfied_rating_reopens_the_case_and_a_satisfied_one_is_only_recorded() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let grid = app.grid_in(TOWNSHIP);
    let (item, route) = app.item_with_assisting(&grid.path);
    let n = 1 + route.assisting.len();
    let (pleased, pleased_tasks) = app.report(&item.code, &grid, n).await;
    let (annoyed, annoyed_tasks) = app.report(&item.code, &grid, n).await;
    app.set_time(local("2026-11-16 09:30"));
    let pleased_lead = app.close_task(&pleased_tasks[0], &route.lead, &grid).await;
    let annoyed_lead = app.close_task(&annoyed_tasks[0], &route.lead, &grid).await;
    assert_eq!(annoyed_lead.status, TaskStatus::Closed as i32);

    // 满意: recorded (it counts in the satisfaction rate), nothing else changes.
    app.set_time(local("2026-11-16 10:00"));
    app.publish_rated(&rated(&pleased, Rating::Satisfied, "很满意", app.clock.now())).await;
    eventually("the satisfied rating to be recorded", || async { app.kpis(&route.lead).await.rated == 1 }).await;
    let k = app.kpis(&route.lead).await;
    assert_eq!((k.rated, k.satisfied), (1, 1));
    assert_eq!(app.task(&pleased_lead.id).await, pleased_lead, "a satisfied rating changes nothing");

    // 不满意: the lead task is reopened for rework by the same department.
    app.set_time(local("2026-11-16 10:30"));
    let dissatisfied = rated(&annoyed, Rating::Dissatisfied, "井盖还是松的", app.clock.now());
    let ce_id = app.publish_rated(&dissatisfied).await;
    let reopened = app
        .wait_published("task-reopened", WITHIN, |p| {
            p.event.task_id == annoyed_lead.id && p.event.fact == "task-reopened"
        })
        .await;
    assert_eq!(reopened.event.status, TaskStatus::Assigned as i32);
    assert_eq!(reopened.event.rework_count, 1);
    assert_eq!(reopened.event.department_id, route.lead);
    assert_eq!(reopened.event.version, annoyed_lead.version + 1);
    assert!(reopened.event.reason.contains("井盖还是松的"), "{}", reopened.event.reason);
    let task = app.task(&annoyed_lead.id).await;
    assert_eq!(task.status, TaskStatus::Assigned as i32);
    assert_eq!(task.rework_count, 1);
    assert_eq!(task.department_id, route.lead);
    let sign_for = task.clocks.iter().find(|c| c.stage == Stage::SignFor as i32).expect("sign-for clock");
    assert_eq!(started_at(sign_for), Some(local("2026-11-16 10:30")), "a fresh sign-for clock");
    assert!(sign_for.stopped_at.is_none());
    // Assisting tasks are not reopened: the rating is about the lead's outcome.
    for t in &annoyed_tasks[1..] {
        let now = app.task(&t.id).await;
        assert_eq!((now.status, now.rework_count), (TaskStatus::Assigned as i32, 0), "assisting {}", t.department_id);
        assert!(!app.facts_of(&t.id).await.iter().any(|f| f == "task-reopened"));
    }

    // The same rating delivered again (same ce-id) changes nothing more.
    app.publish_rated_as(&dissatisfied, &ce_id, &uuid::Uuid::now_v7().to_string()).await;
    app.publish_rated(&rated(&pleased, Rating::Satisfied, "sentinel", app.clock.now())).await;
    eventually("the sentinel rating", || async { app.kpis(&route.lead).await.rated == 3 }).await;
    let again = app.task(&annoyed_lead.id).await;
    assert_eq!((again.rework_count, again.version), (1, task.version), "a redelivered rating reopened again");
    let k = app.kpis(&route.lead).await;
    assert_eq!((k.rated, k.satisfied), (3, 2), "ratings: satisfied, dissatisfied, satisfied");

    // The department takes it up again and the loop closes once more.
    let closed_again = app.close_task(&task, &route.lead, &grid).await;
    assert_eq!(closed_again.status, TaskStatus::Closed as i32);
    assert_eq!(closed_again.rework_count, 1);
    let facts = app.facts_of(&annoyed_lead.id).await;
    assert_eq!(
        facts,
        [
            "task-assigned",
            "task-signed",
            "task-resolved",
            "task-verified",
            "task-closed",
            "task-reopened",
            "task-signed",
            "task-resolved",
            "task-verified",
            "task-closed"
        ]
    );
    app.stop().await;
}

#[tokio::test]
async fn a_failed_verification_sends_the_fix_back_and_three_reworks_escalate_once() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let grid = app.grid_in(TOWNSHIP);
    let (item, route) = app.ordinary_item(&grid.path);
    let (_, tasks) = app.report(&item.code, &grid, 1).await;
    let task = tasks[0].clone();
    let dept = department(&route.lead);
    let verifier = grid_worker(&grid.grid_worker, &grid.path.village);
    let mut client = app.client.clone();
    client.sign_for(authed(req(&task), &dept)).await.unwrap();

    let mut expected_facts = vec!["task-assigned", "task-signed"];
    for round in 1..=3u32 {
        app.clock.advance(chrono::Duration::minutes(10));
        client.resolve(authed(fix(&task), &dept)).await.unwrap();
        expected_facts.push("task-resolved");
        let why =
            TaskReasonRequest { request_id: rid(), task_id: task.id.clone(), reason: "现场未整改到位".into() };
        expect_code(
            client.reject_verification(authed(why.clone(), &dept)).await,
            Code::PermissionDenied,
            "a department rejects its own fix",
        );
        expect_code(
            client
                .reject_verification(authed(TaskReasonRequest { reason: String::new(), ..why.clone() }, &verifier))
                .await,
            Code::InvalidArgument,
            "a rejection without a reason",
        );
        app.clock.advance(chrono::Duration::minutes(10));
        let rejected = client.reject_verification(authed(why.clone(), &verifier)).await.unwrap().into_inner();
        assert_eq!(rejected.status, TaskStatus::InProgress as i32, "round {round}");
        assert_eq!(rejected.rework_count, round);
        let again = client.reject_verification(authed(why, &verifier)).await.unwrap().into_inner();
        assert_eq!(again, rejected, "a retried rejection counts once");
        let handle = rejected.clocks.iter().find(|c| c.stage == Stage::Handle as i32).expect("handle clock");
        assert_eq!(started_at(handle), Some(app.clock.now()), "a fresh handling clock");
        assert!(handle.stopped_at.is_none());
        expect_code(
            client.sign_for(authed(req(&task), &dept)).await,
            Code::FailedPrecondition,
            "signing for a task being reworked",
        );
        expected_facts.push("task-reworked");
        if round == 3 {
            expected_facts.push("task-escalated");
        }
    }
    let published = app.wait_facts(&task.id, &expected_facts).await;
    let reworked = &published[published.len() - 2].event;
    assert_eq!((reworked.status, reworked.rework_count), (TaskStatus::InProgress as i32, 3));
    assert_eq!(reworked.reason, "现场未整改到位");
    let escalated = &published[published.len() - 1].event;
    assert_eq!(escalated.reason, "reworked");
    assert_eq!(escalated.escalated_to, COUNTY);
    assert!(app.task(&task.id).await.escalated);

    // Once: the fourth fix and its verification raise no new escalation.
    client.resolve(authed(fix(&task), &dept)).await.unwrap();
    client.verify(authed(req(&task), &verifier)).await.unwrap();
    let facts = app.wait_facts_at_least(&task.id, expected_facts.len() + 2).await;
    assert_eq!(
        facts.iter().filter(|f| *f == "task-escalated").count(),
        1,
        "three reworks escalate once, not again at every new stage: {facts:?}"
    );
    app.stop().await;
}
