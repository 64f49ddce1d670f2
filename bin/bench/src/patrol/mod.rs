//! `civicgrid-bench patrol`: positions ingested per second — from NATS, through patrol's feed
//! consumer (decode, validate, tour progress against the spatial index, one transaction per
//! batch with the fixes, check-ins and facts, then the ack) — next to raw JetStream and raw
//! PostgreSQL baselines of the same run, with the same messages and rows. See
//! `docs/performance.md`.
//!
//! The world ([`city`]): by default 2,000 routes with 10 checkpoints each (20,000 geofences),
//! 2,000 teams of 10 members (20,000 members), every team on an active shift, each member
//! riding its route and sending 30 fixes (600,000 in all).

mod baselines;
mod city;
mod lag;
mod outside;
pub mod positions;

use std::{
    process::ExitCode,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use async_nats::jetstream;
use civicgrid_kit::{Shutdown, clock::Clock};
use civicgrid_proto::v1::patrol_service_client::PatrolServiceClient;
use clap::Args;

use crate::{
    env::{self, Env, Machine},
    field, heading,
    probe::{self, Probe},
    stats::{self, int, rate},
};

/// Positions per second patrol must ingest (issue 11).
const TARGET_FIXES_PER_SEC: f64 = 30_000.0;

#[derive(Args, Clone)]
pub struct PatrolArgs {
    /// Routes (one team and one active shift each).
    #[arg(long, default_value_t = 2_000, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    routes: u64,
    /// Checkpoints (key places with a geofence) per route.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=200))]
    fences_per_route: u64,
    /// Members per team.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=500))]
    members_per_team: u64,
    /// Fixes each member sends.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(2..=10_000))]
    fixes_per_member: u64,
    /// Fixes offered per second while patrol consumes (0: as fast as JetStream acks them, to
    /// find the ceiling from a backlog).
    #[arg(long, default_value_t = 30_000, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    rate: u32,
    /// JetStream publish acks outstanding while publishing.
    #[arg(long, default_value_t = 4_096, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    publish_window: u32,
    /// gRPC calls in flight while loading the world.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1_024))]
    load_concurrency: u32,
    /// patrol's `ingest_batch_size` (fixes per transaction); unset keeps patrol's default.
    #[arg(long)]
    ingest_batch_size: Option<u32>,
    /// `sync_interval` of the managed nats-server: `2m` (the default, as the Kubernetes
    /// manifests run their replicated cluster: written to the page cache at once, fsynced every
    /// 2 minutes, so a crash of nats-server loses nothing) or `always` (fsync every write, as
    /// `civicgrid up` runs its single server).
    #[arg(long, default_value = "2m")]
    nats_sync_interval: String,
    /// Skip the raw baselines.
    #[arg(long)]
    skip_baselines: bool,
    /// Publish the fixes from a separate process (Python, nats-py from PyPI, core NATS
    /// publishes) instead of the bench's own client: the ingest as an outside client meets it.
    #[arg(long)]
    outside_publisher: bool,
}

impl PatrolArgs {
    fn shape(&self) -> city::Shape {
        city::Shape {
            routes: self.routes as usize,
            fences_per_route: self.fences_per_route as usize,
            members_per_team: self.members_per_team as usize,
            fixes_per_member: self.fixes_per_member as usize,
        }
    }
}

fn settings(env: &Env, args: &PatrolArgs) -> Result<civicgrid_patrol::Settings> {
    let mut text = format!(
        "[nats]\nurl = \"{}\"\n[database]\nurl = \"{}\"\n[grpc]\nlisten = \"127.0.0.1:0\"\n[metrics]\nlisten = \"127.0.0.1:0\"\n\
         [telemetry]\nlog = \"warn\"\n[patrol]\nintake_url = \"http://127.0.0.1:9\"\n",
        env.nats_url, env.db_url
    );
    if let Some(b) = args.ingest_batch_size {
        text.push_str(&format!("ingest_batch_size = {b}\n"));
    }
    Ok(<civicgrid_patrol::Settings as civicgrid_kit::config::ServiceSettings>::from_layers(&[&text])?)
}

/// Runs the patrol bench.
pub async fn run(args: PatrolArgs) -> Result<ExitCode> {
    let r = measure_run(&args, "civicgrid-bench patrol").await?;
    Ok(if r.met { ExitCode::SUCCESS } else { ExitCode::from(2) })
}

/// What a run of the patrol bench measured (`civicgrid-bench positions` prints and writes it).
struct Run {
    /// The machine.
    machine: Machine,
    /// The managed or configured servers.
    servers: Vec<String>,
    /// Share of the machine busy before the run.
    background_busy_pct: Option<f64>,
    /// The raw baselines: what, per second.
    baselines: Vec<(String, f64)>,
    /// The ingest.
    outcome: Outcome,
    /// Whether issue 11's target was met.
    met: bool,
}

/// Runs the patrol bench's phases with `args`, printing `title` first, then each phase as it
/// goes and the summary at the end.
async fn measure_run(args: &PatrolArgs, title: &str) -> Result<Run> {
    let machine = Machine::describe();
    println!("{title}");
    field("command", std::env::args().collect::<Vec<_>>().join(" "));
    field(
        "machine",
        format!("nproc {}, {} RAM, {}, Linux {}", machine.nproc, machine.memory, machine.cpu, machine.kernel),
    );
    let shape = args.shape();
    field(
        "world",
        format!(
            "{} routes × {} geofences = {} geofences; {} teams × {} members = {} members; {} fixes each = {} fixes",
            int(shape.routes as u64),
            shape.fences_per_route,
            int(shape.fences() as u64),
            int(shape.routes as u64),
            shape.members_per_team,
            int(shape.members() as u64),
            shape.fixes_per_member,
            int(shape.fixes() as u64)
        ),
    );
    let env = Env::start_with(200, &args.nats_sync_interval).await?;
    field("nats", &env.nats_desc);
    field("postgres", &env.pg_desc);
    let busy = env::background_busy_pct(Duration::from_secs(2)).await;
    if let Some(b) = busy {
        field("background load", format!("{b:.0}% of the machine busy before the run (should be near 0)"));
    }
    let servers = vec![env.nats_desc.clone(), env.pg_desc.clone()];
    let probe = Probe::new(env.pg_pid, env.nats_managed, &env.admin_url, &env.db_name);
    let result = measure(args, shape, &env, &probe).await;
    env.stop().await;
    let (baselines, o) = result?;
    heading("Summary");
    for (what, per_sec) in &baselines {
        field(what, format!("{}/s", rate(*per_sec)));
    }
    let p99 = o.lag.map(|l| l.p99);
    // From a backlog, the rate is what was ingested; at a fixed offered rate, patrol keeps up
    // when it has nothing pending within a second of the last publish and decides its
    // check-ins within a second.
    let met = if args.rate == 0 || args.outside_publisher {
        o.ingest >= TARGET_FIXES_PER_SEC
    } else {
        o.offered >= 0.98 * TARGET_FIXES_PER_SEC && o.drain_after_last <= 1.0 && p99.is_some_and(|p| p <= 1000.0)
    };
    field(
        "patrol ingest",
        format!(
            "{}/s from the first publish until nothing is pending; offered {}/s, nothing pending {:.2} s after the last publish",
            rate(o.ingest),
            rate(o.offered),
            o.drain_after_last
        ),
    );
    if let Some(l) = o.lag {
        field("check-in decided", l.line());
    }
    field(
        "target",
        format!(
            "≥ {}/s sustained, check-ins within 1 s: {}",
            rate(TARGET_FIXES_PER_SEC),
            if met { "met" } else { "NOT met" }
        ),
    );
    Ok(Run { machine, servers, background_busy_pct: busy, baselines, outcome: o, met })
}

/// What the ingest phase measured.
struct Outcome {
    /// Fixes per second from the first publish until the durable had nothing pending.
    ingest: f64,
    /// Fixes per second the publisher achieved.
    offered: f64,
    /// Seconds from the last publish's ack until nothing was pending.
    drain_after_last: f64,
    /// Fix published → check-in fact on the bus (not with the outside publisher).
    lag: Option<stats::Latency>,
    /// Check-in facts that matched no published fix.
    unmatched: usize,
    /// Seconds loading the world through patrol's gRPC API.
    load_secs: f64,
    /// Fixes published, and the seconds it took.
    fixes: u64,
    publish_secs: f64,
    /// Seconds from the first publish until nothing was pending.
    secs: f64,
    /// Fixes accepted and rejected, check-ins made (patrol's metrics).
    accepted: u64,
    rejected: String,
    check_ins: u64,
    /// Ingest batches applied, and the seconds they took in all.
    batches: u64,
    batch_secs: f64,
    /// CPU while ingesting, and PostgreSQL's commits and WAL fsyncs.
    cpu: String,
    pg: String,
}

async fn measure(
    args: &PatrolArgs,
    shape: city::Shape,
    env: &Env,
    probe: &Probe,
) -> Result<(Vec<(String, f64)>, Outcome)> {
    let mut out = Vec::new();
    let window = args.publish_window as usize;
    if !args.skip_baselines {
        let sample = city::fixes(shape, chrono::Utc::now());
        heading(&format!(
            "Phase A · raw JetStream: the same {} fixes published to a scratch stream (file, limits), {window} acks outstanding",
            int(sample.len() as u64)
        ));
        let js = baselines::jetstream(&env.nats_url, &sample, window).await?;
        field("acked msgs/s", rate(js));
        out.push(("raw JetStream publishes".into(), js));
        heading(
            "Phase B · raw PostgreSQL: the same fixes as rows (member, time, point, accuracy), in batches of 1,000",
        );
        let (unnest, copy) = baselines::postgres(&env.db_url, &sample).await?;
        field("INSERT … UNNEST rows/s", rate(unnest));
        field("COPY rows/s", rate(copy));
        out.push(("raw PostgreSQL INSERT … UNNEST".into(), unnest));
        out.push(("raw PostgreSQL COPY".into(), copy));
    }

    heading("Phase C · patrol in-process (Application::build + run_until_stopped), world loaded through its gRPC API");
    let settings = settings(env, args)?;
    let app = civicgrid_patrol::Application::build(settings, Clock::System).await.context("building patrol")?;
    let (addr, metrics_addr) = (app.addr(), app.metrics_addr());
    let shutdown = Shutdown::new();
    let handle = tokio::spawn(app.run_until_stopped(shutdown.clone()));
    let client = PatrolServiceClient::connect(format!("http://{addr}")).await.context("connecting to patrol")?;
    let starts = chrono::Utc::now() - chrono::Duration::minutes(1);
    let load_secs = city::load(&client, shape, starts, args.load_concurrency as usize).await?;
    field(
        "loaded",
        format!(
            "{} places, {} teams, {} routes, {} shifts started in {load_secs:.1} s",
            shape.fences(),
            shape.routes,
            shape.routes,
            shape.routes
        ),
    );
    // Give the ingest a moment to see the shifts started (it refreshes from the database).
    tokio::time::sleep(Duration::from_secs(2)).await;

    let publisher = if args.outside_publisher {
        "by a separate Python process (nats-py, core publishes, as fast as it can)".to_string()
    } else if args.rate > 0 {
        format!("by the bench at {}/s ({window} JetStream acks outstanding at most)", int(u64::from(args.rate)))
    } else {
        format!("by the bench as fast as acks allow ({window} outstanding)")
    };
    heading(&format!(
        "Phase D · ingest: {} fixes published on civicgrid.patrol.position.… {publisher} while patrol consumes; timed until its durable has nothing pending",
        int(shape.fixes() as u64)
    ));
    let ride_starts = chrono::Utc::now();
    let fixes = city::fixes(shape, ride_starts);
    let nats = async_nats::connect(&env.nats_url).await.context("connecting to NATS")?;
    let js = jetstream::new(nats);
    let before = baselines::Counts::scrape(metrics_addr).await;
    let cpu0 = probe.snapshot();
    let pg0 = probe.pg_counters().await;
    let started = Instant::now();
    let watch = lag::Watch::start(&env.nats_url).await?;
    let (publish_secs, published) = if args.outside_publisher {
        (outside::publish(&env.nats_url, &fixes).await?, Vec::new())
    } else {
        baselines::publish_paced(&js, &fixes, window, args.rate).await?
    };
    let feed = civicgrid_contracts::patrol::POSITIONS;
    let drained = baselines::wait_drained(&js, feed.name, feed.durable, Duration::from_secs(900)).await?;
    let secs = started.elapsed().as_secs_f64();
    let cpu1 = probe.snapshot();
    probe::settle().await;
    let pg1 = probe.pg_counters().await;
    let usage = probe.usage(&cpu0, &cpu1);
    let after = baselines::Counts::scrape(metrics_addr).await;
    let facts = watch.finish(Duration::from_secs(3)).await?;
    shutdown.cancel();
    handle.await?.map_err(|e| anyhow::anyhow!("patrol: {e}"))?;

    let ingest = fixes.len() as f64 / secs;
    let (mut lag_figures, mut unmatched_facts) = (None, 0);
    field(
        "published",
        format!("{} in {publish_secs:.2} s ({}/s)", int(fixes.len() as u64), rate(fixes.len() as f64 / publish_secs)),
    );
    field("drained", format!("nothing pending {drained:.2} s after the last publish was acked"));
    field("ingested/s", format!("{}  ({} fixes in {secs:.2} s)", rate(ingest), int(fixes.len() as u64)));
    field("accepted", int(after.accepted.saturating_sub(before.accepted)));
    field("rejected", after.rejected_line(&before));
    field("check-ins", int(after.check_ins.saturating_sub(before.check_ins)));
    let (batches, batch_secs) = (after.batches.0.saturating_sub(before.batches.0), after.batches.1 - before.batches.1);
    if batches > 0 {
        field(
            "ingest batches",
            format!(
                "{} batches, {:.0} fixes and {:.2} ms each on average ({:.0}% of the time in a batch)",
                int(batches),
                fixes.len() as f64 / batches as f64,
                batch_secs * 1000.0 / batches as f64,
                batch_secs * 100.0 / secs
            ),
        );
    }
    if !published.is_empty() {
        let (latency, unmatched) = lag::latencies(&facts, shape, ride_starts, &published);
        (lag_figures, unmatched_facts) = (Some(latency), unmatched);
        field(
            "check-in decided",
            format!(
                "{}  (fix published → checkpoint-checked-in on the bus; {} facts{})",
                latency.line(),
                int(latency.count),
                if unmatched > 0 { format!(", {unmatched} unmatched") } else { String::new() }
            ),
        );
    }
    let pg_line = probe::pg_line(pg0, pg1, usage.secs);
    field("cpu", usage.line());
    field("postgres", &pg_line);
    anyhow::ensure!(
        after.accepted.saturating_sub(before.accepted) == fixes.len() as u64,
        "patrol accepted {} of {} fixes",
        after.accepted.saturating_sub(before.accepted),
        fixes.len()
    );
    let outcome = Outcome {
        ingest,
        offered: fixes.len() as f64 / publish_secs,
        drain_after_last: drained,
        lag: lag_figures,
        unmatched: unmatched_facts,
        load_secs,
        fixes: fixes.len() as u64,
        publish_secs,
        secs,
        accepted: after.accepted.saturating_sub(before.accepted),
        rejected: after.rejected_line(&before),
        check_ins: after.check_ins.saturating_sub(before.check_ins),
        batches,
        batch_secs,
        cpu: usage.line(),
        pg: pg_line,
    };
    Ok((out, outcome))
}
