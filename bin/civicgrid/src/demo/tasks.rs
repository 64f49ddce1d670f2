//! The departments, the center and the reporters of the closed loop, played for the demo.

use std::time::Duration;

use civicgrid_kit::Shutdown;
use civicgrid_proto::v1::{
    RateOutcomeRequest, Rating, ResolveRequest, Task, TaskReasonRequest, TaskRequest, WatchTasksRequest,
    dispatch_service_client::DispatchServiceClient, intake_service_client::IntakeServiceClient,
};
use futures::StreamExt;
use tonic::transport::Channel;

use super::{department_token, token, with_token};

/// Whether mediation works this task (a dispute item at a justice office, `<township>-sifa`).
fn is_mediated(task: &Task) -> bool {
    task.department_id.ends_with("-sifa")
        && (task.item_code.starts_with("06.01.") || task.item_code.starts_with("06.02."))
}

/// What the demo's people need to act on a task.
#[derive(Clone)]
struct Desk {
    dispatch: DispatchServiceClient<Channel>,
    intake: String,
    secret: String,
    admin: String,
    every: Duration,
}

/// Plays the other people of the closed loop: each newly assigned task is signed for and
/// resolved by its department, verified by the center (one in five is sent back for rework
/// first), closed, and rated by the reporter through intake's callback (one in six
/// dissatisfied, which reopens it). Tasks nobody serves stay in the triage queue. Disputes at
/// justice offices are mediation's (see `work_cases`), which resolves them with the outcome;
/// the center then verifies and closes them like any other.
pub async fn work_tasks(dispatch: String, intake: String, secret: String, every: Duration, shutdown: Shutdown) {
    let admin = token(&secret, "admin", "");
    let mut client = loop {
        match DispatchServiceClient::connect(dispatch.clone()).await {
            Ok(c) => break c,
            Err(_) => tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = shutdown.cancelled() => return,
            },
        }
    };
    let mut feed = match client
        .watch_tasks(with_token(WatchTasksRequest { from_now: true, ..Default::default() }, &admin))
        .await
    {
        Ok(r) => r.into_inner(),
        Err(e) => {
            println!("[demo] cannot watch tasks: {}", e.message());
            return;
        }
    };
    let desk = Desk { dispatch: client, intake, secret, admin, every };
    loop {
        let change = tokio::select! {
            c = feed.next() => c,
            _ = shutdown.cancelled() => return,
        };
        let Some(Ok(change)) = change else { return };
        let Some(task) = change.task else { continue };
        let mediated = is_mediated(&task);
        let work = match change.fact.as_str() {
            "task-assigned" | "task-reopened" if !mediated => true,
            "task-resolved" if mediated => false,
            _ => continue,
        };
        let (desk, shutdown) = (desk.clone(), shutdown.clone());
        tokio::spawn(async move {
            tokio::select! {
                _ = async {
                    if work && !department_works(&desk, &task).await {
                        return;
                    }
                    center_closes(&desk, &task, !mediated).await;
                } => {}
                _ = shutdown.cancelled() => {}
            }
        });
    }
}

/// The request id of one step on one version of a task.
fn step(task: &Task, name: &str) -> String {
    format!("demo-{name}-{}-{}", task.id.get(24..).unwrap_or(&task.id), task.version)
}

/// The department signs for the task and resolves it (twice when the center sends it back);
/// false when it could not.
async fn department_works(desk: &Desk, task: &Task) -> bool {
    let mut client = desk.dispatch.clone();
    let department = department_token(&desk.secret, "department", &task.department_id, "");
    let rework = rand::random::<u8>().is_multiple_of(5);
    tokio::time::sleep(desk.every).await;
    let sign = TaskRequest { request_id: step(task, "sign"), task_id: task.id.clone() };
    if client.sign_for(with_token(sign, &department)).await.is_err() {
        return false;
    }
    println!("[demo] {} signed for {} ({})", task.department_id, task.tracking_number, task.item_name);
    for round in 0..=(rework as u8) {
        tokio::time::sleep(desk.every).await;
        let resolve = ResolveRequest {
            request_id: step(task, &format!("resolve{round}")),
            task_id: task.id.clone(),
            result: "已到场处置完毕".into(),
            evidence_urls: vec!["https://evidence.example.org/after.jpg".into()],
        };
        if client.resolve(with_token(resolve, &department)).await.is_err() {
            return false;
        }
        if rework && round == 0 {
            let reject = TaskReasonRequest {
                request_id: step(task, "reject"),
                task_id: task.id.clone(),
                reason: "复核未通过，现场仍有问题".into(),
            };
            let _ = client.reject_verification(with_token(reject, &desk.admin)).await;
            println!(
                "[demo] verification of {} failed: back to {} for rework",
                task.tracking_number, task.department_id
            );
        }
    }
    true
}

/// The center verifies and closes the task; the reporter of a lead task rates the outcome
/// (dissatisfied one time in six when `may_dissatisfy`, which reopens it).
async fn center_closes(desk: &Desk, task: &Task, may_dissatisfy: bool) {
    let mut client = desk.dispatch.clone();
    let verify = TaskRequest { request_id: step(task, "verify"), task_id: task.id.clone() };
    let close = TaskRequest { request_id: step(task, "close"), task_id: task.id.clone() };
    if client.verify(with_token(verify, &desk.admin)).await.is_err()
        || client.close(with_token(close, &desk.admin)).await.is_err()
    {
        return;
    }
    println!("[demo] {} closed", task.tracking_number);
    if !task.lead {
        return;
    }
    let Ok(mut intake) = IntakeServiceClient::connect(desk.intake.clone()).await else { return };
    let dissatisfied = may_dissatisfy && rand::random::<u8>().is_multiple_of(6);
    let rating = if dissatisfied { Rating::Dissatisfied } else { Rating::Satisfied };
    // The public status follows the task a moment later; retry until it does.
    for attempt in 0..10 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let rate = RateOutcomeRequest {
            request_id: step(task, &format!("rate{attempt}")),
            tracking_number: task.tracking_number.clone(),
            rating: rating as i32,
            comment: if dissatisfied { "问题没有真正解决".into() } else { "处理及时".into() },
        };
        if intake.rate_outcome(with_token(rate, &desk.admin)).await.is_ok() {
            println!("[demo] reporter of {} rated {}", task.tracking_number, rating.as_str_name());
            break;
        }
    }
}
