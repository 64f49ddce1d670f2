//! The books of a suite under faults: reports submitted by retrying clients while processes are
//! killed, and afterwards the count of what became of every accepted report — its
//! `event-reported` fact, its task, its `task-assigned` fact and its department's notification,
//! each of which must exist exactly once. Shared by the end-to-end fault tests (`tests/e2e/`)
//! and the long run (`civicgrid-faults`); the faults themselves are in [`crate::kills`].

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    fmt,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use async_nats::jetstream::{self, consumer::pull};
use backon::{ConstantBuilder, Retryable};
use civicgrid_proto::v1::{
    EventSource, GeoPoint, ListInboxRequest, ListTasksRequest, Location, Reporter, SubmitEventRequest,
    dispatch_service_client::DispatchServiceClient, intake_service_client::IntakeServiceClient,
    notify_service_client::NotifyServiceClient,
};
use futures::StreamExt;
use tonic::transport::Channel;

use crate::Suite;

/// Report `i`: its own request id, and its own place (about 500 m from every other, far beyond
/// intake's duplicate radius, so no two reports merge into one event).
pub fn report(i: usize) -> SubmitEventRequest {
    SubmitEventRequest {
        request_id: format!("fault-{i:06}"),
        source: EventSource::GridWorker as i32,
        item_code: "03.01.002".into(),
        location: Some(Location {
            point: Some(GeoPoint {
                latitude: 30.0 + (i / 200) as f64 * 0.005,
                longitude: 114.0 + (i % 200) as f64 * 0.005,
            }),
            grid_code: "411602002001001".into(),
            ..Default::default()
        }),
        description: "垃圾桶满溢未及时清运".into(),
        reporter: Some(Reporter { phone: "13900001111".into(), ..Default::default() }),
        ..Default::default()
    }
}

/// Submits report `i` on `client` (connecting to `endpoint` when there is none) until intake
/// answers, as a real client does: a retry reuses the request id. Gives up after `patience`.
pub async fn submit_with_retries(
    client: &mut Option<IntakeServiceClient<Channel>>,
    endpoint: &str,
    i: usize,
    patience: Duration,
) -> Result<String, String> {
    let deadline = Instant::now() + patience;
    let mut last = String::new();
    loop {
        if client.is_none() {
            match IntakeServiceClient::connect(endpoint.to_string()).await {
                Ok(c) => *client = Some(c),
                Err(e) => last = e.to_string(),
            }
        }
        if let Some(c) = client.as_mut() {
            match c.submit_event(report(i)).await {
                Ok(answer) => return Ok(answer.into_inner().event_id),
                Err(status) => {
                    last = status.to_string();
                    // A fresh connection next time: the old one may lead to a dead process.
                    *client = None;
                }
            }
        }
        if Instant::now() > deadline {
            return Err(format!("report {i} not accepted within {patience:?}: {last}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// How many reports, from how many clients at once.
#[derive(Debug, Clone)]
pub struct Load {
    /// Reports in all, numbered from 0.
    pub reports: usize,
    /// Clients submitting at once; each sends its share one after another.
    pub clients: usize,
    /// How long a client retries one report before giving up on it.
    pub patience: Duration,
    answered: Arc<AtomicUsize>,
}

impl Load {
    /// `reports` reports from `clients` clients, each retried for up to two minutes.
    pub fn new(reports: usize, clients: usize) -> Load {
        Load { reports, clients: clients.max(1), patience: Duration::from_secs(120), answered: Arc::default() }
    }

    /// A counter of the reports answered so far (accepted or given up), for fault loops that
    /// run until the load is done.
    pub fn answered(&self) -> Arc<AtomicUsize> {
        self.answered.clone()
    }

    /// Whether every report has been answered or given up on.
    pub fn done(&self) -> bool {
        self.answered.load(Ordering::SeqCst) >= self.reports
    }
}

/// What the clients got: the accepted event ids, and the reports never accepted.
#[derive(Debug, Default)]
pub struct Submitted {
    /// One event id per accepted report.
    pub accepted: Vec<String>,
    /// Why each report that was never accepted was not.
    pub refused: Vec<String>,
}

/// Submits `load` while `faults` runs, and waits for both.
pub async fn submit_while(suite: &Suite, load: &Load, faults: impl std::future::Future<Output = ()>) -> Submitted {
    let intake = format!("http://{}", suite.intake);
    let submitters: Vec<_> = (0..load.clients)
        .map(|c| {
            let (intake, load) = (intake.clone(), load.clone());
            tokio::spawn(async move {
                let mut client = None;
                let mut results = Vec::new();
                for i in (c..load.reports).step_by(load.clients) {
                    results.push(submit_with_retries(&mut client, &intake, i, load.patience).await);
                    load.answered.fetch_add(1, Ordering::SeqCst);
                }
                results
            })
        })
        .collect();
    faults.await;
    let mut submitted = Submitted::default();
    for s in submitters {
        match s.await {
            Ok(results) => {
                for r in results {
                    match r {
                        Ok(id) => submitted.accepted.push(id),
                        Err(e) => submitted.refused.push(e),
                    }
                }
            }
            Err(e) => submitted.refused.push(format!("a client failed: {e}")),
        }
    }
    submitted
}

/// What became of the accepted reports.
#[derive(Debug, Default)]
pub struct Books {
    /// Reports accepted (answers received).
    pub accepted: usize,
    /// Distinct event ids among them (fewer means two reports were answered with one event).
    pub distinct: usize,
    /// Events without an `event-reported` fact on intake's stream.
    pub events_lost: usize,
    /// Events with more than one.
    pub events_doubled: usize,
    /// Tasks of the accepted events.
    pub tasks: usize,
    /// Events dispatch made no task of.
    pub events_without_task: usize,
    /// Events dispatch made more than one task of.
    pub events_with_more_tasks: usize,
    /// Tasks without a `task-assigned` fact on dispatch's stream.
    pub assigned_lost: usize,
    /// Tasks with more than one.
    pub assigned_doubled: usize,
    /// Tasks whose department was never told.
    pub told_lost: usize,
    /// Tasks whose department was told more than once.
    pub told_doubled: usize,
    /// Services whose outbox still held messages, and how many.
    pub outboxes_left: Vec<(String, f64)>,
}

impl Books {
    /// Whether every accepted report became exactly one of everything and nothing was left.
    pub fn balanced(&self) -> bool {
        self.distinct == self.accepted
            && [
                self.events_lost,
                self.events_doubled,
                self.events_without_task,
                self.events_with_more_tasks,
                self.assigned_lost,
                self.assigned_doubled,
                self.told_lost,
                self.told_doubled,
            ]
            .iter()
            .all(|n| *n == 0)
            && self.outboxes_left.is_empty()
    }
}

impl fmt::Display for Books {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "  reports accepted       {} ({} distinct events)", self.accepted, self.distinct)?;
        writeln!(f, "  event-reported facts   {} lost, {} doubled", self.events_lost, self.events_doubled)?;
        writeln!(
            f,
            "  tasks                  {} (events without one: {}, with more than one: {})",
            self.tasks, self.events_without_task, self.events_with_more_tasks
        )?;
        writeln!(f, "  task-assigned facts    {} lost, {} doubled", self.assigned_lost, self.assigned_doubled)?;
        write!(f, "  notifications          {} lost, {} doubled", self.told_lost, self.told_doubled)?;
        if !self.outboxes_left.is_empty() {
            write!(f, "\n  outboxes not empty     {:?}", self.outboxes_left)?;
        }
        Ok(())
    }
}

/// Counts the books of `accepted`, waiting up to `patience` for the suite to finish its work
/// (tasks made, outboxes emptied, departments told) before calling anything lost.
pub async fn count(suite: &Suite, accepted: &[String], patience: Duration) -> Result<Books, String> {
    let distinct: HashSet<&String> = accepted.iter().collect();
    let deadline = Instant::now() + patience;
    let tasks = tasks_of(suite, &distinct, deadline).await?;

    // Every outbox empty (so every fact is on the bus) before the bus is counted.
    let mut outboxes_left = Vec::new();
    for service in ["intake", "dispatch", "notify"] {
        loop {
            let pending = outbox_pending(suite, service).await;
            if pending == Some(0.0) {
                break;
            }
            if Instant::now() > deadline {
                outboxes_left.push((service.to_string(), pending.unwrap_or(f64::NAN)));
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let js = jetstream::new(suite.nats().await);
    let reported = subjects_on_patiently(&js, "CIVICGRID_INTAKE", "civicgrid.intake.event-reported.>").await?;
    let assigned = subjects_on_patiently(&js, "CIVICGRID_DISPATCH", "civicgrid.dispatch.task-assigned.>").await?;
    let all_tasks: HashSet<&String> = tasks.values().flatten().map(|(t, _)| t).collect();
    let departments: HashSet<&String> = tasks.values().flatten().map(|(_, d)| d).collect();
    let told = notifications(suite, &departments, &all_tasks, deadline).await?;

    let count = |m: &HashMap<String, usize>, keys: &HashSet<&String>| {
        let lost = keys.iter().filter(|k| !m.contains_key(**k)).count();
        let doubled = keys.iter().filter(|k| m.get(**k).is_some_and(|n| *n > 1)).count();
        (lost, doubled)
    };
    let (events_lost, events_doubled) = count(&reported, &distinct);
    let (assigned_lost, assigned_doubled) = count(&assigned, &all_tasks);
    let (told_lost, told_doubled) = count(&told, &all_tasks);
    Ok(Books {
        accepted: accepted.len(),
        distinct: distinct.len(),
        events_lost,
        events_doubled,
        tasks: all_tasks.len(),
        events_without_task: distinct.len() - tasks.len(),
        events_with_more_tasks: tasks.values().filter(|t| t.len() > 1).count(),
        assigned_lost,
        assigned_doubled,
        told_lost,
        told_doubled,
        outboxes_left,
    })
}

/// An event's tasks: each one's id and department.
type Tasks = Vec<(String, String)>;

/// Each event's tasks, asking dispatch eight at a time; an event still without one at
/// `deadline` is left out.
async fn tasks_of(
    suite: &Suite,
    events: &HashSet<&String>,
    deadline: Instant,
) -> Result<BTreeMap<String, Tasks>, String> {
    let dispatch = DispatchServiceClient::new(lazy_channel(&suite.dispatch)?);
    let found: Vec<Option<(String, Tasks)>> = futures::stream::iter(events.iter().map(|event| {
        let mut dispatch = dispatch.clone();
        let event = event.to_string();
        async move {
            loop {
                let request = ListTasksRequest { event_id: event.clone(), ..Default::default() };
                if let Ok(answer) = dispatch.list_tasks(request).await {
                    let found: Tasks = answer.into_inner().tasks.into_iter().map(|t| (t.id, t.department_id)).collect();
                    if !found.is_empty() {
                        return Some((event, found));
                    }
                }
                if Instant::now() > deadline {
                    return None;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }))
    .buffer_unordered(8)
    .collect()
    .await;
    Ok(found.into_iter().flatten().collect())
}

/// `civicgrid_outbox_pending` of `service`, read from its `GET /metrics`; `None` when it does not
/// answer.
async fn outbox_pending(suite: &Suite, service: &str) -> Option<f64> {
    let url = format!("http://{}/metrics", suite.metrics.get(service)?);
    let text = reqwest::get(url).await.ok()?.text().await.ok()?;
    text.lines()
        .find(|l| l.starts_with("civicgrid_outbox_pending{") || l.starts_with("civicgrid_outbox_pending "))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// [`subjects_on`], counted again from the start, a second apart, for about a minute while
/// JetStream's API requests fail: right after a cluster node was killed, a replicated stream may
/// still be electing its leader, and a request then times out (seen on a slow machine in
/// `cluster::a_cluster_node_killed_again_and_again_loses_nothing`).
async fn subjects_on_patiently(
    js: &jetstream::Context,
    stream: &str,
    filter: &str,
) -> Result<HashMap<String, usize>, String> {
    (|| subjects_on(js, stream, filter))
        .retry(ConstantBuilder::new().with_delay(Duration::from_secs(1)).with_max_times(60))
        .sleep(tokio::time::sleep)
        .notify(|e, _| eprintln!("books: counting {stream} failed ({e}); counting again"))
        .await
}

/// Every message's `ce-subject` on `stream` under `filter`, counted.
async fn subjects_on(js: &jetstream::Context, stream: &str, filter: &str) -> Result<HashMap<String, usize>, String> {
    let stream = js.get_stream(stream).await.map_err(|e| e.to_string())?;
    let consumer = stream
        .create_consumer(pull::Config {
            filter_subject: filter.into(),
            ack_policy: jetstream::consumer::AckPolicy::None,
            ..Default::default()
        })
        .await
        .map_err(|e| e.to_string())?;
    let mut counts = HashMap::new();
    loop {
        let mut batch = consumer
            .fetch()
            .max_messages(500)
            .expires(Duration::from_secs(1))
            .messages()
            .await
            .map_err(|e| e.to_string())?;
        let mut got = 0;
        while let Some(Ok(m)) = batch.next().await {
            got += 1;
            let subject =
                m.headers.as_ref().and_then(|h| h.get("ce-subject")).map(|v| v.to_string()).unwrap_or_default();
            *counts.entry(subject).or_default() += 1;
        }
        if got == 0 {
            return Ok(counts);
        }
    }
}

/// How many `task-assigned` notifications each task's department got, read until every task
/// has one or `deadline` passes (notify works off its own consumer).
async fn notifications(
    suite: &Suite,
    departments: &HashSet<&String>,
    tasks: &HashSet<&String>,
    deadline: Instant,
) -> Result<HashMap<String, usize>, String> {
    let mut notify = NotifyServiceClient::new(lazy_channel(&suite.notify)?);
    loop {
        let mut told: HashMap<String, usize> = HashMap::new();
        let mut failed = None;
        'departments: for department in departments {
            let mut page_token = String::new();
            loop {
                let request = ListInboxRequest {
                    recipient: format!("department:{department}"),
                    page_size: 200,
                    page_token: page_token.clone(),
                    ..Default::default()
                };
                let page = match notify.list_inbox(request).await {
                    Ok(page) => page.into_inner(),
                    // notify may be restarting (a kill point fired late): read again.
                    Err(status) => {
                        failed = Some(status.to_string());
                        break 'departments;
                    }
                };
                for n in page.notifications.iter().filter(|n| n.fact == "task-assigned") {
                    *told.entry(n.subject_id.clone()).or_default() += 1;
                }
                if page.next_page_token.is_empty() {
                    break;
                }
                page_token = page.next_page_token;
            }
        }
        match failed {
            None if tasks.iter().all(|t| told.contains_key(*t)) => return Ok(told),
            None if Instant::now() > deadline => return Ok(told),
            Some(e) if Instant::now() > deadline => return Err(format!("notify's ListInbox: {e}")),
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A channel to `address` that connects at its first call and again after a failure, so a
/// service restarting at that moment costs a retry, not the count.
fn lazy_channel(address: &str) -> Result<Channel, String> {
    Ok(tonic::transport::Endpoint::from_shared(format!("http://{address}"))
        .map_err(|e| e.to_string())?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .connect_lazy())
}
