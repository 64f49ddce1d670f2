//! The open loop: requests sent at a fixed rate whatever the answers, with the time each
//! event's message reaches the bus.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use civicgrid_kit::Shutdown;
use futures::StreamExt;
use hdrhistogram::Histogram;
use tokio::sync::Semaphore;

use super::{Drain, Running, unix_nanos_now, wait_published};
use crate::{
    catalog::Catalog,
    stats::{self, Errors},
};

/// What an open loop at a fixed rate produced.
pub struct OpenLoop {
    /// Requests per second asked for.
    pub rate: u32,
    /// Requests scheduled.
    pub scheduled: u64,
    /// Accepted.
    pub ok: u64,
    /// Failures.
    pub errors: Errors,
    /// Latency from the scheduled send time to the answer.
    pub hist: Histogram<u64>,
    /// Latency from the scheduled send time to the event's message on the bus.
    pub to_bus: Histogram<u64>,
    /// Accepted calls whose message was not seen on the bus.
    pub not_seen: u64,
    /// Accepted per second, from the first scheduled send to the last answer.
    pub achieved: f64,
    /// The scheduler's largest delay behind its timetable, in ms.
    pub max_slip_ms: f64,
    /// Most calls in flight at once.
    pub max_in_flight: usize,
    /// The publish drain after the last call.
    pub drain: Option<Drain>,
}

#[derive(Default)]
struct OpenShared {
    ok: u64,
    errors: Errors,
    events: Vec<(String, Instant)>,
    last_done: Option<Instant>,
}

/// Requests sent at fixed intervals for `duration`, each on its own task (at most `cap` in
/// flight), so a slow answer does not delay the next send; latency counts from the scheduled
/// send time. The bus is watched with a core subscription to `civicgrid.intake.>`.
pub async fn open_loop(
    app: &Running,
    catalog: &Arc<Catalog>,
    rate: u32,
    duration: Duration,
    cap: usize,
) -> Result<OpenLoop> {
    let stream_base = app.stream_messages().await?;
    let mut subscription =
        app.observer.subscribe("civicgrid.intake.>").await.context("subscribing to intake's subjects")?;
    app.observer.flush().await.ok();
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
                if let Some(id) = message.headers.as_ref().and_then(|h| h.get("ce-subject")) {
                    seen.lock().expect("seen").insert(id.as_str().to_string(), at);
                }
            }
            let _ = subscription.unsubscribe().await;
        })
    };

    let hist = Arc::new(Mutex::new(stats::histogram()));
    let shared = Arc::new(Mutex::new(OpenShared::default()));
    let semaphore = Arc::new(Semaphore::new(cap.max(1)));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let max_in_flight = Arc::new(AtomicUsize::new(0));
    let period = Duration::from_secs_f64(1.0 / rate.max(1) as f64);
    let total = (rate as f64 * duration.as_secs_f64()).round() as u64;
    let clients: Vec<_> = (0..app.channels.len()).map(|c| app.client(c * 8)).collect();
    let t0 = Instant::now() + Duration::from_millis(20);
    let started_unix = unix_nanos_now() + 20_000_000;
    let mut max_slip = Duration::ZERO;
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let at = t0 + period.mul_f64(i as f64);
        tokio::time::sleep_until(at.into()).await;
        let permit = semaphore.clone().acquire_owned().await.context("semaphore")?;
        max_slip = max_slip.max(Instant::now().saturating_duration_since(at));
        let mut client = clients[i as usize % clients.len()].clone();
        let request = catalog.next();
        let (hist, shared, in_flight, max_in_flight) =
            (hist.clone(), shared.clone(), in_flight.clone(), max_in_flight.clone());
        tasks.push(tokio::spawn(async move {
            let now_in_flight = in_flight.fetch_add(1, Ordering::Relaxed) + 1;
            max_in_flight.fetch_max(now_in_flight, Ordering::Relaxed);
            let result = client.submit_event(request).await;
            let done = Instant::now();
            in_flight.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
            let mut s = shared.lock().expect("shared");
            s.last_done = Some(s.last_done.map_or(done, |d| d.max(done)));
            match result {
                Ok(answer) => {
                    stats::record(&mut hist.lock().expect("hist"), done - at);
                    s.ok += 1;
                    s.events.push((answer.into_inner().event_id, at));
                }
                Err(status) => s.errors.add(format!("{:?}", status.code()), status.message()),
            }
        }));
    }
    for t in tasks {
        t.await.context("a request task panicked")?;
    }
    let shared = std::mem::take(&mut *shared.lock().expect("shared"));
    let window_end = shared.last_done.unwrap_or_else(Instant::now);
    let drain =
        wait_published(app, stream_base, shared.ok, t0, started_unix, window_end, Duration::from_secs(120)).await?;
    // Core delivery to the watcher and the stream's store happen together; allow a moment.
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop_watch.cancel();
    let _ = watcher.await;
    let seen = seen.lock().expect("seen");
    let mut to_bus = stats::histogram();
    let mut not_seen = 0;
    for (id, at) in &shared.events {
        match seen.get(id) {
            Some(arrived) => stats::record(&mut to_bus, arrived.saturating_duration_since(*at)),
            None => not_seen += 1,
        }
    }
    let hist = std::mem::replace(&mut *hist.lock().expect("hist"), stats::histogram());
    let secs = window_end.saturating_duration_since(t0).as_secs_f64();
    Ok(OpenLoop {
        rate,
        scheduled: total,
        ok: shared.ok,
        errors: shared.errors,
        hist,
        to_bus,
        not_seen,
        achieved: stats::per_sec(shared.ok, secs),
        max_slip_ms: max_slip.as_secs_f64() * 1000.0,
        max_in_flight: max_in_flight.load(Ordering::Relaxed),
        drain: Some(drain),
    })
}
