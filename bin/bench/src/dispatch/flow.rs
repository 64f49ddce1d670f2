//! Event → task-assigned: dispatch built and run in-process as its integration tests do
//! (`Application::build` with its defaults, `run_until_stopped`), fed intake's
//! `event-reported` messages straight on `CIVICGRID_INTAKE`, watched on `CIVICGRID_DISPATCH`.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use anyhow::{Context, Result};
use async_nats::jetstream;
use civicgrid_kit::{Shutdown, clock::Clock};
use civicgrid_proto::v1::TaskEvent;
use futures::StreamExt;
use hdrhistogram::Histogram;
use prost::Message;
use sqlx::{Connection, PgPool};
use tokio::{sync::Semaphore, task::JoinHandle};

use super::{
    data::{self, Inputs, Prepared, Rng},
    ticker,
};
use crate::{
    env::Env,
    probe::{self, Probe, Usage},
    stats::{self, Errors, Latency, int, rate},
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
        let settings = ticker::settings(&env.nats_url, &env.db_url)?;
        let observer = async_nats::connect(&env.nats_url).await.context("connecting to NATS")?;
        let js = jetstream::new(observer.clone());
        civicgrid_kit::bus::ensure_streams(&js, &civicgrid_contracts::intake::STREAM, &settings.common.nats)
            .await
            .context("creating CIVICGRID_INTAKE")?;
        let app = civicgrid_dispatch::Application::build(settings.clone(), Clock::System)
            .await
            .context("building dispatch")?;
        let pool = ticker::dispatch_pool(&env.db_url, 2).await?;
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

    async fn count(&self, sql: &'static str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(&self.pool).await.unwrap_or(-1)
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

/// Rows inserted, updated and deleted per table of one database (`pg_stat_user_tables`).
async fn table_counters(db_url: &str) -> BTreeMap<String, (i64, i64, i64)> {
    let Ok(mut conn) = sqlx::PgConnection::connect(db_url).await else { return BTreeMap::new() };
    let rows: Vec<(String, String, i64, i64, i64)> = sqlx::query_as(
        "SELECT schemaname::text, relname::text, n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap_or_default();
    let _ = conn.close().await;
    rows.into_iter().map(|(s, t, i, u, d)| (format!("{s}.{t}"), (i, u, d))).collect()
}

/// Where PostgreSQL's backends of one database spend their time: sampled from
/// `pg_stat_activity` every 10 ms while a phase runs.
struct WaitSampler {
    stop: Shutdown,
    handle: JoinHandle<(u64, BTreeMap<String, u64>)>,
}

impl WaitSampler {
    async fn start(env: &Env) -> Option<WaitSampler> {
        let mut conn = sqlx::PgConnection::connect(&env.admin_url).await.ok()?;
        let db = env.db_name.clone();
        let stop = Shutdown::new();
        let s = stop.clone();
        let handle = tokio::spawn(async move {
            let mut tally: BTreeMap<String, u64> = BTreeMap::new();
            let mut samples = 0u64;
            let mut tick = tokio::time::interval(Duration::from_millis(10));
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = s.cancelled() => break,
                }
                let rows: Vec<(String, Option<String>, Option<String>, String)> = match sqlx::query_as(
                    "SELECT coalesce(state, ''), wait_event_type, wait_event, coalesce(application_name, '') \
                     FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
                )
                .bind(&db)
                .fetch_all(&mut conn)
                .await
                {
                    Ok(r) => r,
                    Err(_) => continue,
                };
                samples += 1;
                for (state, kind, event, app) in rows {
                    if app != "civicgrid-dispatch" {
                        continue;
                    }
                    let key = match state.as_str() {
                        "active" => match (kind, event) {
                            (Some(k), Some(e)) => format!("active, waiting on {k}:{e}"),
                            _ => "active, on CPU".to_string(),
                        },
                        "idle in transaction" => "idle in transaction (waiting for dispatch's next statement)".into(),
                        _ => continue,
                    };
                    *tally.entry(key).or_default() += 1;
                }
            }
            let _ = conn.close().await;
            (samples, tally)
        });
        Some(WaitSampler { stop, handle })
    }

    /// (what, average number of dispatch's backends in that state), largest first.
    async fn finish(self) -> Vec<(String, f64)> {
        self.stop.cancel();
        let Ok((samples, tally)) = self.handle.await else { return vec![] };
        let mut v: Vec<(String, f64)> = tally.into_iter().map(|(k, n)| (k, n as f64 / samples.max(1) as f64)).collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1));
        v
    }
}

/// `pg_stat_statements`, when the server preloads it: reset before a phase, read after.
pub struct Statements {
    url: String,
}

/// One statement's figures over a phase.
pub struct StatementLine {
    pub calls: i64,
    pub total_ms: f64,
    pub mean_ms: f64,
    pub rows: i64,
    pub query: String,
}

impl Statements {
    /// Enables it in the run's database if the server has it loaded.
    pub async fn enable(db_url: &str) -> Option<Statements> {
        let mut conn = sqlx::PgConnection::connect(db_url).await.ok()?;
        let ok = sqlx::raw_sql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements").execute(&mut conn).await.is_ok()
            && sqlx::raw_sql("SELECT pg_stat_statements_reset()").execute(&mut conn).await.is_ok();
        let _ = conn.close().await;
        ok.then(|| Statements { url: db_url.to_string() })
    }

    async fn reset(&self) {
        if let Ok(mut conn) = sqlx::PgConnection::connect(&self.url).await {
            let _ = sqlx::raw_sql("SELECT pg_stat_statements_reset()").execute(&mut conn).await;
            let _ = conn.close().await;
        }
    }

    async fn read(&self) -> Vec<StatementLine> {
        let Ok(mut conn) = sqlx::PgConnection::connect(&self.url).await else { return vec![] };
        let rows: Vec<(i64, f64, f64, i64, String)> = sqlx::query_as(
            "SELECT calls, total_exec_time, mean_exec_time, rows, query FROM pg_stat_statements \
             WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
             ORDER BY total_exec_time DESC LIMIT 25",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap_or_default();
        let _ = conn.close().await;
        rows.into_iter()
            .map(|(calls, total_ms, mean_ms, rows, query)| StatementLine {
                calls,
                total_ms,
                mean_ms,
                rows,
                query: query.split_whitespace().collect::<Vec<_>>().join(" "),
            })
            .collect()
    }
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
            samples.push(Sample {
                t: started.elapsed().as_secs_f64(),
                tasks: dispatch.count("SELECT count(*) FROM tasks").await,
                published,
            });
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
    let last_created: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT max(created_at) FROM tasks").fetch_one(&dispatch.pool).await?;
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

/// A real row's `clocks`, as dispatch wrote it (for the ticker's loaded rows to compare with).
pub async fn real_clocks(dispatch: &Dispatch) -> Option<String> {
    sqlx::query_scalar("SELECT clocks::text FROM tasks ORDER BY created_at LIMIT 1")
        .fetch_optional(&dispatch.pool)
        .await
        .ok()
        .flatten()
}

impl Live {
    /// Latency percentiles.
    pub fn latency(&self) -> Latency {
        Latency::of(&self.hist)
    }
}
