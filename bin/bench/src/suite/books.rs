//! The books after the run, as `tests/src/books.rs` keeps them for the fault tests: every
//! accepted report must have become exactly one `event-reported` fact, one task, one
//! `task-assigned` fact and one notification at the department's webhook, and every outbox
//! must be empty. Facts are counted on the streams (JetStream, not the bench's core
//! subscriptions), tasks by dispatch's ListTasks, notifications by the receiver.

use std::{
    collections::{HashMap, HashSet},
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use async_nats::jetstream::{self, consumer::pull};
use civicgrid_proto::v1::{ListTasksRequest, dispatch_service_client::DispatchServiceClient};
use futures::StreamExt;
use serde::Serialize;

use super::{
    timeline::{Id, Timeline, id},
    up::Up,
};

/// What became of the accepted reports.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Books {
    /// Reports accepted (answers received), in every phase.
    pub accepted: u64,
    /// Distinct event ids among them (fewer: two reports answered with one event).
    pub distinct: u64,
    /// Events without an `event-reported` fact on CIVICGRID_INTAKE.
    pub events_lost: u64,
    /// Events with more than one.
    pub events_doubled: u64,
    /// Tasks of the department (ListTasks).
    pub tasks: u64,
    /// Accepted events without a task there.
    pub events_without_task: u64,
    /// Events with more than one task.
    pub events_with_more_tasks: u64,
    /// Tasks of events the bench did not submit.
    pub stray_tasks: u64,
    /// Tasks without a `task-assigned` fact on CIVICGRID_DISPATCH.
    pub assigned_lost: u64,
    /// Tasks with more than one.
    pub assigned_doubled: u64,
    /// Tasks whose department's webhook never received a notification.
    pub webhooks_lost: u64,
    /// Tasks whose department received more than one notification.
    pub webhooks_doubled: u64,
    /// Webhook calls that repeated a notification already received (at-least-once delivery:
    /// receivers drop them by delivery id; not a fault of the books).
    pub webhook_repeats: u64,
    /// Webhook calls received in all.
    pub webhook_calls: u64,
    /// Messages or calls the bench could not read.
    pub unreadable: u64,
    /// Services whose outbox still held messages, and how many.
    pub outboxes_left: Vec<(String, f64)>,
    /// Messages on every stream of the suite after the run (facts of every service): what the
    /// loop costs JetStream, with `accepted`.
    pub stream_messages: u64,
}

impl Books {
    /// Whether every accepted report became exactly one of everything and nothing was left.
    pub fn balanced(&self) -> bool {
        self.distinct == self.accepted
            && self.tasks == self.distinct
            && [
                self.events_lost,
                self.events_doubled,
                self.events_without_task,
                self.events_with_more_tasks,
                self.stray_tasks,
                self.assigned_lost,
                self.assigned_doubled,
                self.webhooks_lost,
                self.webhooks_doubled,
                self.unreadable,
            ]
            .iter()
            .all(|n| *n == 0)
            && self.outboxes_left.is_empty()
    }

    /// Prints the books.
    pub fn print(&self) {
        use crate::field;
        field("reports accepted", format!("{} ({} distinct events)", self.accepted, self.distinct));
        field("event-reported facts", format!("{} lost, {} doubled", self.events_lost, self.events_doubled));
        field(
            "tasks (ListTasks)",
            format!(
                "{} (events without one: {}, with more than one: {}, not ours: {})",
                self.tasks, self.events_without_task, self.events_with_more_tasks, self.stray_tasks
            ),
        );
        field("task-assigned facts", format!("{} lost, {} doubled", self.assigned_lost, self.assigned_doubled));
        field(
            "webhooks received",
            format!(
                "{} lost, {} doubled ({} calls; {} repeats of a notification already received)",
                self.webhooks_lost, self.webhooks_doubled, self.webhook_calls, self.webhook_repeats
            ),
        );
        field(
            "messages on the streams",
            format!(
                "{} in all, {:.1} per accepted report (every service's facts)",
                self.stream_messages,
                self.stream_messages as f64 / self.accepted.max(1) as f64
            ),
        );
        if self.unreadable > 0 {
            field("unreadable", self.unreadable);
        }
        if !self.outboxes_left.is_empty() {
            field("outboxes not empty", format!("{:?}", self.outboxes_left));
        }
        field("balanced", if self.balanced() { "yes" } else { "NO" });
    }
}

/// Counts the books of everything `timeline` holds; `accepted` is the number of accepted
/// answers (one event id each). Waits up to `patience` for the outboxes to empty.
pub async fn count(
    up: &Up,
    js: &jetstream::Context,
    timeline: &Timeline,
    accepted: u64,
    department: &str,
    patience: Duration,
) -> Result<Books> {
    let deadline = Instant::now() + patience;
    let mut outboxes_left = Vec::new();
    for service in ["intake", "dispatch", "notify"] {
        let port = up.metrics.get(service).copied().unwrap_or(0);
        loop {
            let pending = outbox_pending(port).await;
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
    let reported = subjects_on(js, "CIVICGRID_INTAKE", "civicgrid.intake.event-reported.>").await?;
    let assigned = subjects_on(js, "CIVICGRID_DISPATCH", "civicgrid.dispatch.task-assigned.>").await?;
    let tasks = tasks_of(&up.grpc_url("dispatch"), department).await?;
    let mut stream_messages = 0;
    let mut names = js.stream_names();
    while let Some(Ok(name)) = names.next().await {
        if let Ok(mut stream) = js.get_stream(&name).await
            && let Ok(info) = stream.info().await
        {
            stream_messages += info.state.messages;
        }
    }

    let o = timeline.lock();
    let events: HashSet<Id> = o.answers.keys().copied().collect();
    let mut books = Books {
        accepted,
        distinct: events.len() as u64,
        tasks: tasks.len() as u64,
        webhook_repeats: o.hook_repeats,
        webhook_calls: o.hook_calls,
        unreadable: o.unreadable,
        outboxes_left,
        stream_messages,
        ..Default::default()
    };
    for e in &events {
        match reported.get(e) {
            None => books.events_lost += 1,
            Some(n) if *n > 1 => books.events_doubled += 1,
            _ => {}
        }
    }
    let mut per_event: HashMap<Id, u64> = HashMap::new();
    for (task, event) in &tasks {
        *per_event.entry(*event).or_default() += 1;
        if !events.contains(event) {
            books.stray_tasks += 1;
        }
        match assigned.get(task) {
            None => books.assigned_lost += 1,
            Some(n) if *n > 1 => books.assigned_doubled += 1,
            _ => {}
        }
        match o.hooks.get(task) {
            None => books.webhooks_lost += 1,
            Some(h) if h.notes > 1 => books.webhooks_doubled += 1,
            _ => {}
        }
    }
    books.events_without_task = events.iter().filter(|e| !per_event.contains_key(e)).count() as u64;
    books.events_with_more_tasks = per_event.values().filter(|n| **n > 1).count() as u64;
    Ok(books)
}

/// `civicgrid_outbox_pending` from a service's `GET /metrics`; `None` when it does not answer.
pub async fn outbox_pending(port: u16) -> Option<f64> {
    let text = reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await.ok()?.text().await.ok()?;
    text.lines()
        .find(|l| l.starts_with("civicgrid_outbox_pending{") || l.starts_with("civicgrid_outbox_pending "))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// How many messages on `stream` under `filter` name each `ce-subject`.
async fn subjects_on(js: &jetstream::Context, stream: &str, filter: &str) -> Result<HashMap<Id, u64>> {
    let stream = js.get_stream(stream).await.map_err(|e| anyhow::anyhow!("stream {stream}: {e}"))?;
    let consumer = stream
        .create_consumer(pull::Config {
            filter_subject: filter.into(),
            ack_policy: jetstream::consumer::AckPolicy::None,
            inactive_threshold: Duration::from_secs(60),
            ..Default::default()
        })
        .await
        .map_err(|e| anyhow::anyhow!("a consumer on {filter}: {e}"))?;
    let mut counts = HashMap::new();
    loop {
        let mut batch = consumer
            .fetch()
            .max_messages(1000)
            .expires(Duration::from_secs(1))
            .messages()
            .await
            .map_err(|e| anyhow::anyhow!("fetching {filter}: {e}"))?;
        let mut got = 0;
        while let Some(Ok(m)) = batch.next().await {
            got += 1;
            // A message without a readable subject counts under 0, which is no event's id.
            let subject = m.headers.as_ref().and_then(|h| h.get("ce-subject")).and_then(|v| id(v.as_str()));
            *counts.entry(subject.unwrap_or(0)).or_default() += 1;
        }
        if got == 0 {
            return Ok(counts);
        }
    }
}

/// Every task of `department` (task → event), through ListTasks in pages of 500.
async fn tasks_of(dispatch: &str, department: &str) -> Result<HashMap<Id, Id>> {
    let channel = tonic::transport::Endpoint::from_shared(dispatch.to_string())?
        .timeout(Duration::from_secs(60))
        .connect()
        .await
        .context("connecting to dispatch")?;
    let mut client = DispatchServiceClient::new(channel).max_decoding_message_size(64 << 20);
    let mut tasks = HashMap::new();
    let mut page_token = String::new();
    loop {
        let request = ListTasksRequest {
            department_id: department.into(),
            page_size: 500,
            page_token: page_token.clone(),
            ..Default::default()
        };
        let page = client.list_tasks(request).await.context("ListTasks")?.into_inner();
        for t in page.tasks {
            // An unreadable id counts under 0: a task of no event of ours.
            tasks.insert(id(&t.id).unwrap_or(0), id(&t.event_id).unwrap_or(0));
        }
        if page.next_page_token.is_empty() {
            return Ok(tasks);
        }
        page_token = page.next_page_token;
    }
}
