//! `civicgrid-bench`: benchmark programs that print figures, next to raw baselines measured in
//! the same run on the same machine (design §13: benchmarks are programs, not timed tests).
//!
//! `civicgrid-bench intake` measures intake end to end — gRPC `SubmitEvent`, the PostgreSQL
//! transaction with its outbox row, the relay's JetStream publish — and, for scale, what
//! PostgreSQL and JetStream do on their own with the same concurrency. See
//! `docs/performance.md`.
//!
//! `civicgrid-bench dispatch` measures dispatch: event → task-assigned throughput and latency
//! (dispatch run in-process, fed intake's messages on JetStream), and the warning ticker's cost
//! per round with 1,000 and 1,000,000 open tasks.
//!
//! `civicgrid-bench notify` measures notify: webhook deliveries per second from a backlog of
//! dispatch facts, with the receiver on loopback.
//!
//! `civicgrid-bench patrol` measures patrol: positions ingested per second from NATS with
//! 20,000 members on 2,000 routes past 20,000 geofences.
//!
//! `civicgrid-bench console` measures the command-center console with the whole demo city and
//! 100,000 tasks on the bus: replay, view latency and size, the live feed, memory.
//!
//! `civicgrid-bench raw` measures the machine's ceilings: PostgreSQL two-row insert
//! transactions, JetStream acknowledged publishes (one at a time and windowed), a no-op gRPC
//! call.
//!
//! `civicgrid-bench loop` measures the whole closed loop — reports → tasks assigned →
//! departments notified by webhook — with the suite running as `civicgrid up` runs it, beside
//! `raw`'s ceilings on the same servers: throughput, latency per hop, the load table, memory and
//! start-up time per service, and the books after the run.
//!
//! Named scenarios of issue 16, each printing a table and writing JSON with `--json FILE`, each
//! with a `--smoke` that CI runs (`tests/*_smoke.rs`):
//!
//! - `civicgrid-bench backlog`: 100,000 reports queued while dispatch and notify are stopped
//!   (the suite as `loop` runs it, the two frozen), then started: drain rate and time to empty,
//!   against ≥ 2,500 reports/s end to end, and the books after.
//! - `civicgrid-bench clock`: the warning ticker's cost per round with 1,000 and 1,000,000 open
//!   tasks and its burst of simultaneous changes — the ticker phase of `dispatch`, alone.
//! - `civicgrid-bench positions`: patrol's position ingest — the `patrol` bench, as a table and
//!   JSON.

mod baseline;
mod catalog;
mod console;
mod dispatch;
mod env;
mod intake;
mod notify;
mod patrol;
mod probe;
mod stats;
mod suite;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "civicgrid-bench",
    version,
    about = "civicgrid benchmarks: figures next to raw baselines measured in the same run"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Measure intake: raw PostgreSQL and JetStream baselines, then intake in a closed loop
    /// (throughput) and an open loop at a fixed rate (latency). Uses CIVICGRID__NATS__URL and
    /// CIVICGRID__DATABASE__URL when set, else starts its own nats-server and PostgreSQL.
    Intake(IntakeArgs),
    /// Measure dispatch: raw PostgreSQL and JetStream baselines, event → task-assigned
    /// throughput (a backlog) and latency (fixed rates), and the warning ticker's cost per
    /// round with 1,000 and 1,000,000 open tasks. Uses CIVICGRID__NATS__URL and
    /// CIVICGRID__DATABASE__URL when set, else starts its own nats-server and PostgreSQL.
    Dispatch(dispatch::DispatchArgs),
    /// Measure notify: raw PostgreSQL, JetStream and HTTP baselines, then webhook deliveries per
    /// second from a backlog of task-assigned facts with the receiver on loopback. Uses
    /// CIVICGRID__NATS__URL and CIVICGRID__DATABASE__URL when set, else starts its own servers.
    Notify(notify::NotifyArgs),
    /// Measure patrol: raw JetStream and PostgreSQL (INSERT … UNNEST and COPY) baselines with
    /// the same fixes, then positions ingested per second through patrol's feed consumer with
    /// 20,000 members on 2,000 active shifts past 20,000 geofences. Uses CIVICGRID__NATS__URL
    /// and CIVICGRID__DATABASE__URL when set, else starts its own servers.
    Patrol(patrol::PatrolArgs),
    /// Measure the console: the whole demo city and 100,000 tasks replayed from JetStream (beside
    /// an ordered consumer alone), the region views' latency and size, curl on the same view, the
    /// live feed's delay and the resident memory. Starts its own nats-server.
    Console(console::ConsoleArgs),
    /// Measure the machine's ceilings: PostgreSQL two-row insert transactions, JetStream acked
    /// publishes one at a time and windowed, and a no-op gRPC call (an in-process tonic health
    /// server). Starts its own nats-server and PostgreSQL as `civicgrid up` does.
    Raw(suite::raw::RawArgs),
    /// Measure the whole loop (reports → tasks assigned → departments' webhooks) with the suite
    /// started by `civicgrid up` (the civicgrid binary beside this one, or CIVICGRID_BIN):
    /// raw ceilings on its servers, fixed rates, saturation, per-hop latency, memory and
    /// start-up per service, and the books.
    Loop(suite::LoopArgs),
    /// Queue a backlog of reports with dispatch and notify stopped (SIGSTOP), then start them
    /// (killed, so `civicgrid up` starts fresh ones) and time the drain to the department's
    /// webhook: drain rate, time to empty, CPU, the books. The suite as `loop` runs it.
    Backlog(suite::backlog::BacklogArgs),
    /// Measure the warning ticker alone (the dispatch bench's phase E): Store::tick per round
    /// with 1,000 and 1,000,000 open tasks, and the first burst of simultaneous changes. Uses
    /// CIVICGRID__NATS__URL and CIVICGRID__DATABASE__URL when set, else starts its own servers.
    Clock(dispatch::clock::ClockArgs),
    /// Measure patrol's position ingest (the patrol bench) and print it as a table, with JSON.
    /// Uses CIVICGRID__NATS__URL and CIVICGRID__DATABASE__URL when set, else starts its own
    /// servers.
    Positions(patrol::positions::PositionsArgs),
}

#[derive(Args, Clone)]
struct IntakeArgs {
    /// Workers of the closed-loop phases: PostgreSQL connections, in-flight JetStream
    /// publishes, concurrent SubmitEvent calls.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=4096))]
    concurrency: u32,
    /// Seconds each closed-loop phase runs.
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=3600))]
    duration_secs: u64,
    /// Requests per second of the open-loop phase.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    rate: u32,
    /// Seconds the open-loop phase runs.
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=3600))]
    rate_duration_secs: u64,
    /// In-flight publishes of the second JetStream baseline.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    wide_window: u32,
    /// Most calls in flight in the open loop (beyond that the schedule waits, and the wait
    /// counts in the latency).
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    max_in_flight: u32,
    /// Counties of the demo city the reports are spread over: 1 is the demo county (411602)
    /// only; more spread intake's per-(item, county) duplicate-check lock.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10))]
    counties: u32,
    /// intake's `batch_max` (group commit: most submissions per transaction); unset keeps
    /// intake's default. `--batch-max 1` writes every submission in its own transaction.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    batch_max: Option<u32>,
    /// intake's `batch_writers` (batches written at once); unset keeps intake's default.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1_024))]
    batch_writers: Option<u32>,
    /// Skip the raw PostgreSQL and JetStream baselines.
    #[arg(long)]
    skip_baselines: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Intake(args) => intake::report::run_intake(args).await,
        Command::Dispatch(args) => dispatch::run(args).await,
        Command::Notify(args) => notify::run(args).await,
        Command::Patrol(args) => patrol::run(args).await,
        Command::Console(args) => console::run(args).await,
        Command::Raw(args) => suite::raw::run(args).await,
        Command::Loop(args) => suite::run(args).await,
        Command::Backlog(args) => suite::backlog::run(args).await,
        Command::Clock(args) => dispatch::clock::run(args).await,
        Command::Positions(args) => patrol::positions::run(args).await,
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("civicgrid-bench: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn heading(text: &str) {
    println!("\n== {text}");
}

fn field(name: &str, value: impl std::fmt::Display) {
    println!("   {name:<22} {value}");
}
