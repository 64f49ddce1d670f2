//! The closed loop: `concurrency` workers, each sending its next report when the last is
//! answered, with the relay's progress sampled alongside.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use civicgrid_kit::Shutdown;

use super::{Drain, Running, stream_state, unix_nanos_now, wait_published};
use crate::{
    baseline::Closed,
    catalog::Catalog,
    stats::{self, Errors},
};

/// One reading of the relay's progress during a closed loop.
pub struct Sample {
    /// Seconds since the start.
    pub t: f64,
    /// Accepted so far.
    pub accepted: u64,
    /// Outbox rows not yet published.
    pub pending: i64,
    /// Messages published (in the stream) since the start.
    pub published: u64,
}

/// What a closed loop against intake produced.
pub struct ClosedLoop {
    /// Accepted submissions (`ok`), their latency, the failures, the submit window.
    pub calls: Closed,
    /// Submissions answered `merged` (should be none).
    pub merged: u64,
    /// When the first call was sent.
    pub started: Instant,
    started_unix: i128,
    stream_base: u64,
    /// Accepted per second of the window.
    pub per_second: Vec<u64>,
    /// The relay's progress, every 500 ms.
    pub samples: Vec<Sample>,
}

/// `concurrency` workers, each submitting reports one after another for `duration`.
pub async fn closed_loop(
    app: &Running,
    catalog: &Arc<Catalog>,
    concurrency: usize,
    duration: Duration,
    sample: bool,
) -> Result<ClosedLoop> {
    let stream_base = app.stream_messages().await?;
    let accepted = Arc::new(AtomicU64::new(0));
    let buckets: Arc<Vec<AtomicU64>> = Arc::new((0..duration.as_secs() + 3).map(|_| AtomicU64::new(0)).collect());
    let started = Instant::now();
    let started_unix = unix_nanos_now();
    let deadline = started + duration;

    let stop_sampler = Shutdown::new();
    let sampler = sample.then(|| {
        let (pool, js, stream, stop, accepted) =
            (app.pool.clone(), app.js.clone(), app.stream.clone(), stop_sampler.clone(), accepted.clone());
        tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.cancelled() => break,
                }
                let pending = civicgrid_kit::bus::outbox::pending_count(&pool).await.unwrap_or(-1);
                let published = stream_state(&js, &stream).await.map(|s| s.0.saturating_sub(stream_base)).unwrap_or(0);
                samples.push(Sample {
                    t: started.elapsed().as_secs_f64(),
                    accepted: accepted.load(Ordering::Relaxed),
                    pending,
                    published,
                });
            }
            samples
        })
    });

    let mut tasks = Vec::with_capacity(concurrency);
    for w in 0..concurrency {
        let mut client = app.client(w);
        let catalog = catalog.clone();
        let (accepted, buckets) = (accepted.clone(), buckets.clone());
        tasks.push(tokio::spawn(async move {
            let mut hist = stats::histogram();
            let mut errors = Errors::default();
            let (mut ok, mut merged) = (0u64, 0u64);
            while Instant::now() < deadline {
                let request = catalog.next();
                let t = Instant::now();
                match client.submit_event(request).await {
                    Ok(answer) => {
                        let done = Instant::now();
                        stats::record(&mut hist, done - t);
                        ok += 1;
                        merged += answer.get_ref().merged as u64;
                        accepted.fetch_add(1, Ordering::Relaxed);
                        let second = ((done - started).as_secs() as usize).min(buckets.len() - 1);
                        buckets[second].fetch_add(1, Ordering::Relaxed);
                    }
                    Err(status) => errors.add(format!("{:?}", status.code()), status.message()),
                }
            }
            (ok, merged, hist, errors, Instant::now())
        }));
    }
    let mut calls = Closed { ok: 0, secs: 0.0, hist: stats::histogram(), errors: Errors::default() };
    let mut merged = 0;
    let mut last = deadline;
    for t in tasks {
        let (ok, m, hist, errors, done) = t.await.context("a worker panicked")?;
        calls.ok += ok;
        merged += m;
        calls.hist.add(&hist).ok();
        calls.errors.merge(errors);
        last = last.max(done);
    }
    calls.secs = last.duration_since(started).as_secs_f64();
    stop_sampler.cancel();
    let samples = match sampler {
        Some(s) => s.await.unwrap_or_default(),
        None => Vec::new(),
    };
    let mut per_second: Vec<u64> = buckets.iter().map(|b| b.load(Ordering::Relaxed)).collect();
    while per_second.last() == Some(&0) {
        per_second.pop();
    }
    Ok(ClosedLoop { calls, merged, started, started_unix, stream_base, per_second, samples })
}

impl ClosedLoop {
    /// Waits for this loop's accepted submissions to be published.
    pub async fn wait_published(&self, app: &Running, timeout: Duration) -> Result<Drain> {
        let window_end = self.started + Duration::from_secs_f64(self.calls.secs);
        wait_published(app, self.stream_base, self.calls.ok, self.started, self.started_unix, window_end, timeout).await
    }
}
