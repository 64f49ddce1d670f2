//! The figures of `civicgrid-bench backlog`, printed as a table and written as JSON, and the
//! target of issue 16 they are held to.

use serde::Serialize;

use super::{
    super::{books::Books, opening::RunFacts, procs::CpuFigures, report::Target},
    drain::Drain,
    freeze::Queue,
};
use crate::stats::{int, rate};

/// Reports per second the backlog must drain at, end to end (issue 16).
pub const TARGET_DRAIN_PER_SEC: f64 = 2500.0;

/// The backlog submitted to intake while dispatch and notify were frozen.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Submit {
    /// Reports sent.
    pub sent: u64,
    /// Accepted by intake.
    pub accepted: u64,
    /// Answered `merged` (should be 0: every report is at a place of its own).
    pub merged: u64,
    /// Refused or failed.
    pub errors: u64,
    /// One failure's message.
    pub error_example: Option<String>,
    /// Seconds from the first send to the last answer.
    pub secs: f64,
    /// Accepted per second over that time: intake alone, its consumers frozen.
    pub accepted_per_sec: f64,
    /// Seconds from the last answer until intake's outbox was empty (every `event-reported`
    /// fact on the stream).
    pub relayed_after_secs: f64,
    /// `event-reported` facts of the backlog the bench saw on the bus.
    pub reported_seen: u64,
    /// CPU from the first send until the outbox was empty.
    pub cpu: Option<CpuFigures>,
}

/// Everything a run measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BacklogFigures {
    /// The run: command, machine, servers, how long (flattened: the same keys as before).
    #[serde(flatten)]
    pub run: RunFacts,
    /// Workers of the submission's closed loop.
    pub workers: usize,
    /// Reports asked for.
    pub reports: u64,
    /// Reports of the warm-up (through the whole loop before the freeze; in the books).
    pub warmup_accepted: u64,
    /// The submission.
    pub submit: Submit,
    /// What the frozen services' durable consumers held just before the kill.
    pub queued: Vec<Queue>,
    /// The drain.
    pub drain: Drain,
    /// The books after the run.
    pub books: Books,
    /// Whether they balance.
    pub books_balanced: bool,
    /// Whether every report of the backlog reached the webhook.
    pub drained: bool,
    /// The target of issue 16 and whether it was met.
    pub target: Option<Target>,
}

fn secs(v: Option<f64>) -> String {
    v.map(|s| format!("{s:.2} s")).unwrap_or_else(|| "–".into())
}

/// Prints the summary and fills in `f.target`.
pub fn summary(f: &mut BacklogFigures) {
    f.run.print_head();
    let (s, d) = (&f.submit, &f.drain);
    println!("\n| backlog | figure |");
    println!("| --- | --- |");
    let row = |what: &str, figure: String| println!("| {what} | {figure} |");
    row(
        &format!("submitted, dispatch and notify frozen ({} workers)", f.workers),
        format!(
            "{} accepted of {} in {:.1} s: **{}/s** (merged {}, errors {}{}); outbox empty {:.2} s after the last answer",
            int(s.accepted),
            int(s.sent),
            s.secs,
            rate(s.accepted_per_sec),
            int(s.merged),
            int(s.errors),
            s.error_example.as_deref().map(|e| format!(", e.g. \"{e}\"")).unwrap_or_default(),
            s.relayed_after_secs
        ),
    );
    if let Some(c) = &s.cpu {
        row("CPU while submitting", c.line());
    }
    let queued: Vec<String> = f
        .queued
        .iter()
        .filter(|q| q.pending + q.ack_pending > 0)
        .map(|q| format!("{} {} pending, {} pulled and unacknowledged", q.consumer, int(q.pending), int(q.ack_pending)))
        .collect();
    row(&format!("queued after {:.1} s frozen", d.frozen_secs), queued.join(" · "));
    let restarts: Vec<String> = d
        .restarts
        .iter()
        .map(|r| format!("{} spawned +{:.0} ms, SERVING +{:.0} ms", r.service, r.spawned_ms, r.serving_ms))
        .collect();
    row("killed (SIGKILL) → up starts them again", restarts.join(" · "));
    row(
        "first task-assigned / first webhook after the kill",
        format!("{} / {}", secs(d.first_assigned_secs), secs(d.first_webhook_secs)),
    );
    row(
        "dispatch's half: task-assigned on the bus",
        format!("{} in {}: {}/s", int(d.assigned), secs(d.last_assigned_secs), rate(d.assigned_per_sec)),
    );
    row(
        "**drain rate**, kill → last webhook",
        format!(
            "**{}/s** ({} of {} reports at the webhook{}); first → last webhook {}/s; busiest {:.0} s window {}/s",
            rate(d.drain_per_sec),
            int(d.webhooks),
            int(s.accepted),
            if d.drained { "" } else { " — NOT ALL ARRIVED" },
            rate(d.running_per_sec),
            d.window_secs,
            rate(d.peak_window_per_sec)
        ),
    );
    row("**time to empty** (kill → last webhook)", secs(d.time_to_empty_secs));
    if let Some(c) = &d.cpu {
        row("CPU while draining", c.line());
        let per: Vec<String> = super::super::procs::ACCOUNTED
            .iter()
            .filter_map(|n| c.cores.get(*n).map(|cores| (n, cores * c.secs * 1000.0 / d.webhooks.max(1) as f64)))
            .filter(|(_, ms)| *ms >= 0.005)
            .map(|(n, ms)| format!("{n} {ms:.2}"))
            .collect();
        row("CPU per report drained, ms", per.join(" · "));
    }
    if let Some(pg) = &d.pg {
        let per = d.commits_per_report.map(|c| format!("; {c:.2} commits per report")).unwrap_or_default();
        row("PostgreSQL while draining", format!("{pg}{per}"));
    }
    let windows: Vec<String> = d.windows.iter().map(|w| format!("{}/{}", int(w.webhooks), int(w.assigned))).collect();
    println!("\nWebhooks / task-assigned in each {:.0} s from the kill: {}", d.window_secs, windows.join(" "));

    println!("\nThe books:");
    f.books.print();

    let target = Target {
        what: "a backlog drains end to end (kill → last webhook, restart included)".into(),
        target: format!("≥ {}/s", rate(TARGET_DRAIN_PER_SEC)),
        measured: format!("{}/s", rate(d.drain_per_sec)),
        met: Some(d.drained && d.drain_per_sec >= TARGET_DRAIN_PER_SEC),
    };
    println!("\nTarget (issue 16):\n");
    println!("| target | bound | measured | |");
    println!("| --- | --- | --- | --- |");
    println!(
        "| {} | {} | {} | {} |",
        target.what,
        target.target,
        target.measured,
        if target.met == Some(true) { "met" } else { "NOT met" }
    );
    f.run.print_tail();
    f.target = Some(target);
}
