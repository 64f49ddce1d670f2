//! `civicgrid-bench dispatch`: event → task-assigned throughput and latency with dispatch run
//! in-process, and the warning ticker's cost per round with 1,000 and 1,000,000 open tasks,
//! next to raw PostgreSQL and JetStream baselines of the same run. See `docs/performance.md`.
//!
//! This file holds the flags and the run's order of phases; [`flow`] measures event →
//! task-assigned, [`ticker`] the warning ticker (its phases run by [`clock`], which is also
//! `civicgrid-bench clock`), [`report`] prints the backlog's figures and the summary, [`data`]
//! makes the inputs and [`setup`] dispatch's settings and pool.

pub mod clock;
mod data;
mod flow;
mod report;
mod setup;
mod ticker;

use std::{process::ExitCode, time::Duration};

use anyhow::Result;
use clap::Args;

use crate::{
    baseline::{self, Closed},
    env::{self, Env, Machine},
    field, heading,
    probe::{self, Probe, Usage},
    stats::{Latency, int, ms, rate},
};

/// Events per second dispatch must turn into published task-assigned facts.
const TARGET_EVENTS_PER_SEC: f64 = 1500.0;
/// A ticker round when few tasks change colour, in milliseconds.
const TARGET_TICK_MS: f64 = 50.0;

#[derive(Args, Clone)]
pub struct DispatchArgs {
    /// Connections / in-flight publishes of the raw PostgreSQL and JetStream baselines.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=4096))]
    concurrency: u32,
    /// Seconds each baseline runs.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    baseline_secs: u64,
    /// Events of the backlog phase (published before dispatch starts).
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    events: u64,
    /// JetStream acks outstanding while the backlog is published.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    publish_window: u32,
    /// Event rates of the live phases (events per second, comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = [500u32, 1500])]
    rates: Vec<u32>,
    /// Seconds each live phase publishes.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    rate_duration_secs: u64,
    /// Most publishes outstanding in a live phase (beyond that the timetable waits, and the
    /// wait counts in the latency).
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    max_in_flight: u32,
    /// The ticker phases' table sizes, rounds and settings (shared with `civicgrid-bench clock`).
    #[command(flatten)]
    ticker: clock::TickerArgs,
    /// Skip the raw PostgreSQL and JetStream baselines.
    #[arg(long)]
    skip_baselines: bool,
    /// Skip event → task-assigned (backlog and live phases).
    #[arg(long)]
    skip_flow: bool,
    /// Skip the ticker phases.
    #[arg(long)]
    skip_ticker: bool,
}

#[derive(Default)]
struct Figures {
    background_busy: Option<f64>,
    disk: Option<Closed>,
    pg: Option<(Closed, Usage, String)>,
    js: Option<(Closed, Usage)>,
    backlog: Option<flow::Backlog>,
    live: Vec<flow::Live>,
    real_clocks: Option<String>,
    ticker: Vec<ticker::SizeResult>,
}

/// Runs the dispatch bench.
pub async fn run(args: DispatchArgs) -> Result<ExitCode> {
    let machine = Machine::describe();
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    println!("civicgrid-bench dispatch");
    field("command", &command);
    field(
        "machine",
        format!("nproc {}, {} RAM, {}, Linux {}", machine.nproc, machine.memory, machine.cpu, machine.kernel),
    );
    let env = Env::start((args.concurrency + 100).max(200)).await?;
    field("nats", &env.nats_desc);
    field("postgres", &env.pg_desc);
    field("database", &env.db_name);
    field("data file system", env::filesystem_of(&env.data_fs_dir));
    let busy = env::background_busy_pct(Duration::from_secs(2)).await;
    if let Some(b) = busy {
        field("background load", format!("{b:.0}% of the machine busy before the run (should be near 0)"));
        if b > 10.0 {
            println!(
                "   WARNING: other programs are using the machine; every figure below will be lower than on a quiet machine"
            );
        }
    }
    let telemetry = {
        let settings = setup::settings(&env.nats_url, &env.db_url)?;
        civicgrid_kit::telemetry::init("dispatch-bench", &settings.common.telemetry)
    };
    let mut f = Figures { background_busy: busy, ..Default::default() };
    let result = measure(&args, &env, &mut f).await;
    env.stop().await;
    drop(telemetry);
    result?;
    Ok(report::summary(&args, &machine, &command, &f))
}

async fn measure(args: &DispatchArgs, env: &Env, f: &mut Figures) -> Result<()> {
    let probe = Probe::new(env.pg_pid, env.nats_managed, &env.admin_url, &env.db_name);
    let inputs = data::Inputs::load()?;
    let multi = inputs.combos.iter().filter(|c| c.tasks() > 1).count();
    field(
        "reference data",
        format!(
            "shipped: {} items × {} grids; {} (item, grid) pairs route to a department ({} of them with assisting departments)",
            inputs.refdata.catalog.items().len(),
            inputs.refdata.regions.grids().len(),
            int(inputs.combos.len() as u64),
            int(multi as u64)
        ),
    );

    heading("Phase 0 · disk: one thread rewriting 4 KiB and fdatasync-ing it, 2 s");
    let dir = env.data_fs_dir.clone();
    let disk = tokio::task::spawn_blocking(move || baseline::disk_fsync(&dir, Duration::from_secs(2))).await??;
    field("fdatasync/s", rate(disk.rate()));
    field("latency", Latency::of(&disk.hist).line());
    f.disk = Some(disk);

    if !args.skip_baselines {
        let duration = Duration::from_secs(args.baseline_secs);
        let c = args.concurrency as usize;
        heading(&format!(
            "Phase A · raw PostgreSQL: {c} connections, each looping BEGIN; INSERT (uuid, 500-byte bytea); COMMIT for {} s",
            args.baseline_secs
        ));
        let pg0 = probe.pg_counters().await;
        let cpu0 = probe.snapshot();
        let pg = baseline::raw_postgres(&env.db_url, c, duration).await?;
        let cpu1 = probe.snapshot();
        probe::settle().await;
        let pg1 = probe.pg_counters().await;
        let usage = probe.usage(&cpu0, &cpu1);
        let line = probe::pg_line(pg0, pg1, usage.secs);
        field("commits/s", format!("{}  ({} in {:.1} s)", rate(pg.rate()), int(pg.ok), pg.secs));
        field("latency", Latency::of(&pg.hist).line());
        field("errors", pg.errors.line());
        field("cpu", usage.line());
        field("postgres", &line);
        f.pg = Some((pg, usage, line));

        let common: civicgrid_kit::config::CommonSettings = civicgrid_kit::config::from_toml(&[])?;
        let dup = Duration::from_secs(common.nats.duplicate_window_secs);
        let max_age = Duration::from_secs(common.nats.stream_max_age_days * 86_400);
        heading(&format!(
            "Phase B · raw JetStream: 500-byte messages with Nats-Msg-Id, file storage, duplicate window {} s, acks awaited, 1 stream, {c} in flight, {} s",
            common.nats.duplicate_window_secs, args.baseline_secs
        ));
        let streams = baseline::BenchStreams::create(&env.nats_url, 1, dup, max_age).await?;
        let cpu0 = probe.snapshot();
        let js = streams.publish_loop(c, duration).await?;
        let cpu1 = probe.snapshot();
        let usage = probe.usage(&cpu0, &cpu1);
        streams.delete().await;
        field("acked msgs/s", format!("{}  ({} in {:.1} s)", rate(js.rate()), int(js.ok), js.secs));
        field("latency", Latency::of(&js.hist).line());
        field("errors", js.errors.line());
        field("cpu", usage.line());
        f.js = Some((js, usage));
    }

    if !args.skip_flow {
        let statements = flow::Statements::enable(&env.db_url).await;
        let mut dispatch = flow::Dispatch::build(env).await?;
        let s = &dispatch.settings;
        heading(&format!(
            "Phase C · event → task-assigned, backlog: {} event-reported published on CIVICGRID_INTAKE with dispatch stopped, then dispatch started; timed until every task-assigned is on CIVICGRID_DISPATCH",
            int(args.events)
        ));
        field(
            "dispatch",
            format!(
                "in-process (Application::build + run_until_stopped, its defaults); pool {} connections; consumer batch {}; relay batch {}, poll {} ms; ticker every {} ms",
                s.common.database.max_connections,
                s.common.bus.consumer_batch_size,
                s.common.bus.relay_batch_size,
                s.common.bus.relay_poll_ms,
                s.dispatch.ticker_interval_ms
            ),
        );
        field(
            "pg_stat_statements",
            if statements.is_some() {
                "loaded: per-statement figures below"
            } else {
                "not loaded (see docs/performance.md to get per-statement figures)"
            },
        );
        let backlog = flow::backlog(
            env,
            &inputs,
            &probe,
            &mut dispatch,
            args.events as usize,
            args.publish_window as usize,
            statements.as_ref(),
        )
        .await?;
        report::print_backlog(&backlog);
        f.backlog = Some(backlog);
        f.real_clocks = flow::real_clocks(&dispatch).await;
        for &r in &args.rates {
            heading(&format!(
                "Phase D · event → task-assigned, live: {r} event-reported/s on a fixed timetable for {} s; latency from the scheduled publish to the event's first task-assigned on a core subscription",
                args.rate_duration_secs
            ));
            tokio::time::sleep(Duration::from_secs(1)).await;
            let live = flow::live(
                env,
                &inputs,
                &probe,
                &dispatch,
                r,
                Duration::from_secs(args.rate_duration_secs),
                args.max_in_flight as usize,
            )
            .await?;
            field(
                "published",
                format!(
                    "{}/s  ({} of {} scheduled; errors {}; max {:.1} ms behind the timetable)",
                    rate(live.achieved),
                    int(live.published),
                    int(live.scheduled),
                    live.errors.line(),
                    live.max_slip_ms
                ),
            );
            field("to task-assigned", format!("{}  ({} not seen)", live.latency().line(), int(live.not_seen)));
            let worst: Vec<String> = live.worst_per_second.iter().map(|w| ms(*w)).collect();
            field("slowest each second", format!("{} ms", worst.join(" ")));
            field("cpu", live.usage.line());
            field("postgres", &live.pg_line);
            for (i, (what, n)) in live.waits.iter().take(6).enumerate() {
                field(if i == 0 { "dispatch's backends" } else { "" }, format!("{n:.2} on average: {what}"));
            }
            f.live.push(live);
        }
        dispatch.stop().await?;
    }

    if !args.skip_ticker {
        f.ticker = clock::measure_sizes(&args.ticker, env, &inputs, &probe, f.real_clocks.as_deref()).await?;
    }
    Ok(())
}
