//! When each report passed each point of the loop, as seen from the bench: its submission was
//! sent and answered; its `event-reported` fact and its task's `task-assigned` fact went by on
//! the bus (core NATS subscriptions as `up`'s operator); the department's webhook received the
//! notification (a receiver in this process). Correlated by event id, and task id → event id
//! from the `task-assigned` fact.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex, MutexGuard},
    time::Instant,
};

use anyhow::{Context, Result};
use civicgrid_kit::Shutdown;
use civicgrid_proto::v1::TaskEvent;
use futures::StreamExt;
use prost::Message;

/// A UUID as a number (event and task ids).
pub type Id = u128;

/// Parses a UUID from the network; `None` for anything else.
pub fn id(text: &str) -> Option<Id> {
    uuid::Uuid::parse_str(text.trim()).ok().map(|u| u.as_u128())
}

/// A report the bench submitted and intake accepted.
#[derive(Debug, Clone, Copy)]
pub struct Answer {
    /// The phase it belongs to.
    pub phase: usize,
    /// When it was due to be sent (open loop) or sent (closed loop).
    pub sent: Instant,
    /// When intake's answer arrived.
    pub answered: Instant,
}

/// A fact seen on the bus: the first time, and how many times.
#[derive(Debug, Clone, Copy)]
pub struct Seen {
    /// First arrival.
    pub at: Instant,
    /// Arrivals (more than one: published twice).
    pub count: u32,
}

/// Webhook notifications of one task.
#[derive(Debug, Clone, Copy)]
pub struct Hooked {
    /// The first call's arrival.
    pub at: Instant,
    /// Distinct notifications (more than one: the department was told twice).
    pub notes: u32,
}

/// Everything observed.
#[derive(Default)]
pub struct Observed {
    /// Accepted reports by event id.
    pub answers: HashMap<Id, Answer>,
    /// `event-reported` facts by event id.
    pub reported: HashMap<Id, Seen>,
    /// `task-assigned` facts by event id, with the task.
    pub assigned: HashMap<Id, (Seen, Id)>,
    /// Task → event, from the `task-assigned` facts.
    pub task_event: HashMap<Id, Id>,
    /// Webhook notifications by task id.
    pub hooks: HashMap<Id, Hooked>,
    /// Notification ids received (a second call with one of them is a repeat).
    notification_ids: HashSet<String>,
    /// Webhook calls received.
    pub hook_calls: u64,
    /// Calls that repeated a notification already received (notify's at-least-once retries).
    pub hook_repeats: u64,
    /// Messages or calls the bench could not read.
    pub unreadable: u64,
}

/// The shared record.
#[derive(Default)]
pub struct Timeline {
    inner: Mutex<Observed>,
}

impl Timeline {
    /// The record, locked.
    pub fn lock(&self) -> MutexGuard<'_, Observed> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records an accepted report.
    pub fn answered(&self, event: &str, answer: Answer) {
        let mut o = self.lock();
        match id(event) {
            Some(event) => {
                o.answers.insert(event, answer);
            }
            None => o.unreadable += 1,
        }
    }

    /// How many of `phase`'s accepted reports reached the webhook, of how many.
    pub fn completed(&self, phase: usize) -> (usize, usize) {
        let o = self.lock();
        let mut done = 0;
        let mut all = 0;
        for (event, _) in o.answers.iter().filter(|(_, a)| a.phase == phase) {
            all += 1;
            if o.assigned.get(event).is_some_and(|(_, task)| o.hooks.contains_key(task)) {
                done += 1;
            }
        }
        (done, all)
    }
}

fn seen(map: &mut HashMap<Id, Seen>, key: Id, at: Instant) {
    map.entry(key).and_modify(|s| s.count += 1).or_insert(Seen { at, count: 1 });
}

/// The bus watcher: core subscriptions to intake's `event-reported` and dispatch's
/// `task-assigned` facts.
pub struct Observer {
    stop: Shutdown,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Observer {
    /// Subscribes on `client` and records into `timeline` until [`Observer::stop`].
    pub async fn start(client: &async_nats::Client, timeline: Arc<Timeline>) -> Result<Observer> {
        let stop = Shutdown::new();
        let mut tasks = Vec::new();
        for (subject, reported) in
            [("civicgrid.intake.event-reported.>", true), ("civicgrid.dispatch.task-assigned.>", false)]
        {
            let mut sub = client.subscribe(subject).await.with_context(|| format!("subscribing to {subject}"))?;
            let (timeline, stop) = (timeline.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    let message = tokio::select! {
                        m = sub.next() => m,
                        _ = stop.cancelled() => break,
                    };
                    let Some(message) = message else { break };
                    let at = Instant::now();
                    if reported {
                        // intake's facts name their event in `ce-subject`.
                        let event =
                            message.headers.as_ref().and_then(|h| h.get("ce-subject")).and_then(|v| id(v.as_str()));
                        let mut o = timeline.lock();
                        match event {
                            Some(event) => seen(&mut o.reported, event, at),
                            None => o.unreadable += 1,
                        }
                    } else {
                        let fact = TaskEvent::decode(message.payload.as_ref()).ok();
                        let ids = fact.and_then(|f| Some((id(&f.event_id)?, id(&f.task_id)?)));
                        let mut o = timeline.lock();
                        match ids {
                            Some((event, task)) => {
                                o.task_event.insert(task, event);
                                o.assigned
                                    .entry(event)
                                    .and_modify(|(s, _)| s.count += 1)
                                    .or_insert((Seen { at, count: 1 }, task));
                            }
                            None => o.unreadable += 1,
                        }
                    }
                }
                let _ = sub.unsubscribe().await;
            }));
        }
        client.flush().await.context("flushing the subscriptions")?;
        Ok(Observer { stop, tasks })
    }

    /// Stops watching.
    pub async fn stop(self) {
        self.stop.cancel();
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// The department's webhook receiver on loopback: records each `task-assigned` notification
/// and answers 200 (the signature is not checked: the bench measures notify, not itself).
pub struct Receiver {
    /// The URL to register.
    pub url: String,
    stop: Shutdown,
}

impl Receiver {
    /// Listens on a free loopback port.
    pub async fn start(timeline: Arc<Timeline>) -> Result<Receiver> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.context("binding the webhook receiver")?;
        let url = format!("http://{}/civicgrid", listener.local_addr()?);
        let app = axum::Router::new().fallback(move |body: axum::body::Bytes| {
            let timeline = timeline.clone();
            async move {
                let at = Instant::now();
                receive(&timeline, &body, at);
                axum::http::StatusCode::OK
            }
        });
        let stop = Shutdown::new();
        let until = stop.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).with_graceful_shutdown(async move { until.cancelled().await }).await;
        });
        Ok(Receiver { url, stop })
    }

    /// Stops listening.
    pub fn stop(&self) {
        self.stop.cancel();
    }
}

/// Records one webhook call's body (`docs/notifications.md`: `notifications[]`, each with its
/// `id`, `fact` and `subject_id`, the task).
fn receive(timeline: &Timeline, body: &[u8], at: Instant) {
    let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let mut o = timeline.lock();
    o.hook_calls += 1;
    let Some(notes) = json.as_ref().and_then(|j| j["notifications"].as_array()) else {
        o.unreadable += 1;
        return;
    };
    for n in notes.iter().filter(|n| n["fact"].as_str() == Some("task-assigned")) {
        let (Some(note), Some(task)) = (n["id"].as_str(), n["subject_id"].as_str().and_then(id)) else {
            o.unreadable += 1;
            continue;
        };
        if !o.notification_ids.insert(note.to_string()) {
            o.hook_repeats += 1;
            continue;
        }
        o.hooks.entry(task).and_modify(|h| h.notes += 1).or_insert(Hooked { at, notes: 1 });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_notification_is_not_a_second_one() {
        let t = Timeline::default();
        let task = uuid::Uuid::now_v7();
        let body = serde_json::json!({ "notifications": [
            { "id": "n1", "fact": "task-assigned", "subject_id": task.to_string() },
            { "id": "n2", "fact": "task-signed", "subject_id": task.to_string() },
        ]})
        .to_string();
        receive(&t, body.as_bytes(), Instant::now());
        receive(&t, body.as_bytes(), Instant::now());
        receive(&t, b"not json", Instant::now());
        let o = t.lock();
        assert_eq!(o.hooks[&task.as_u128()].notes, 1);
        assert_eq!((o.hook_calls, o.hook_repeats, o.unreadable), (3, 1, 1));
    }
}
