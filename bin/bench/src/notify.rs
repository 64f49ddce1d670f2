//! `civicgrid-bench notify`: notifications produced and delivered per second from a backlog of
//! dispatch facts, with the departments' webhook receiver on loopback, next to raw PostgreSQL,
//! JetStream and HTTP baselines of the same run. See `docs/performance.md`.
//!
//! The backlog: `--events` task-assigned facts are published on CIVICGRID_DISPATCH while notify
//! is stopped, spread over `--departments` duty desks that each registered one webhook endpoint
//! on the receiver. Then notify starts (in-process, its defaults) and the clock runs until the
//! receiver has had one call per fact. Every fact makes one notification with two deliveries:
//! the inbox entry (the notification itself, written in the consumer's transaction) and the
//! webhook call.

use std::{
    process::ExitCode,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use async_nats::jetstream;
use civicgrid_kit::{Shutdown, bus, clock::Clock, seal::Cipher, time::to_proto};
use civicgrid_proto::v1::{RegionPath, TaskEvent, TaskStatus, WarningColour};
use clap::Args;
use futures::StreamExt;
use tokio::sync::Semaphore;

use crate::{
    baseline::{self, Closed},
    env::{self, Env, Machine},
    field, heading,
    probe::{self, Probe, Usage},
    stats::{self, Errors, Latency, int, rate},
};

/// Webhook deliveries per second notify must make from a backlog.
const TARGET_DELIVERIES_PER_SEC: f64 = 2000.0;

#[derive(Args, Clone)]
pub struct NotifyArgs {
    /// Facts in the backlog (each becomes one notification, one inbox entry and one webhook call).
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    events: u64,
    /// Departments the facts are spread over (one webhook endpoint each).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    departments: u32,
    /// JetStream acks outstanding while the backlog is published.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    publish_window: u32,
    /// Connections / in-flight calls of the baselines.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=4096))]
    concurrency: u32,
    /// Seconds each baseline runs.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    baseline_secs: u64,
    /// notify's `worker_batch` (deliveries claimed per round).
    #[arg(long)]
    worker_batch: Option<i64>,
    /// notify's `worker_concurrency` (calls in flight).
    #[arg(long)]
    worker_concurrency: Option<usize>,
    /// Skip the raw baselines.
    #[arg(long)]
    skip_baselines: bool,
}

/// A webhook receiver on loopback that counts calls and answers 200.
struct Receiver {
    url: String,
    calls: Arc<AtomicU64>,
    stop: Shutdown,
}

impl Receiver {
    async fn start() -> Result<Receiver> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.context("binding the receiver")?;
        let url = format!("http://{}/hook", listener.local_addr()?);
        let calls = Arc::new(AtomicU64::new(0));
        let counted = calls.clone();
        let app = axum::Router::new().fallback(move |_body: axum::body::Bytes| {
            let counted = counted.clone();
            async move {
                counted.fetch_add(1, Ordering::Relaxed);
                axum::http::StatusCode::OK
            }
        });
        let stop = Shutdown::new();
        let s = stop.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).with_graceful_shutdown(async move { s.cancelled().await }).await;
        });
        Ok(Receiver { url, calls, stop })
    }

    fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }
}

/// Raw HTTP: `concurrency` clients POSTing a 1 KiB JSON body to the receiver in a loop.
async fn raw_http(url: &str, concurrency: usize, duration: Duration) -> Result<Closed> {
    let client = reqwest::Client::builder().build()?;
    let body = format!("{{\"pad\":\"{}\"}}", "x".repeat(1000));
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, url, body) = (client.clone(), url.to_string(), body.clone());
            tokio::spawn(async move {
                let mut hist = stats::histogram();
                let (mut ok, mut errors) = (0u64, Errors::default());
                while Instant::now() < deadline {
                    let t = Instant::now();
                    match client.post(&url).header("content-type", "application/json").body(body.clone()).send().await {
                        Ok(r) if r.status().is_success() => {
                            ok += 1;
                            stats::record(&mut hist, t.elapsed());
                        }
                        Ok(r) => errors.add("status", r.status()),
                        Err(e) => errors.add("transport", e),
                    }
                }
                (ok, errors, hist)
            })
        })
        .collect();
    let mut total = Closed { ok: 0, secs: 0.0, hist: stats::histogram(), errors: Errors::default() };
    for w in workers {
        let (ok, errors, hist) = w.await?;
        total.ok += ok;
        total.errors.merge(errors);
        let _ = total.hist.add(&hist);
    }
    total.secs = started.elapsed().as_secs_f64();
    Ok(total)
}

fn settings(env: &Env, args: &NotifyArgs) -> Result<civicgrid_notify::Settings> {
    let mut extra = format!(
        "[nats]\nurl = \"{}\"\n[database]\nurl = \"{}\"\n[grpc]\nlisten = \"127.0.0.1:0\"\n[telemetry]\nlog = \"warn\"\n\
         [notify]\ncontact_key = \"{}\"\nallow_private_webhooks = true\n",
        env.nats_url,
        env.db_url,
        Cipher::generate_key()
    );
    if let Some(b) = args.worker_batch {
        extra.push_str(&format!("worker_batch = {b}\n"));
    }
    if let Some(c) = args.worker_concurrency {
        extra.push_str(&format!("worker_concurrency = {c}\n"));
    }
    Ok(<civicgrid_notify::Settings as civicgrid_kit::config::ServiceSettings>::from_layers(&[&extra])?)
}

fn department(i: u64, departments: u32) -> String {
    format!("bench-dept-{:04}", i % u64::from(departments))
}

fn fact(i: u64, departments: u32) -> TaskEvent {
    let task = uuid::Uuid::now_v7().to_string();
    TaskEvent {
        task_id: task,
        event_id: uuid::Uuid::now_v7().to_string(),
        fact: "task-assigned".into(),
        status: TaskStatus::Assigned as i32,
        department_id: department(i, departments),
        region: Some(RegionPath {
            city: "411600".into(),
            county: "411602".into(),
            township: "411602001".into(),
            village: "411602001001".into(),
        }),
        version: 1,
        occurred_at: Some(to_proto(chrono::Utc::now())),
        lead: true,
        colour: WarningColour::Blue as i32,
        item_code: "01.02.003".into(),
        grid_code: "411602001001001".into(),
        grid_worker_id: "gw-411602001001001".into(),
        tracking_number: format!("411602-20261123-{:06}", i % 1_000_000),
        ..Default::default()
    }
}

/// Publishes the backlog with `window` acks outstanding; returns the publish rate.
async fn publish_backlog(js: &jetstream::Context, events: u64, departments: u32, window: usize) -> Result<f64> {
    let started = Instant::now();
    let gate = Arc::new(Semaphore::new(window));
    let mut acks = futures::stream::FuturesUnordered::new();
    for i in 0..events {
        let e = fact(i, departments);
        let region = e.region.clone().unwrap_or_default();
        let envelope =
            bus::Envelope::family(&civicgrid_contracts::dispatch::TASK_FACTS, &e.fact, &region, &e.task_id, &e);
        let id = uuid::Uuid::now_v7();
        let headers = bus::envelope::to_header_map(&envelope.headers("dispatch", id, chrono::Utc::now()));
        let permit = gate.clone().acquire_owned().await?;
        let ack = js
            .publish_with_headers(envelope.subject.clone(), headers, envelope.payload.clone().into())
            .await
            .map_err(|e| anyhow::anyhow!("publish: {e}"))?;
        acks.push(async move {
            let r = ack.await;
            drop(permit);
            r
        });
        while acks.len() >= window {
            if let Some(r) = acks.next().await {
                r.map_err(|e| anyhow::anyhow!("publish ack: {e}"))?;
            }
        }
    }
    while let Some(r) = acks.next().await {
        r.map_err(|e| anyhow::anyhow!("publish ack: {e}"))?;
    }
    Ok(events as f64 / started.elapsed().as_secs_f64())
}

/// What the backlog phase measured.
struct Backlog {
    events: u64,
    publish_rate: f64,
    secs: f64,
    first_call_secs: f64,
    notifications: i64,
    delivered: i64,
    webhook_delivered: i64,
    failed: i64,
    usage: Usage,
    pg_line: String,
    per_second: Vec<u64>,
}

async fn backlog(env: &Env, probe: &Probe, args: &NotifyArgs, receiver: &Receiver) -> Result<Backlog> {
    let settings = settings(env, args)?;
    let observer = async_nats::connect(&env.nats_url).await.context("connecting to NATS")?;
    let js = jetstream::new(observer.clone());
    for producer in [civicgrid_contracts::intake::STREAM, civicgrid_contracts::dispatch::STREAM] {
        bus::ensure_streams(&js, &producer, &settings.common.nats).await.context("producer streams")?;
    }
    let app = civicgrid_notify::Application::build(settings.clone(), Clock::System).await.context("building notify")?;
    // notify's own storage code on its schema (the app has migrated it).
    let store = civicgrid_notify::store::Store::from_settings(&settings, app.pool().clone(), Default::default())
        .context("notify's store")?;
    // The duty desks' endpoints, as departments register them before traffic starts.
    for d in 0..args.departments {
        store
            .register_webhook(
                &format!("department:{}", department(u64::from(d), args.departments)),
                &receiver.url,
                "bench-secret-0123456789abcdef",
                "bench receiver",
                &format!("bench-hook-{d:06}"),
                chrono::Utc::now(),
            )
            .await
            .context("registering an endpoint")?;
    }
    let publish_rate = publish_backlog(&js, args.events, args.departments, args.publish_window as usize).await?;
    field("backlog published", format!("{} facts at {}/s", int(args.events), rate(publish_rate)));

    let pg0 = probe.pg_counters().await;
    let cpu0 = probe.snapshot();
    let started = Instant::now();
    let shutdown = Shutdown::new();
    let handle = tokio::spawn(app.run_until_stopped(shutdown.clone()));
    let mut first_call = None;
    let mut per_second = Vec::new();
    let mut last = 0;
    let mut next_tick = Instant::now() + Duration::from_secs(1);
    let deadline = Instant::now() + Duration::from_secs(1800);
    loop {
        let calls = receiver.calls();
        if first_call.is_none() && calls > 0 {
            first_call = Some(started.elapsed().as_secs_f64());
        }
        if Instant::now() >= next_tick {
            per_second.push(calls - last);
            last = calls;
            next_tick += Duration::from_secs(1);
        }
        if calls >= args.events {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "only {calls} of {} webhook calls after 30 minutes", args.events);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    let cpu1 = probe.snapshot();
    probe::settle().await;
    let pg1 = probe.pg_counters().await;
    let usage = probe.usage(&cpu0, &cpu1);
    // Let the last outcomes be recorded before counting.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pool = store.pool();
    let notifications: i64 = sqlx::query_scalar("SELECT count(*) FROM notifications").fetch_one(pool).await?;
    // Each notification is its own inbox delivery (no row of its own); the rest are pushes.
    let pushed: i64 = sqlx::query_scalar("SELECT count(*) FROM deliveries WHERE status = 4").fetch_one(pool).await?;
    let delivered = notifications + pushed;
    let webhook_delivered: i64 =
        sqlx::query_scalar("SELECT count(*) FROM deliveries WHERE status = 4 AND channel = 2").fetch_one(pool).await?;
    let failed: i64 = sqlx::query_scalar("SELECT count(*) FROM deliveries WHERE status = 5").fetch_one(pool).await?;
    shutdown.cancel();
    handle.await?.map_err(|e| anyhow::anyhow!("notify: {e}"))?;
    Ok(Backlog {
        events: args.events,
        publish_rate,
        secs,
        first_call_secs: first_call.unwrap_or(secs),
        notifications,
        delivered,
        webhook_delivered,
        failed,
        pg_line: probe::pg_line(pg0, pg1, usage.secs),
        usage,
        per_second,
    })
}

/// Runs the notify bench.
pub async fn run(args: NotifyArgs) -> Result<ExitCode> {
    let machine = Machine::describe();
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    println!("civicgrid-bench notify");
    field("command", &command);
    field(
        "machine",
        format!("nproc {}, {} RAM, {}, Linux {}", machine.nproc, machine.memory, machine.cpu, machine.kernel),
    );
    let env = Env::start((args.concurrency + 100).max(200)).await?;
    field("nats", &env.nats_desc);
    field("postgres", &env.pg_desc);
    let busy = env::background_busy_pct(Duration::from_secs(2)).await;
    if let Some(b) = busy {
        field("background load", format!("{b:.0}% of the machine busy before the run (should be near 0)"));
    }
    let receiver = Receiver::start().await?;
    let probe = Probe::new(env.pg_pid, env.nats_managed, &env.admin_url, &env.db_name);
    let result = measure(&args, &env, &probe, &receiver).await;
    receiver.stop.cancel();
    env.stop().await;
    let (baselines, b) = result?;
    heading("Summary");
    for (what, closed) in &baselines {
        field(what, format!("{}/s", rate(closed.rate())));
    }
    let webhook_rate = b.events as f64 / b.secs;
    field(
        "webhook deliveries/s",
        format!(
            "{}  ({} calls in {:.2} s from notify's start; target ≥ {}: {})",
            rate(webhook_rate),
            int(b.events),
            b.secs,
            rate(TARGET_DELIVERIES_PER_SEC),
            if webhook_rate >= TARGET_DELIVERIES_PER_SEC { "met" } else { "NOT met" }
        ),
    );
    field(
        "all deliveries/s",
        format!(
            "{}  (inbox entries and webhook calls: {} delivered)",
            rate(b.delivered as f64 / b.secs),
            int(b.delivered as u64)
        ),
    );
    Ok(if webhook_rate >= TARGET_DELIVERIES_PER_SEC { ExitCode::SUCCESS } else { ExitCode::from(2) })
}

async fn measure(
    args: &NotifyArgs,
    env: &Env,
    probe: &Probe,
    receiver: &Receiver,
) -> Result<(Vec<(String, Closed)>, Backlog)> {
    let mut baselines = Vec::new();
    let c = args.concurrency as usize;
    let duration = Duration::from_secs(args.baseline_secs);
    if !args.skip_baselines {
        heading(&format!(
            "Phase A · raw PostgreSQL: {c} connections looping BEGIN; INSERT 500 bytes; COMMIT, {} s",
            args.baseline_secs
        ));
        let pg = baseline::raw_postgres(&env.db_url, c, duration).await?;
        field("commits/s", rate(pg.rate()));
        field("latency", Latency::of(&pg.hist).line());
        baselines.push(("raw PostgreSQL commits".to_string(), pg));

        heading(&format!(
            "Phase B · raw JetStream: 500-byte messages, acks awaited, {c} in flight, {} s",
            args.baseline_secs
        ));
        let common: civicgrid_kit::config::CommonSettings = civicgrid_kit::config::from_toml(&[])?;
        let streams = baseline::BenchStreams::create(
            &env.nats_url,
            1,
            Duration::from_secs(common.nats.duplicate_window_secs),
            Duration::from_secs(common.nats.stream_max_age_days * 86_400),
        )
        .await?;
        let js = streams.publish_loop(c, duration).await?;
        streams.delete().await;
        field("acked msgs/s", rate(js.rate()));
        field("latency", Latency::of(&js.hist).line());
        baselines.push(("raw JetStream publishes".to_string(), js));

        heading(&format!(
            "Phase C · raw HTTP: {c} clients POSTing 1 KiB JSON to the loopback receiver, {} s",
            args.baseline_secs
        ));
        let before = receiver.calls();
        let http = raw_http(&receiver.url, c, duration).await?;
        field("calls/s", rate(http.rate()));
        field("latency", Latency::of(&http.hist).line());
        field("errors", http.errors.line());
        anyhow::ensure!(receiver.calls() - before == http.ok, "the receiver miscounted");
        receiver.calls.store(0, Ordering::Relaxed);
        baselines.push(("raw HTTP calls".to_string(), http));
    }
    heading(&format!(
        "Phase D · backlog: {} task-assigned facts for {} departments (one endpoint each) published with notify stopped; notify started; timed until the receiver had every call",
        int(args.events),
        args.departments
    ));
    let b = backlog(env, probe, args, receiver).await?;
    field("first webhook call", format!("{:.2} s after start", b.first_call_secs));
    field("webhook calls/s", format!("{}  ({} in {:.2} s)", rate(b.events as f64 / b.secs), int(b.events), b.secs));
    field("notifications", int(b.notifications as u64));
    field(
        "deliveries",
        format!(
            "{} delivered ({} webhook), {} failed",
            int(b.delivered as u64),
            int(b.webhook_delivered as u64),
            b.failed
        ),
    );
    let per: Vec<String> = b.per_second.iter().map(|n| n.to_string()).collect();
    field("calls each second", per.join(" "));
    field("cpu", b.usage.line());
    field("postgres", &b.pg_line);
    field("backlog publish rate", format!("{}/s", rate(b.publish_rate)));
    Ok((baselines, b))
}
