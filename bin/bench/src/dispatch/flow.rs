//! Event → task-assigned: dispatch built and run in-process as its integration tests do
//! (`Application::build` with its defaults, `run_until_stopped`), fed intake's
//! `event-reported` messages straight on `CIVICGRID_INTAKE`, watched on `CIVICGRID_DISPATCH`.
//!
//! This file holds the in-process dispatch and the backlog phase; [`live`] the fixed-rate
//! phases, [`observe`] what PostgreSQL's statistics views say about a phase. Counts of
//! dispatch's tasks go through `civicgrid_dispatch::store::inspect`.

mod live;
mod observe;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use async_nats::jetstream;
use civicgrid_dispatch::store::inspect;
use civicgrid_kit::{Shutdown, clock::Clock};
use futures::StreamExt;
use sqlx::PgPool;
use tokio::task::JoinHandle;

use self::observe::{WaitSampler, table_counters};
pub use self::{
    live::{Live, live},
    observe::{StatementLine, Statements},
};
use super::{
    data::{self, Inputs, Prepared, Rng},
    setup,
};
use crate::{
    env::Env,
    probe::{self, Probe, Usage},
    stats::{self, Errors, int, rate},
};

/// `CIVICGRID_DISPATCH`.
const DISPATCH_STREAM: &str = "CIVICGRID_DISPATCH";
/// `CIVICGRID_INTAKE`.
const INTAKE_STREAM: &str = "CIVICGRID_INTAKE";

fn unix_nanos_now() -> i128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i128).unwrap_or(0)
}

async fn stream_state(js: &jetstream::Context, name: &str) -> Result<(u64, i128)> {
    let mut s = js.get_stream(name).await.map_err(|e| anyhow::anyhow!("stream {name}: {e}"))?;
    let info = s.info().await.map_err(|e| anyhow::anyhow!("stream {name} info: {e}"))?;
    Ok((info.state.messages, info.state.last_timestamp.unix_timestamp_nanos()))
}

/// A dispatch built (migrated) but not started, or running.
pub struct Dispatch {
    /// The settings it was built with.
    pub settings: civicgrid_dispatch::Settings,
    app: Option<civicgrid_dispatch::Application>,
    shutdown: Shutdown,
    handle: Option<JoinHandle<Result<(), civicgrid_kit::runtime::StartError>>>,
    /// A pool on dispatch's schema, for the bench's own queries.
    pub pool: PgPool,
    /// The bench's JetStream context and connection.
    pub js: jetstream::Context,
    pub observer: async_nats::Client,
}

impl Dispatch {
    /// Creates intake's stream (as a deployment has it before dispatch consumes) and builds
    /// dispatch with its defaults, the run's URLs, a free port and `warn` logs.
    pub async fn build(env: &Env) -> Result<Dispatch> {
        let settings = setup::settings(&env.nats_url, &env.db_url)?;
        let observer = async_nats::connect(&env.nats_url).await.context("connecting to NATS")?;
        let js = jetstream::new(observer.clone());
        civicgrid_kit::bus::ensure_streams(&js, &civicgrid_contracts::intake::STREAM, &settings.common.nats)
            .await
            .context("creating CIVICGRID_INTAKE")?;
        let app = civicgrid_dispatch::Application::build(settings.clone(), Clock::System)
            .await
            .context("building dispatch")?;
        let pool = setup::dispatch_pool(&env.db_url, 2).await?;
        Ok(Dispatch { settings, app: Some(app), shutdown: Shutdown::new(), handle: None, pool, js, observer })
    }

    /// Starts it (its consumer, relay, ticker and gRPC server).
    pub fn start(&mut self) {
        if let Some(app) = self.app.take() {
            self.handle = Some(tokio::spawn(app.run_until_stopped(self.shutdown.clone())));
        }
    }

    /// Stops it and waits.
    pub async fn stop(mut self) -> Result<()> {
        self.shutdown.cancel();
        if let Some(handle) = self.handle.take() {
            match tokio::time::timeout(Duration::from_secs(60), handle).await {
                Ok(joined) => joined.context("dispatch panicked")?.context("dispatch stopped with an error")?,
                Err(_) => anyhow::bail!("dispatch did not stop within 60 s"),
            }
        }
        self.pool.close().await;
        Ok(())
    }

    /// Tasks committed so far; -1 when the count fails (a progress sample, not a result).
    async fn count_tasks(&self) -> i64 {
        inspect::count_tasks(&self.pool).await.unwrap_or(-1)
    }
}

/// Publishes `events` on JetStream with up to `window` acks outstanding; returns the seconds
/// it took and the failures.
async fn publish_all(js: &jetstream::Context, events: &[Prepared], window: usize) -> (f64, Errors) {
    let start = Instant::now();
    let results: Vec<Result<(), String>> = futures::stream::iter(events.iter())
        .map(|e| {
            let js = js.clone();
            async move {
                let ack = js
                    .publish_with_headers(e.subject.clone(), e.headers.clone(), e.payload.clone())
                    .await
                    .map_err(|e| e.to_string())?;
                match ack.await {
                    Ok(a) if a.duplicate => Err("duplicate".to_string()),
                    Ok(_) => Ok(()),
                    Err(e) => Err(e.to_string()),
                }
            }
        })
        .buffer_unordered(window.max(1))
        .collect()
        .await;
    let mut errors = Errors::default();
    for r in results {
        if let Err(e) = r {
            errors.add("publish", e);
        }
    }
    (start.elapsed().as_secs_f64(), errors)
}

/// One reading of the backlog's progress.
pub struct Sample {
    pub t: f64,
    /// Tasks committed in dispatch's database.
    pub tasks: i64,
    /// task-assigned messages on `CIVICGRID_DISPATCH`.
    pub published: u64,
}

/// What the backlog phase measured.
pub struct Backlog {
    pub events: usize,
    pub tasks: usize,
    pub publish_secs: f64,
    pub publish_errors: Errors,
    /// Seconds from `run_until_stopped` to the last task committed (its `created_at`).
    pub consumed_secs: f64,
    /// Seconds from `run_until_stopped` to the last task-assigned stored in the stream.
    pub published_secs: f64,
    pub timed_out: bool,
    pub samples: Vec<Sample>,
    pub usage: Usage,
    pub pg_line: String,
    pub commits: Option<i64>,
    /// Rows inserted / updated / deleted per table over the phase.
    pub rows: Vec<(String, i64, i64, i64)>,
    pub waits: Vec<(String, f64)>,
    pub statements: Option<Vec<StatementLine>>,
}

impl Backlog {
    /// Events turned into published task-assigned facts per second.
    pub fn events_per_sec(&self) -> f64 {
        stats::per_sec(self.events as u64, self.published_secs)
    }
}

/// Publishes `count` events with dispatch stopped, starts it, and times it through the backlog.
pub async fn backlog(
    env: &Env,
    inputs: &Inputs,
    probe: &Probe,
    dispatch: &mut Dispatch,
    count: usize,
    window: usize,
    statements: Option<&Statements>,
) -> Result<Backlog> {
    let mut rng = Rng::new(0xB0C1);
    let events = data::reported_events(&inputs.combos, count, &mut rng, "backlog");
    let tasks: usize = events.iter().map(|e| e.tasks).sum();
    let intake_before = stream_state(&dispatch.js, INTAKE_STREAM).await?.0;
    let (publish_secs, publish_errors) = publish_all(&dispatch.js, &events, window).await;
    let intake_after = stream_state(&dispatch.js, INTAKE_STREAM).await?.0;
    crate::field(
        "backlog published",
        format!(
            "{} events ({} tasks to create) on CIVICGRID_INTAKE in {publish_secs:.1} s ({}/s, {window} acks outstanding); stream holds {}; errors {}",
            int(count as u64),
            int(tasks as u64),
            rate(stats::per_sec(count as u64, publish_secs)),
            int(intake_after - intake_before),
            publish_errors.line()
        ),
    );
    let base = stream_state(&dispatch.js, DISPATCH_STREAM).await?.0;
    probe::settle().await;
    let pg0 = probe.pg_counters().await;
    let rows0 = table_counters(&env.db_url).await;
    if let Some(s) = statements {
        s.reset().await;
    }
    let waits = WaitSampler::start(env).await;
    let cpu0 = probe.snapshot();
    let started = Instant::now();
    let started_unix = unix_nanos_now();
    dispatch.start();
    let give_up = started + Duration::from_secs(600);
    let mut samples = Vec::new();
    let mut last_sample = Instant::now() - Duration::from_secs(1);
    let (published, last_ts, timed_out) = loop {
        let (messages, last_ts) = stream_state(&dispatch.js, DISPATCH_STREAM).await?;
        let published = messages.saturating_sub(base);
        if last_sample.elapsed() >= Duration::from_millis(500) {
            last_sample = Instant::now();
            samples.push(Sample { t: started.elapsed().as_secs_f64(), tasks: dispatch.count_tasks().await, published });
        }
        if published >= tasks as u64 {
            break (published, last_ts, false);
        }
        if Instant::now() > give_up {
            break (published, last_ts, true);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let observed = started.elapsed().as_secs_f64();
    let cpu1 = probe.snapshot();
    let waits = match waits {
        Some(w) => w.finish().await,
        None => vec![],
    };
    let last_created: Option<chrono::DateTime<chrono::Utc>> = inspect::last_created_at(&dispatch.pool).await?;
    let consumed_secs = last_created
        .and_then(|t| t.timestamp_nanos_opt())
        .map(|n| (n as i128 - started_unix) as f64 / 1e9)
        .unwrap_or(observed);
    let from_stream = (last_ts - started_unix) as f64 / 1e9;
    let published_secs = if from_stream > 0.0 && from_stream <= observed + 0.05 { from_stream } else { observed };
    probe::settle().await;
    let pg1 = probe.pg_counters().await;
    let rows1 = table_counters(&env.db_url).await;
    let usage = probe.usage(&cpu0, &cpu1);
    let statements = match statements {
        Some(s) => Some(s.read().await),
        None => None,
    };
    let rows = rows1
        .iter()
        .filter(|(k, _)| k.starts_with("dispatch."))
        .map(|(k, (i, u, d))| {
            let (i0, u0, d0) = rows0.get(k).copied().unwrap_or((0, 0, 0));
            (k.trim_start_matches("dispatch.").to_string(), i - i0, u - u0, d - d0)
        })
        .filter(|(_, i, u, d)| *i > 0 || *u > 0 || *d > 0)
        .collect();
    let backlog = Backlog {
        events: count,
        tasks,
        publish_secs,
        publish_errors,
        consumed_secs,
        published_secs,
        timed_out,
        samples,
        usage,
        pg_line: probe::pg_line(pg0, pg1, usage.secs),
        commits: pg0.zip(pg1).map(|(a, b)| b.commits - a.commits),
        rows,
        waits,
        statements,
    };
    crate::field(
        "drained",
        format!(
            "{} of {} task-assigned on CIVICGRID_DISPATCH; last task committed {:.2} s and last published {:.2} s after start{}",
            int(published),
            int(tasks as u64),
            backlog.consumed_secs,
            backlog.published_secs,
            if timed_out { " — TIMED OUT" } else { "" }
        ),
    );
    Ok(backlog)
}

/// A real row's `clocks`, as dispatch wrote it (for the ticker's loaded rows to compare with).
pub async fn real_clocks(dispatch: &Dispatch) -> Option<String> {
    inspect::oldest_clocks(&dispatch.pool).await.ok().flatten()
}
