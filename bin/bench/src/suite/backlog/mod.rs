//! `civicgrid-bench backlog`: a day's reports queued while dispatch and notify are stopped, then
//! drained when they start again — drain rate and time to empty (issue 16: ≥ 2,500 reports/s
//! end to end). The suite runs as `civicgrid up` runs it, as for `civicgrid-bench loop`. See
//! `docs/performance.md`, "The backlog".
//!
//! Order of a run: `up` started; the department's webhook registered; a warm-up through the
//! whole loop; dispatch and notify frozen (SIGSTOP: their durable consumers stay and JetStream
//! keeps what arrives for them); `--reports` submitted to intake by a closed loop of workers;
//! intake's outbox left to empty (every `event-reported` fact on the stream); both frozen
//! processes killed, so that `up` starts fresh ones ([`freeze`]); the drain timed from the
//! kill until the last report's notification reaches the webhook ([`drain`]); the books.

mod drain;
mod freeze;
mod report;

use std::{
    path::PathBuf,
    process::ExitCode,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use async_nats::jetstream;
use civicgrid_proto::v1::{RegisterWebhookRequest, notify_service_client::NotifyServiceClient};
use clap::Args;

use super::{
    books,
    drive::{self, DEPARTMENT, Reports},
    opening, phase,
    timeline::{Observer, Receiver, Timeline},
    up,
};
use crate::{
    field, heading,
    probe::{self, Probe},
    stats::{int, rate},
    suite::procs::Procs,
};
use report::{BacklogFigures, Submit};

/// Arguments of `civicgrid-bench backlog`.
#[derive(Args, Clone, Debug)]
pub struct BacklogArgs {
    /// Reports queued while dispatch and notify are stopped.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub reports: u64,
    /// Workers submitting them, each sending its next report when the last is answered.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub concurrency: u32,
    /// Reports of the warm-up through the whole loop before the freeze (20 a second).
    #[arg(long, default_value_t = 40, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub warmup: u64,
    /// Seconds of each window of the drain's arrivals.
    #[arg(long, default_value_t = 5.0)]
    pub window_secs: f64,
    /// Seconds the drain may take before it counts as not drained.
    #[arg(long, default_value_t = 1800, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub drain_secs: u64,
    /// The consumers' ack wait in seconds (`CIVICGRID__BUS__ACK_WAIT_SECS`, given to the
    /// services through `up`). The messages the frozen processes had pulled come back to the
    /// new ones only this long after their delivery: with the services' 30 s, a freeze shorter
    /// than that (a fast machine, fewer reports) would hold the drain's end back to it.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub ack_wait_secs: u64,
    /// The services' log level (`CIVICGRID__TELEMETRY__LOG`).
    #[arg(long, default_value = "warn")]
    pub log: String,
    /// Keep `up`'s state directory (its logs and data) after the run.
    #[arg(long)]
    pub keep_state: bool,
    /// Also write the figures as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// The CI smoke: 500 reports, 8 workers; only that it completes, drains and the books
    /// balance matters (exit 2 otherwise).
    #[arg(long)]
    pub smoke: bool,
}

impl BacklogArgs {
    /// The smoke's small settings in place of the figures' defaults.
    fn effective(mut self) -> BacklogArgs {
        if self.smoke {
            self.reports = 500;
            self.concurrency = 8;
            self.warmup = 10;
            self.drain_secs = 120;
        }
        self.window_secs = self.window_secs.clamp(0.1, 3600.0);
        self
    }
}

/// Runs `civicgrid-bench backlog`.
pub async fn run(args: BacklogArgs) -> Result<ExitCode> {
    let args = args.effective();
    let opening = opening::open(
        "backlog",
        args.smoke,
        &args.log,
        args.keep_state,
        false,
        &[("CIVICGRID__BUS__ACK_WAIT_SECS", args.ack_wait_secs.to_string())],
    )
    .await?;
    field("ack wait", format!("{} s (the consumers', --ack-wait-secs)", args.ack_wait_secs));
    let result = measure(&args, &opening.up).await;
    if let Err(e) = &result {
        eprintln!("civicgrid-bench: {e:#}\n{}", opening.up.tail());
    }
    let run = opening.finish().await;
    let mut figures = result?;
    figures.run = run;
    figures.books_balanced = figures.books.balanced();
    figures.drained = figures.drain.drained;
    report::summary(&mut figures);
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&figures)?)
            .with_context(|| format!("writing {}", path.display()))?;
        field("json", path.display());
    }
    Ok(if figures.books_balanced && figures.drained { ExitCode::SUCCESS } else { ExitCode::from(2) })
}

async fn measure(args: &BacklogArgs, up: &up::Up) -> Result<BacklogFigures> {
    let procs = Procs::new(&up.state_path, up.up_pid());
    let workers = args.concurrency as usize;
    let run = uuid::Uuid::now_v7().simple().to_string()[20..].to_string();
    // The services started, migrated and connected before anything is sent.
    tokio::time::sleep(Duration::from_secs(if args.smoke { 1 } else { 3 })).await;
    let nats = up.nats_operator().await?;
    let js = jetstream::new(nats.clone());
    let timeline = Arc::new(Timeline::default());
    let receiver = Receiver::start(timeline.clone()).await?;
    let observer = Observer::start(&nats, timeline.clone()).await?;
    let mut notify = NotifyServiceClient::connect(up.grpc_url("notify")).await.context("connecting to notify")?;
    notify
        .register_webhook(RegisterWebhookRequest {
            recipient: format!("department:{DEPARTMENT}"),
            url: receiver.url.clone(),
            secret: format!("civicgrid-bench-backlog-{run}"),
            description: "civicgrid-bench backlog: the department's receiver".into(),
            request_id: format!("bench-backlog-hook-{run}"),
        })
        .await
        .context("registering the department's webhook")?;
    let clients = drive::clients(&up.grpc_url("intake"), workers.max(8)).await?;
    let reports = Arc::new(Reports::new(&run));

    heading(&format!(
        "warm-up: {} reports at 20/s through the whole loop (item {} in grid {} → department:{DEPARTMENT})",
        args.warmup,
        drive::ITEM,
        drive::GRID
    ));
    let warm = Duration::from_secs_f64(args.warmup as f64 / 20.0);
    let sent = drive::open_loop(&clients, &reports, &timeline, 0, 20.0, warm, 256).await?;
    let warm_drained = phase::wait_drained(&timeline, 0, Duration::from_secs(120)).await;
    anyhow::ensure!(
        warm_drained && sent.ok > 0,
        "the warm-up's reports did not all reach the webhook of department:{DEPARTMENT} \
         (do the shipped routing rules still send item {} in grid {} there?)",
        drive::ITEM,
        drive::GRID
    );
    field("warm-up", format!("{} accepted, all at the webhook", int(sent.ok)));

    heading(&format!(
        "backlog: dispatch and notify frozen (SIGSTOP); {} reports submitted by {workers} workers, each sending its next when the last is answered",
        int(args.reports)
    ));
    let frozen = freeze::Frozen::stop(&up.state_path).await?;
    let frozen_at = Instant::now();
    let pids: Vec<String> = frozen.pids().iter().map(|(s, p)| format!("{s} (pid {p})")).collect();
    field("frozen", pids.join(", "));
    let cpu0 = procs.snapshot();
    let sent = drive::closed_loop_count(&clients, &reports, &timeline, 1, workers, args.reports).await?;
    let answered = Instant::now();
    field(
        "submitted",
        format!(
            "{} sent, {} accepted in {:.1} s: {}/s; merged {}, errors {}{}",
            int(sent.sent),
            int(sent.ok),
            sent.secs,
            rate(crate::stats::per_sec(sent.ok, sent.secs)),
            int(sent.merged),
            int(sent.errors.total()),
            sent.errors.example.as_deref().map(|e| format!(" (e.g. \"{e}\")")).unwrap_or_default()
        ),
    );
    // Every `event-reported` fact on the stream before the clock starts: intake's relay is
    // not part of the drain.
    let intake_metrics = up.metrics.get("intake").copied().unwrap_or(0);
    let deadline = Instant::now() + Duration::from_secs(600);
    while books::outbox_pending(intake_metrics).await != Some(0.0) {
        anyhow::ensure!(Instant::now() < deadline, "intake's outbox did not empty within 600 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let relayed_after_secs = answered.elapsed().as_secs_f64();
    let cpu1 = procs.snapshot();
    let reported_seen = {
        let o = timeline.lock();
        o.answers.iter().filter(|(e, a)| a.phase == 1 && o.reported.contains_key(*e)).count() as u64
    };
    field(
        "relayed",
        format!(
            "intake's outbox empty {relayed_after_secs:.2} s after the last answer; {} of {} event-reported facts seen on the bus",
            int(reported_seen),
            int(sent.ok)
        ),
    );
    let submit_cpu = procs.usage(&cpu0, &cpu1);
    field("cpu", submit_cpu.line());
    let submit = Submit {
        sent: sent.sent,
        accepted: sent.ok,
        merged: sent.merged,
        errors: sent.errors.total(),
        error_example: sent.errors.example.clone(),
        secs: sent.secs,
        accepted_per_sec: crate::stats::per_sec(sent.ok, sent.secs),
        relayed_after_secs,
        reported_seen,
        cpu: Some(submit_cpu),
    };
    let queued = freeze::queues(&js).await;
    for q in queued.iter().filter(|q| q.pending + q.ack_pending > 0) {
        field(
            &q.consumer,
            format!("{} pending, {} pulled before the freeze and unacknowledged", int(q.pending), int(q.ack_pending)),
        );
    }

    let mut drain = drain_phase(args, up, &procs, &timeline, frozen, frozen_at, sent.ok).await?;
    observer.stop().await;

    heading("the books: every accepted report once on the bus, once a task, once assigned, once told");
    let accepted = sent.ok + timeline.lock().answers.values().filter(|a| a.phase == 0).count() as u64;
    let books = books::count(up, &js, &timeline, accepted, DEPARTMENT, Duration::from_secs(120)).await?;
    books.print();
    receiver.stop();
    drain.drained &= drain.webhooks >= sent.ok;
    Ok(BacklogFigures {
        workers,
        reports: args.reports,
        warmup_accepted: accepted - sent.ok,
        submit,
        queued,
        drain,
        books,
        ..Default::default()
    })
}

/// Kills the frozen services, times `up`'s restart of them and the drain until `expected`
/// reports have reached the webhook.
async fn drain_phase(
    args: &BacklogArgs,
    up: &up::Up,
    procs: &Procs,
    timeline: &Timeline,
    frozen: freeze::Frozen,
    frozen_at: Instant,
    expected: u64,
) -> Result<drain::Drain> {
    heading(
        "drain: the frozen dispatch and notify killed (SIGKILL); up starts fresh ones after its 1 s pause; timed from the kill",
    );
    let old: Vec<(&'static str, u32)> = frozen.pids().to_vec();
    let killed = frozen.kill();
    let frozen_secs = killed.duration_since(frozen_at).as_secs_f64();
    let waits = old.iter().map(|(service, pid)| {
        let port = up.grpc.get(service).copied().unwrap_or(0);
        freeze::restarted(&up.state_path, service, *pid, port, killed)
    });
    let restarts = futures::future::try_join_all(waits).await?;
    for r in &restarts {
        field(
            &r.service,
            format!("spawned {:.0} ms after the kill, SERVING after {:.0} ms", r.spawned_ms, r.serving_ms),
        );
    }
    // CPU and commits from the moment both answer: the processes are new, their counters start
    // there.
    let pg = Probe::new(None, false, &up.admin_db_url(), "civicgrid");
    let (cpu0, pg0) = (procs.snapshot(), pg.pg_counters().await);
    // The consumers' ack wait is 30 s by default: what the frozen processes had pulled comes
    // back only after it, so a shorter silence is not the end.
    let drained =
        drain::wait(timeline, killed, expected, Duration::from_secs(args.drain_secs), Duration::from_secs(90)).await;
    let cpu = procs.usage(&cpu0, &procs.snapshot());
    probe::settle().await;
    let pg1 = pg.pg_counters().await;
    let mut d = drain::figures(timeline, killed, args.window_secs);
    d.frozen_secs = frozen_secs;
    d.restarts = restarts;
    d.drained = drained;
    d.pg = Some(probe::pg_line(pg0, pg1, cpu.secs));
    if let (Some(a), Some(b)) = (pg0, pg1) {
        d.commits_per_report = Some((b.commits - a.commits).max(0) as f64 / d.webhooks.max(1) as f64);
    }
    field(
        "drained",
        format!(
            "{} of {} at the webhook; last {} after the kill: {}/s{}",
            int(d.webhooks),
            int(expected),
            d.time_to_empty_secs.map(|s| format!("{s:.2} s")).unwrap_or_else(|| "–".into()),
            rate(d.drain_per_sec),
            if drained { "" } else { " — NOT ALL ARRIVED" }
        ),
    );
    field("cpu", cpu.line());
    d.cpu = Some(cpu);
    Ok(d)
}
