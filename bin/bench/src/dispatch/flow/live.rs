//! Event → task-assigned, live: events published at a fixed rate on a timetable, each timed
//! from its scheduled publish to its first task-assigned seen on a core subscription.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use civicgrid_kit::Shutdown;
use civicgrid_proto::v1::TaskEvent;
use futures::StreamExt;
use hdrhistogram::Histogram;
use prost::Message;
use tokio::sync::Semaphore;

use super::{Dispatch, observe::WaitSampler};
use crate::{
    dispatch::data::{self, Inputs, Rng},
    env::Env,
    probe::{self, Probe, Usage},
    stats::{self, Errors, Latency},
};

/// What an open loop at a fixed rate measured.
pub struct Live {
    pub rate: u32,
    pub scheduled: u64,
    pub published: u64,
    pub errors: Errors,
    /// Publishes per second achieved.
    pub achieved: f64,
    /// From the scheduled publish to the first task-assigned of the event on a core
    /// subscription.
    pub hist: Histogram<u64>,
    pub not_seen: u64,
    /// The slowest event of each second of the timetable, in ms.
    pub worst_per_second: Vec<f64>,
    pub max_slip_ms: f64,
    pub usage: Usage,
    pub pg_line: String,
    pub waits: Vec<(String, f64)>,
}

/// Publishes `rate` events per second for `duration` on a fixed timetable (each publish and its
/// ack on a task of its own, at most `cap` outstanding), and times each event from its
/// scheduled publish to its first task-assigned seen on `civicgrid.dispatch.task-assigned.>`.
pub async fn live(
    env: &Env,
    inputs: &Inputs,
    probe: &Probe,
    dispatch: &Dispatch,
    rate_per_sec: u32,
    duration: Duration,
    cap: usize,
) -> Result<Live> {
    let total = (rate_per_sec as f64 * duration.as_secs_f64()).round() as usize;
    let mut rng = Rng::new(0x11FE + rate_per_sec as u64);
    let events = data::reported_events(&inputs.combos, total, &mut rng, &format!("live{rate_per_sec}"));
    let mut subscription = dispatch
        .observer
        .subscribe("civicgrid.dispatch.task-assigned.>")
        .await
        .context("subscribing to task-assigned")?;
    dispatch.observer.flush().await.ok();
    let seen: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let stop_watch = Shutdown::new();
    let watcher = {
        let (seen, stop) = (seen.clone(), stop_watch.clone());
        tokio::spawn(async move {
            loop {
                let message = tokio::select! {
                    m = subscription.next() => m,
                    _ = stop.cancelled() => break,
                };
                let Some(message) = message else { break };
                let at = Instant::now();
                if let Ok(event) = TaskEvent::decode(message.payload.clone()) {
                    seen.lock().expect("seen").entry(event.event_id).or_insert(at);
                }
            }
            let _ = subscription.unsubscribe().await;
        })
    };

    let errors = Arc::new(Mutex::new(Errors::default()));
    let semaphore = Arc::new(Semaphore::new(cap.max(1)));
    let period = Duration::from_secs_f64(1.0 / rate_per_sec.max(1) as f64);
    let mut scheduled: Vec<(String, Instant)> = Vec::with_capacity(total);
    let pg0 = probe.pg_counters().await;
    let waits = WaitSampler::start(env).await;
    let cpu0 = probe.snapshot();
    let t0 = Instant::now() + Duration::from_millis(20);
    let mut max_slip = Duration::ZERO;
    let mut tasks = Vec::with_capacity(total);
    for (i, e) in events.into_iter().enumerate() {
        let at = t0 + period.mul_f64(i as f64);
        tokio::time::sleep_until(at.into()).await;
        let permit = semaphore.clone().acquire_owned().await.context("semaphore")?;
        max_slip = max_slip.max(Instant::now().saturating_duration_since(at));
        scheduled.push((e.event_id.clone(), at));
        let js = dispatch.js.clone();
        let errors = errors.clone();
        tasks.push(tokio::spawn(async move {
            let result = async {
                let ack = js.publish_with_headers(e.subject, e.headers, e.payload).await.map_err(|e| e.to_string())?;
                ack.await.map(|_| ()).map_err(|e| e.to_string())
            }
            .await;
            drop(permit);
            if let Err(e) = result {
                errors.lock().expect("errors").add("publish", e);
                return false;
            }
            true
        }));
    }
    let mut published = 0u64;
    for t in tasks {
        published += t.await.unwrap_or(false) as u64;
    }
    let window = t0.elapsed();
    // Wait for the stragglers (at most 60 s).
    let give_up = Instant::now() + Duration::from_secs(60);
    loop {
        let n = {
            let seen = seen.lock().expect("seen");
            scheduled.iter().filter(|(id, _)| seen.contains_key(id)).count()
        };
        if n as u64 >= published || Instant::now() > give_up {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cpu1 = probe.snapshot();
    let waits = match waits {
        Some(w) => w.finish().await,
        None => vec![],
    };
    stop_watch.cancel();
    let _ = watcher.await;
    let seen = std::mem::take(&mut *seen.lock().expect("seen"));
    let mut hist = stats::histogram();
    let mut not_seen = 0;
    let mut worst_per_second = vec![0.0f64; duration.as_secs().max(1) as usize + 1];
    for (id, at) in &scheduled {
        match seen.get(id) {
            Some(arrived) => {
                let took = arrived.saturating_duration_since(*at);
                stats::record(&mut hist, took);
                let second = (at.saturating_duration_since(t0).as_secs() as usize).min(worst_per_second.len() - 1);
                worst_per_second[second] = worst_per_second[second].max(took.as_secs_f64() * 1000.0);
            }
            None => not_seen += 1,
        }
    }
    while worst_per_second.last() == Some(&0.0) {
        worst_per_second.pop();
    }
    probe::settle().await;
    let pg1 = probe.pg_counters().await;
    let usage = probe.usage(&cpu0, &cpu1);
    let errors = std::mem::take(&mut *errors.lock().expect("errors"));
    Ok(Live {
        rate: rate_per_sec,
        scheduled: total as u64,
        published,
        errors,
        achieved: stats::per_sec(published, window.as_secs_f64()),
        hist,
        not_seen,
        worst_per_second,
        max_slip_ms: max_slip.as_secs_f64() * 1000.0,
        usage,
        pg_line: probe::pg_line(pg0, pg1, usage.secs),
        waits,
    })
}

impl Live {
    /// Latency percentiles.
    pub fn latency(&self) -> Latency {
        Latency::of(&self.hist)
    }
}
