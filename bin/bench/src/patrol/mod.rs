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
mod outside;

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
    stats::{int, rate},
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
    /// JetStream publish acks outstanding while publishing.
    #[arg(long, default_value_t = 4_096, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    publish_window: u32,
    /// gRPC calls in flight while loading the world.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1_024))]
    load_concurrency: u32,
    /// patrol's `ingest_batch_size` (fixes per transaction); unset keeps patrol's default.
    #[arg(long)]
    ingest_batch_size: Option<u32>,
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
    let machine = Machine::describe();
    println!("civicgrid-bench patrol");
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
    let env = Env::start(200).await?;
    field("nats", &env.nats_desc);
    field("postgres", &env.pg_desc);
    if let Some(b) = env::background_busy_pct(Duration::from_secs(2)).await {
        field("background load", format!("{b:.0}% of the machine busy before the run (should be near 0)"));
    }
    let probe = Probe::new(env.pg_pid, env.nats_managed, &env.admin_url, &env.db_name);
    let result = measure(&args, shape, &env, &probe).await;
    env.stop().await;
    let (baselines, ingest) = result?;
    heading("Summary");
    for (what, per_sec) in &baselines {
        field(what, format!("{}/s", rate(*per_sec)));
    }
    let met = ingest >= TARGET_FIXES_PER_SEC;
    field(
        "patrol ingest",
        format!(
            "{}/s  (target ≥ {}: {})",
            rate(ingest),
            rate(TARGET_FIXES_PER_SEC),
            if met { "met" } else { "NOT met" }
        ),
    );
    Ok(if met { ExitCode::SUCCESS } else { ExitCode::from(2) })
}

async fn measure(args: &PatrolArgs, shape: city::Shape, env: &Env, probe: &Probe) -> Result<(Vec<(String, f64)>, f64)> {
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
    let secs = city::load(&client, shape, starts, args.load_concurrency as usize).await?;
    field(
        "loaded",
        format!(
            "{} places, {} teams, {} routes, {} shifts started in {secs:.1} s",
            shape.fences(),
            shape.routes,
            shape.routes,
            shape.routes
        ),
    );
    // Give the ingest a moment to see the shifts started (it refreshes from the database).
    tokio::time::sleep(Duration::from_secs(2)).await;

    let publisher = if args.outside_publisher {
        "by a separate Python process (nats-py, core publishes)".to_string()
    } else {
        format!("by the bench ({window} JetStream acks outstanding)")
    };
    heading(&format!(
        "Phase D · ingest: {} fixes published on civicgrid.patrol.position.… {publisher} while patrol consumes; timed until its durable has nothing pending",
        int(shape.fixes() as u64)
    ));
    let fixes = city::fixes(shape, chrono::Utc::now());
    let nats = async_nats::connect(&env.nats_url).await.context("connecting to NATS")?;
    let js = jetstream::new(nats);
    let before = baselines::Counts::scrape(metrics_addr).await;
    let cpu0 = probe.snapshot();
    let pg0 = probe.pg_counters().await;
    let started = Instant::now();
    let publish_secs = if args.outside_publisher {
        outside::publish(&env.nats_url, &fixes).await?
    } else {
        baselines::publish(&js, &fixes, window).await?
    };
    let feed = civicgrid_contracts::patrol::POSITIONS;
    let drained = baselines::wait_drained(&js, feed.name, feed.durable, Duration::from_secs(900)).await?;
    let secs = started.elapsed().as_secs_f64();
    let cpu1 = probe.snapshot();
    probe::settle().await;
    let pg1 = probe.pg_counters().await;
    let usage = probe.usage(&cpu0, &cpu1);
    let after = baselines::Counts::scrape(metrics_addr).await;
    shutdown.cancel();
    handle.await?.map_err(|e| anyhow::anyhow!("patrol: {e}"))?;

    let ingest = fixes.len() as f64 / secs;
    field(
        "published",
        format!("{} in {publish_secs:.2} s ({}/s)", int(fixes.len() as u64), rate(fixes.len() as f64 / publish_secs)),
    );
    field("drained", format!("{drained:.2} s after the first publish"));
    field("ingested/s", format!("{}  ({} fixes in {secs:.2} s)", rate(ingest), int(fixes.len() as u64)));
    field("accepted", int(after.accepted.saturating_sub(before.accepted)));
    field("rejected", after.rejected_line(&before));
    field("check-ins", int(after.check_ins.saturating_sub(before.check_ins)));
    field("cpu", usage.line());
    field("postgres", probe::pg_line(pg0, pg1, usage.secs));
    anyhow::ensure!(
        after.accepted.saturating_sub(before.accepted) == fixes.len() as u64,
        "patrol accepted {} of {} fixes",
        after.accepted.saturating_sub(before.accepted),
        fixes.len()
    );
    Ok((out, ingest))
}
