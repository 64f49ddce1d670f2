//! `civicgrid-bench clock`: the warning ticker's cost with 1,000 and 1,000,000 open tasks, alone
//! — phase E of `civicgrid-bench dispatch` ([`super::ticker`]), run by the same code with the
//! same flags, printed as a table and written as JSON. See `docs/performance.md`, "The clock".
//!
//! [`measure_sizes`] is what both commands run: for each table size, dispatch's schema in a
//! database of its own, the open tasks bulk-loaded, then `Store::tick` timed with nothing due,
//! with a few and with many tasks due per round, and through the first burst of simultaneous
//! colour changes with kit's relay publishing alongside.

mod figures;

use std::{path::PathBuf, process::ExitCode, time::Duration};

use anyhow::{Context, Result};
use clap::Args;

use super::{data::Inputs, setup, ticker};
use crate::{
    env::{self, Env, Machine},
    field, heading,
    probe::Probe,
    stats::int,
};

/// The ticker phases' flags, shared by `civicgrid-bench dispatch` and `civicgrid-bench clock`.
#[derive(Args, Clone, Debug)]
pub struct TickerArgs {
    /// Open-task counts of the ticker phases (comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = [1000u64, 1_000_000])]
    pub tasks: Vec<u64>,
    /// Timed ticker rounds with nothing due.
    #[arg(long, default_value_t = 200)]
    pub idle_rounds: usize,
    /// Tasks due per round in the "few" ticker phase, and its rounds.
    #[arg(long, default_value_t = 10)]
    pub few: usize,
    #[arg(long, default_value_t = 200)]
    pub few_rounds: usize,
    /// Tasks due per round in the "many" ticker phase, and its rounds.
    #[arg(long, default_value_t = 500)]
    pub many: usize,
    #[arg(long, default_value_t = 20)]
    pub many_rounds: usize,
    /// Tasks a ticker round takes (`dispatch.ticker_batch`); default: dispatch's default.
    #[arg(long, value_parser = clap::value_parser!(i64).range(1..=1_000_000))]
    pub ticker_batch: Option<i64>,
    /// Ticker loops (replicas) that drain the burst together.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=16))]
    pub ticker_replicas: u64,
    /// The relay's batch while the burst drains (`bus.relay_batch_size`); default: dispatch's.
    #[arg(long, value_parser = clap::value_parser!(i64).range(1..=100_000))]
    pub relay_batch: Option<i64>,
    /// Batches the relay keeps in flight (`bus.relay_batches_in_flight`); default: dispatch's.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub relay_in_flight: Option<u64>,
}

/// Arguments of `civicgrid-bench clock`.
#[derive(Args, Clone, Debug)]
pub struct ClockArgs {
    /// The table sizes, rounds and settings, as for `civicgrid-bench dispatch`.
    #[command(flatten)]
    pub ticker: TickerArgs,
    /// Also write the figures as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// The CI smoke: 1,000 open tasks and 20 rounds of each phase (3 of ~500 due); only that it
    /// completes and its figures are there matters.
    #[arg(long)]
    pub smoke: bool,
}

/// Runs the ticker phases (phase E of the dispatch bench) at each table size of `args`,
/// printing each as it goes.
pub(super) async fn measure_sizes(
    args: &TickerArgs,
    env: &Env,
    inputs: &Inputs,
    probe: &Probe,
    real_clocks: Option<&str>,
) -> Result<Vec<ticker::SizeResult>> {
    let defaults = setup::settings(&env.nats_url, &env.db_url)?;
    let params = ticker::TickerParams {
        idle_rounds: args.idle_rounds,
        few_rounds: args.few_rounds,
        many_rounds: args.many_rounds,
        few: args.few.max(1),
        many: args.many.max(1),
        batch: args.ticker_batch.unwrap_or(defaults.dispatch.ticker_batch),
        grace: defaults.dispatch.escalation_grace,
        replicas: args.ticker_replicas as usize,
        bus: civicgrid_kit::config::BusSettings {
            relay_batch_size: args.relay_batch.unwrap_or(defaults.common.bus.relay_batch_size),
            relay_batches_in_flight: args
                .relay_in_flight
                .map(|n| n as usize)
                .unwrap_or(defaults.common.bus.relay_batches_in_flight),
            ..defaults.common.bus.clone()
        },
    };
    if let Some(real) = real_clocks {
        field("a real row's clocks", real);
    }
    let mut out = Vec::new();
    for &n in &args.tasks {
        heading(&format!(
            "Phase E · warning ticker with {} open tasks: Store::tick(now, {}) with nothing due ({} rounds), ~{} due ({} rounds), ~{} due ({} rounds), then the first burst of simultaneous changes ({} ticker loop(s), the relay publishing alongside)",
            int(n),
            params.batch,
            params.idle_rounds,
            params.few,
            params.few_rounds,
            params.many,
            params.many_rounds,
            params.replicas
        ));
        let r = ticker::measure(env, inputs, probe, n, &params).await?;
        field("a loaded row's clocks", &r.sample_clocks);
        for p in &r.phases {
            field(&format!("cpu, {}", p.label), p.usage.line());
        }
        if let Some(b) = &r.burst {
            field("cpu, burst", b.usage.line());
        }
        println!(
            "   EXPLAIN (ANALYZE, BUFFERS) of the ticker's SELECT with {} tasks due, literal values (custom plan):",
            r.explain_due
        );
        for l in &r.explain_custom {
            println!("     {l}");
        }
        println!("   … the same as a prepared statement forced to its generic plan:");
        for l in &r.explain_generic {
            println!("     {l}");
        }
        out.push(r);
    }
    Ok(out)
}

/// Runs `civicgrid-bench clock`.
pub async fn run(mut args: ClockArgs) -> Result<ExitCode> {
    if args.smoke {
        let t = &mut args.ticker;
        t.tasks = vec![1000];
        (t.idle_rounds, t.few_rounds, t.many_rounds) = (20, 20, 3);
    }
    let machine = Machine::describe();
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    println!("civicgrid-bench clock{}", if args.smoke { " (smoke)" } else { "" });
    field("command", &command);
    field(
        "machine",
        format!("nproc {}, {} RAM, {}, Linux {}", machine.nproc, machine.memory, machine.cpu, machine.kernel),
    );
    let env = Env::start(200).await?;
    field("nats", &env.nats_desc);
    field("postgres", &env.pg_desc);
    let busy = env::background_busy_pct(Duration::from_secs(2)).await;
    if let Some(b) = busy {
        field("background load", format!("{b:.0}% of the machine busy before the run (should be near 0)"));
    }
    // The store and kit's relay log through tracing, as in the dispatch bench.
    let telemetry = {
        let settings = setup::settings(&env.nats_url, &env.db_url)?;
        civicgrid_kit::telemetry::init("dispatch-bench", &settings.common.telemetry)
    };
    let started = std::time::Instant::now();
    let result = async {
        let probe = Probe::new(env.pg_pid, env.nats_managed, &env.admin_url, &env.db_name);
        let inputs = Inputs::load()?;
        measure_sizes(&args.ticker, &env, &inputs, &probe, None).await
    }
    .await;
    let servers = vec![env.nats_desc.clone(), env.pg_desc.clone()];
    env.stop().await;
    drop(telemetry);
    let sizes = result?;
    let mut f = figures::ClockFigures {
        command,
        machine: crate::suite::raw::machine_json(&machine),
        servers,
        smoke: args.smoke,
        background_busy_pct: busy,
        total_secs: started.elapsed().as_secs_f64(),
        sizes: sizes.iter().map(figures::SizeFigures::of).collect(),
        ..Default::default()
    };
    figures::summary(&mut f, args.ticker.few.max(1));
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&f)?).with_context(|| format!("writing {}", path.display()))?;
        field("json", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
