//! Carries the [`plan`](super::plan) out, as the city's people would, through the suite's
//! public gRPC API only: reporters submit to intake; departments, grid workers and the center
//! act on dispatch's tasks as its `WatchTasks` feed shows them; reporters rate through intake.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use civicgrid_kit::Shutdown;
use civicgrid_proto::v1::{
    EventSource, GeoPoint, Location, RateOutcomeRequest, Rating, Reporter, ResolveRequest, SubmitEventRequest, Task,
    TaskReasonRequest, TaskRequest, TriageRequest, WatchTasksRequest, dispatch_service_client::DispatchServiceClient,
    intake_service_client::IntakeServiceClient,
};
use futures::StreamExt;
use rand::{Rng, SeedableRng, rngs::StdRng};
use tonic::{Code, transport::Channel};

use super::plan::{Action, Planner, TaskScript};
use crate::demo::{department_token, grid_worker_token, token, with_token};

/// Where the generator sends its calls, and with what secret it signs its people's tokens.
pub struct Targets {
    /// Intake's gRPC URL.
    pub intake: String,
    /// Dispatch's gRPC URL.
    pub dispatch: String,
    /// The suite's token secret.
    pub secret: String,
}

/// What every spawned task worker shares.
#[derive(Clone)]
struct Crew {
    planner: Arc<Mutex<Planner>>,
    dispatch: DispatchServiceClient<Channel>,
    intake: IntakeServiceClient<Channel>,
    secret: String,
    admin: String,
    /// Tasks a script is playing: their own re-assignment must not start a second one.
    playing: Arc<Mutex<HashSet<String>>>,
}

/// Plays the city's life until shutdown: reports at the planned rate, and the people who work
/// each task. `seed` makes the sequence of choices repeatable.
pub async fn run(planner: Planner, to: Targets, seed: u64, shutdown: Shutdown) {
    let Some(intake) = connect(&to.intake, &shutdown, IntakeServiceClient::connect).await else { return };
    let Some(dispatch) = connect(&to.dispatch, &shutdown, DispatchServiceClient::connect).await else { return };
    let crew = Crew {
        planner: Arc::new(Mutex::new(planner)),
        dispatch,
        intake,
        admin: token(&to.secret, "admin", ""),
        secret: to.secret,
        playing: Arc::default(),
    };
    let reports = tokio::spawn(report(crew.clone(), StdRng::seed_from_u64(seed), shutdown.clone()));
    work(crew, StdRng::seed_from_u64(seed.wrapping_add(1)), shutdown).await;
    let _ = reports.await;
}

/// Connects with `connect`, retrying every second until it works or shutdown.
async fn connect<C, F>(url: &str, shutdown: &Shutdown, connect: impl Fn(String) -> F) -> Option<C>
where
    F: Future<Output = Result<C, tonic::transport::Error>>,
{
    loop {
        match connect(url.to_string()).await {
            Ok(c) => return Some(c),
            Err(_) => tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = shutdown.cancelled() => return None,
            },
        }
    }
}

/// Submits the planned reports, each after its planned gap.
async fn report(crew: Crew, mut rng: StdRng, shutdown: Shutdown) {
    let mut intake = crew.intake.clone();
    for n in 1u64.. {
        let gap = lock(&crew.planner).next_gap(&mut rng, chrono::Utc::now());
        tokio::select! {
            _ = tokio::time::sleep(gap) => {}
            _ = shutdown.cancelled() => return,
        }
        let (request, token) = {
            let mut planner = lock(&crew.planner);
            let planned = planner.next_report(&mut rng);
            let (Some(item), Some(spot)) = (planner.items().get(planned.item), planner.spots().get(planned.spot))
            else {
                continue;
            };
            let grid_worker = planned.source == EventSource::GridWorker;
            let token = if grid_worker {
                grid_worker_token(&crew.secret, &spot.grid, &spot.village)
            } else {
                crew.admin.clone()
            };
            let request = SubmitEventRequest {
                request_id: format!("traffic-{}-{n}", std::process::id()),
                source: planned.source as i32,
                item_code: item.code.clone(),
                location: Some(Location {
                    point: Some(GeoPoint { latitude: planned.point.0, longitude: planned.point.1 }),
                    grid_code: spot.grid.clone(),
                    region_code: String::new(),
                    address: spot.name.clone(),
                    region: None,
                }),
                description: description(planned.source, &item.name),
                evidence_urls: vec![],
                occurred_at: None,
                reporter: Some(Reporter {
                    name: reporter_name(planned.source).into(),
                    phone: format!("1{}{:09}", rng.random_range(3..10), rng.random_range(0..1_000_000_000u32)),
                    account_id: if grid_worker { format!("gw-{}", spot.grid) } else { String::new() },
                }),
            };
            (request, token)
        };
        match intake.submit_event(with_token(request.clone(), &token)).await {
            Ok(r) => {
                let r = r.into_inner();
                println!(
                    "[demo] {} reported {} {} at {} -> {}{}",
                    EventSource::try_from(request.source).map(|s| s.as_str_name()).unwrap_or("?"),
                    request.item_code,
                    request.description,
                    request.location.as_ref().map(|l| l.grid_code.as_str()).unwrap_or_default(),
                    r.tracking_number,
                    if r.merged { " (merged into the open event)" } else { "" }
                );
            }
            Err(e) => println!("[demo] submit failed: {} {}", e.code(), e.message()),
        }
    }
}

/// What the reporter writes: the item's name in their words (intake wants 5 characters at
/// least, and some names are 4).
fn description(source: EventSource, item: &str) -> String {
    match source {
        EventSource::GridWorker => format!("网格巡查发现：{item}"),
        EventSource::Hotline12345 => format!("市民来电反映{item}，请尽快处理"),
        EventSource::Patrol => format!("巡逻途中发现：{item}"),
        EventSource::VideoAlarm => format!("视频智能识别告警：{item}"),
        EventSource::DepartmentReferral => format!("部门移交：{item}"),
        _ => format!("{item}，请尽快处理"),
    }
}

/// Who writes a report of `source`.
fn reporter_name(source: EventSource) -> &'static str {
    match source {
        EventSource::GridWorker => "网格员",
        EventSource::Hotline12345 => "12345热线来电人",
        EventSource::Patrol => "巡逻队员",
        EventSource::VideoAlarm => "视频监控中心",
        EventSource::DepartmentReferral => "部门移交",
        _ => "市民",
    }
}

/// Follows every task change and starts the script of each newly assigned, reopened or
/// mediated-and-resolved task.
async fn work(crew: Crew, mut rng: StdRng, shutdown: Shutdown) {
    let mut dispatch = crew.dispatch.clone();
    let watch = WatchTasksRequest { from_now: true, ..Default::default() };
    let mut feed = match dispatch.watch_tasks(with_token(watch, &crew.admin)).await {
        Ok(r) => r.into_inner(),
        Err(e) => {
            println!("[demo] cannot watch tasks: {}", e.message());
            return;
        }
    };
    loop {
        let change = tokio::select! {
            c = feed.next() => c,
            _ = shutdown.cancelled() => return,
        };
        let Some(Ok(change)) = change else { return };
        let Some(task) = change.task else { continue };
        let mediated = is_mediated(&task);
        let script = {
            let planner = lock(&crew.planner);
            match change.fact.as_str() {
                "task-assigned" if !mediated => planner.task_script(&mut rng, task.lead, true),
                "task-reopened" if !mediated => planner.task_script(&mut rng, task.lead, false),
                "task-resolved" if mediated => planner.mediated_script(&mut rng, task.lead),
                _ => continue,
            }
        };
        if !lock(&crew.playing).insert(task.id.clone()) {
            continue;
        }
        let (crew, shutdown) = (crew.clone(), shutdown.clone());
        tokio::spawn(async move {
            tokio::select! {
                _ = play(&crew, &task, &script) => {}
                _ = shutdown.cancelled() => {}
            }
            lock(&crew.playing).remove(&task.id);
        });
    }
}

/// Whether mediation works this task (a dispute item at a justice office, `<township>-sifa`).
fn is_mediated(task: &Task) -> bool {
    task.department_id.ends_with("-sifa")
        && (task.item_code.starts_with("06.01.") || task.item_code.starts_with("06.02."))
}

/// The request id of one step on one task.
fn step_id(task: &Task, n: usize, name: &str) -> String {
    format!("traffic-{name}-{n}-{}-{}", task.id.get(24..).unwrap_or(&task.id), task.version)
}

/// Plays `script` on `task`; stops at the first refused call (someone else acted first, or the
/// service is away), which leaves the task where it is, as a real desk would.
async fn play(crew: &Crew, task: &Task, script: &TaskScript) {
    let mut dispatch = crew.dispatch.clone();
    let department = department_token(&crew.secret, "department", &task.department_id, "");
    let village = task.grid_code.get(..12).unwrap_or_default();
    let checker = if task.grid_code.is_empty() {
        crew.admin.clone()
    } else {
        grid_worker_token(&crew.secret, &task.grid_code, village)
    };
    for (n, step) in script.steps.iter().enumerate() {
        tokio::time::sleep(step.after).await;
        let request = |name: &str| TaskRequest { request_id: step_id(task, n, name), task_id: task.id.clone() };
        let reason = |name: &str, reason: &str| TaskReasonRequest {
            request_id: step_id(task, n, name),
            task_id: task.id.clone(),
            reason: reason.into(),
        };
        let done = match step.action {
            Action::Return => {
                let r = reason("return", "不属于本部门职责，申请退回重新分派");
                dispatch.return_task(with_token(r, &department)).await.map(|_| ())
            }
            Action::Triage => {
                let r = TriageRequest {
                    request_id: step_id(task, n, "triage"),
                    task_id: task.id.clone(),
                    department_id: task.department_id.clone(),
                };
                dispatch.triage(with_token(r, &crew.admin)).await.map(|_| ())
            }
            Action::SignFor => dispatch.sign_for(with_token(request("sign"), &department)).await.map(|_| ()),
            Action::Resolve => {
                let r = ResolveRequest {
                    request_id: step_id(task, n, "resolve"),
                    task_id: task.id.clone(),
                    result: "已到场处置完毕".into(),
                    evidence_urls: vec!["https://evidence.example.org/after.jpg".into()],
                };
                dispatch.resolve(with_token(r, &department)).await.map(|_| ())
            }
            // A task the grid worker handled themselves is the center's to check.
            Action::RejectVerification => {
                let why = "复核未通过，现场仍有问题";
                match dispatch.reject_verification(with_token(reason("reject", why), &checker)).await {
                    Err(e) if e.code() == Code::PermissionDenied => {
                        dispatch.reject_verification(with_token(reason("reject-center", why), &crew.admin)).await
                    }
                    done => done,
                }
                .map(|_| ())
            }
            Action::Verify => match dispatch.verify(with_token(request("verify"), &checker)).await {
                Err(e) if e.code() == Code::PermissionDenied => {
                    dispatch.verify(with_token(request("verify-center"), &crew.admin)).await
                }
                done => done,
            }
            .map(|_| ()),
            Action::Close => dispatch.close(with_token(request("close"), &crew.admin)).await.map(|_| ()),
            Action::Rate { dissatisfied } => {
                // The reopening this may cause is a new script's to play.
                lock(&crew.playing).remove(&task.id);
                rate(crew, task, dissatisfied).await;
                Ok(())
            }
        };
        if let Err(e) = done {
            println!("[demo] {} {:?}: {} {}", task.tracking_number, step.action, e.code(), e.message());
            return;
        }
        say(task, step.action, script);
    }
}

/// The live line of one action.
fn say(task: &Task, action: Action, script: &TaskScript) {
    let (t, d) = (&task.tracking_number, &task.department_id);
    match action {
        Action::Return => println!("[demo] {d} returned {t} (not theirs)"),
        Action::Triage => println!("[demo] center assigned {t} to {d} again"),
        Action::SignFor => {
            println!("[demo] {d} signed for {t} ({}){}", task.item_name, if script.late { ", late" } else { "" })
        }
        Action::Resolve => println!("[demo] {d} resolved {t}"),
        Action::RejectVerification => println!("[demo] verification of {t} failed: back to {d} for rework"),
        Action::Verify => println!("[demo] {t} verified on site"),
        Action::Close => println!("[demo] {t} closed"),
        Action::Rate { .. } => {}
    }
}

/// The reporter of a lead task rates its outcome through intake. The public status follows
/// the task a moment later, so a refused rating is tried again a few times.
async fn rate(crew: &Crew, task: &Task, dissatisfied: bool) {
    let mut intake = crew.intake.clone();
    let rating = if dissatisfied { Rating::Dissatisfied } else { Rating::Satisfied };
    for attempt in 0..10 {
        let rate = RateOutcomeRequest {
            request_id: format!("traffic-rate{attempt}-{}-{}", task.id.get(24..).unwrap_or(&task.id), task.version),
            tracking_number: task.tracking_number.clone(),
            rating: rating as i32,
            comment: if dissatisfied { "问题没有真正解决".into() } else { "处理及时".into() },
            // Staff (the demo rates as the center's callback operator) need no proof.
            phone_last4: String::new(),
        };
        if intake.rate_outcome(with_token(rate, &crew.admin)).await.is_ok() {
            println!("[demo] reporter of {} rated {}", task.tracking_number, rating.as_str_name());
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Locks `m`, even after a panic elsewhere (the data stays consistent: every change is one
/// assignment).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
