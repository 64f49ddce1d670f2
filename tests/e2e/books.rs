//! The books after faults: reports flow from four clients (retrying with the same request id, as
//! a real client does) while intake, dispatch, notify, nats-server and PostgreSQL are each killed
//! with SIGKILL at seeded random moments, twice, and `civicgrid up` restarts them. Then every
//! accepted report must have exactly one event fact, exactly one task, exactly one
//! `task-assigned` fact and exactly one notification of its department, and no outbox may hold
//! anything. The books are printed.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    time::{Duration, Instant},
};

use async_nats::jetstream::{self, consumer::pull};
use civicgrid_dev::testing::metrics;
use civicgrid_e2e::Suite;
use civicgrid_proto::v1::{
    ListInboxRequest, ListTasksRequest, dispatch_service_client::DispatchServiceClient,
    notify_service_client::NotifyServiceClient,
};
use futures::StreamExt;
use rand::{Rng, SeedableRng, seq::SliceRandom};

use crate::faults::submit_with_retries;

/// Reports in all, and clients submitting them at once.
const REPORTS: usize = 200;
const CLIENTS: usize = 4;

/// Kills `name` (a service, `nats-server` or `postgres`) with SIGKILL and waits until `up` runs
/// a new one.
async fn kill_and_await_restart(suite: &Suite, name: &str) {
    let old = suite.service_pid(name);
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(old, libc::SIGKILL) };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let alive = |pid: i32| std::path::Path::new(&format!("/proc/{pid}")).exists();
        let pid_file = suite.state.path().join(format!("logs/{name}.pid"));
        let new = std::fs::read_to_string(pid_file).ok().and_then(|s| s.trim().parse::<i32>().ok());
        if let Some(new) = new.filter(|p| *p != old && alive(*p)) {
            eprintln!("books: killed {name} ({old}); {new} runs");
            return;
        }
        assert!(Instant::now() < deadline, "{name} was not restarted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every message's `ce-subject` on `stream` under `filter`, counted.
async fn subjects_on(js: &jetstream::Context, stream: &str, filter: &str) -> HashMap<String, usize> {
    let stream = js.get_stream(stream).await.unwrap();
    let consumer = stream
        .create_consumer(pull::Config {
            filter_subject: filter.into(),
            ack_policy: jetstream::consumer::AckPolicy::None,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut counts = HashMap::new();
    loop {
        let mut batch = consumer.fetch().max_messages(500).expires(Duration::from_secs(1)).messages().await.unwrap();
        let mut got = 0;
        while let Some(Ok(m)) = batch.next().await {
            got += 1;
            let subject =
                m.headers.as_ref().and_then(|h| h.get("ce-subject")).map(|v| v.to_string()).unwrap_or_default();
            *counts.entry(subject).or_default() += 1;
        }
        if got == 0 {
            return counts;
        }
    }
}

/// Submits [`REPORTS`] reports from [`CLIENTS`] clients while `faults` runs; returns the
/// accepted event ids (each client retries with the same request id until it is answered).
pub(crate) async fn submit_while(suite: &Suite, faults: impl std::future::Future<Output = ()>) -> Vec<String> {
    let intake = format!("http://{}", suite.intake);
    let submitters: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let intake = intake.clone();
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for i in (c..REPORTS).step_by(CLIENTS) {
                    ids.push(submit_with_retries(intake.clone(), i).await);
                }
                ids
            })
        })
        .collect();
    faults.await;
    let mut accepted = Vec::new();
    for s in submitters {
        accepted.extend(s.await.unwrap());
    }
    accepted
}

#[tokio::test(flavor = "multi_thread")]
async fn reports_flow_through_kills_of_every_process_and_the_books_balance() {
    let suite = tokio::task::spawn_blocking(|| Suite::up(&["--no-demo", "--quiet"])).await.unwrap();
    // The faults, in a seeded order, while the clients submit.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(20261206);
    let mut faults: Vec<&str> = ["intake", "dispatch", "notify", "nats-server", "postgres"].repeat(2);
    faults.shuffle(&mut rng);
    let accepted = submit_while(&suite, async {
        for name in &faults {
            tokio::time::sleep(Duration::from_millis(rng.random_range(800..2500))).await;
            kill_and_await_restart(&suite, name).await;
        }
    })
    .await;
    check_books(&suite, &accepted, &format!("{} kills ({})", faults.len(), faults.join(", "))).await;
}

/// Checks and prints the books of `accepted` after `faults`: exactly one event fact, task,
/// `task-assigned` fact and department notification each; every outbox empty.
pub(crate) async fn check_books(suite: &Suite, accepted: &[String], faults: &str) {
    let distinct: HashSet<&String> = accepted.iter().collect();

    // Every accepted report gets its one task.
    let mut dispatch = DispatchServiceClient::connect(format!("http://{}", suite.dispatch)).await.unwrap();
    let mut tasks: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(180);
    for event in &distinct {
        loop {
            let request = ListTasksRequest { event_id: event.to_string(), ..Default::default() };
            if let Ok(answer) = dispatch.list_tasks(request).await {
                let found: Vec<(String, String)> =
                    answer.into_inner().tasks.into_iter().map(|t| (t.id, t.department_id)).collect();
                if !found.is_empty() {
                    tasks.insert(event.to_string(), found);
                    break;
                }
            }
            assert!(Instant::now() < deadline, "event {event} has no task");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    // Nothing left in any outbox (so every fact is on the bus) before the bus is counted.
    let deadline = Instant::now() + Duration::from_secs(60);
    for service in ["intake", "dispatch", "notify"] {
        let addr = suite.metrics[service].parse().unwrap();
        while metrics::scrape(addr).await.value("civicgrid_outbox_pending", &[]) != Some(0.0) {
            assert!(Instant::now() < deadline, "{service}'s outbox is not empty");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let js = jetstream::new(suite.nats().await);
    let reported = subjects_on(&js, "CIVICGRID_INTAKE", "civicgrid.intake.event-reported.>").await;
    let assigned = subjects_on(&js, "CIVICGRID_DISPATCH", "civicgrid.dispatch.task-assigned.>").await;

    // Each task's department was told once (notify works off its own consumer: wait for it).
    let mut notify = NotifyServiceClient::connect(format!("http://{}", suite.notify)).await.unwrap();
    let departments: HashSet<&String> = tasks.values().flatten().map(|(_, d)| d).collect();
    let all_tasks: HashSet<&String> = tasks.values().flatten().map(|(t, _)| t).collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    let told = loop {
        let mut told: HashMap<String, usize> = HashMap::new();
        for department in &departments {
            let mut page_token = String::new();
            loop {
                let request = ListInboxRequest {
                    recipient: format!("department:{department}"),
                    page_size: 200,
                    page_token: page_token.clone(),
                    ..Default::default()
                };
                let page = notify.list_inbox(request).await.unwrap().into_inner();
                for n in page.notifications.iter().filter(|n| n.fact == "task-assigned") {
                    *told.entry(n.subject_id.clone()).or_default() += 1;
                }
                if page.next_page_token.is_empty() {
                    break;
                }
                page_token = page.next_page_token;
            }
        }
        if all_tasks.iter().all(|t| told.contains_key(*t)) || Instant::now() > deadline {
            break told;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };

    let count = |m: &HashMap<String, usize>, keys: &HashSet<&String>| {
        let lost = keys.iter().filter(|k| !m.contains_key(**k)).count();
        let doubled = keys.iter().filter(|k| m.get(**k).is_some_and(|n| *n > 1)).count();
        (lost, doubled)
    };
    let tasks_per_event: Vec<usize> = tasks.values().map(Vec::len).collect();
    let (events_lost, events_doubled) = count(&reported, &distinct);
    let (assigned_lost, assigned_doubled) = count(&assigned, &all_tasks);
    let (told_lost, told_doubled) = count(&told, &all_tasks);
    println!(
        "books after {}:\n  reports accepted       {} ({} distinct events)\n  \
         event-reported facts   {} lost, {} doubled\n  tasks                  {} (events with more than one: {})\n  \
         task-assigned facts    {} lost, {} doubled\n  notifications          {} lost, {} doubled",
        faults,
        accepted.len(),
        distinct.len(),
        events_lost,
        events_doubled,
        all_tasks.len(),
        tasks_per_event.iter().filter(|n| **n > 1).count(),
        assigned_lost,
        assigned_doubled,
        told_lost,
        told_doubled,
    );
    assert_eq!(accepted.len(), REPORTS);
    assert_eq!(distinct.len(), REPORTS, "two requests were answered with one event");
    assert_eq!((events_lost, events_doubled), (0, 0));
    assert!(tasks_per_event.iter().all(|n| *n == 1), "{tasks_per_event:?}");
    assert_eq!((assigned_lost, assigned_doubled), (0, 0));
    assert_eq!((told_lost, told_doubled), (0, 0));
}
