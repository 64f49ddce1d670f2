//! `civicgrid-bench positions`: patrol's position ingest — the patrol bench
//! ([`super::measure_run`]: the same world, flags and phases), printed as a table and written as
//! JSON. See `docs/performance.md`, "Positions".

use std::{path::PathBuf, process::ExitCode};

use anyhow::{Context, Result};
use clap::Args;
use serde::Serialize;

use super::{PatrolArgs, TARGET_FIXES_PER_SEC};
use crate::{
    field,
    stats::{int, ms, rate},
};

/// Arguments of `civicgrid-bench positions`.
#[derive(Args, Clone)]
pub struct PositionsArgs {
    /// The world, the rate and the servers, as for `civicgrid-bench patrol`.
    #[command(flatten)]
    pub patrol: PatrolArgs,
    /// Also write the figures as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// The CI smoke: 20 routes of 5 fences, 100 members, 1,000 fixes from a backlog, no
    /// baselines; only that it completes, every fix is accepted and the figures are there
    /// matters.
    #[arg(long)]
    pub smoke: bool,
}

/// Check-in latency, ms.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Lag {
    /// Check-ins timed.
    pub count: u64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Slowest.
    pub max_ms: f64,
}

/// Everything a run measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PositionsFigures {
    /// The command line.
    pub command: String,
    /// The machine.
    pub machine: serde_json::Value,
    /// nats-server and PostgreSQL.
    pub servers: Vec<String>,
    /// Whether this was the smoke.
    pub smoke: bool,
    /// Share of the machine busy in the 2 s before the run.
    pub background_busy_pct: Option<f64>,
    /// Routes (teams, shifts).
    pub routes: u64,
    /// Geofences in all.
    pub geofences: u64,
    /// Members in all.
    pub members: u64,
    /// Fixes offered per second (0: as fast as acks allow).
    pub rate: u32,
    /// The raw baselines of the same run, per second.
    pub baselines: Vec<(String, f64)>,
    /// Seconds loading the world through patrol's gRPC API.
    pub load_secs: f64,
    /// Fixes published.
    pub fixes: u64,
    /// Seconds the publishing took.
    pub publish_secs: f64,
    /// Fixes published per second.
    pub offered_per_sec: f64,
    /// **Positions ingested per second**: fixes ÷ (first publish → nothing pending).
    pub ingest_per_sec: f64,
    /// Seconds of that.
    pub secs: f64,
    /// Seconds from the last publish's ack until nothing was pending.
    pub drained_after_secs: f64,
    /// Fixes accepted.
    pub accepted: u64,
    /// Fixes rejected, by reason (`none`).
    pub rejected: String,
    /// Check-ins made.
    pub check_ins: u64,
    /// Fix published → `checkpoint-checked-in` on the bus (not with the outside publisher).
    pub check_in_decided: Option<Lag>,
    /// Check-in facts that matched no published fix.
    pub unmatched: usize,
    /// Ingest batches (transactions).
    pub batches: u64,
    /// Fixes per batch on average.
    pub fixes_per_batch: f64,
    /// Milliseconds per batch on average.
    pub ms_per_batch: f64,
    /// CPU while ingesting.
    pub cpu: String,
    /// PostgreSQL's commits and WAL fsyncs while ingesting.
    pub pg: String,
    /// Whether issue 11's target was met (≥ 30,000/s sustained, check-ins within 1 s).
    pub target_met: bool,
}

/// Runs `civicgrid-bench positions`.
pub async fn run(mut args: PositionsArgs) -> Result<ExitCode> {
    if args.smoke {
        let p = &mut args.patrol;
        (p.routes, p.fences_per_route, p.members_per_team, p.fixes_per_member) = (20, 5, 5, 10);
        (p.rate, p.skip_baselines, p.outside_publisher) = (0, true, false);
    }
    let shape = args.patrol.shape();
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let title = format!("civicgrid-bench positions{}", if args.smoke { " (smoke)" } else { "" });
    let r = super::measure_run(&args.patrol, &title).await?;
    let o = &r.outcome;
    let f = PositionsFigures {
        command,
        machine: crate::suite::raw::machine_json(&r.machine),
        servers: r.servers.clone(),
        smoke: args.smoke,
        background_busy_pct: r.background_busy_pct,
        routes: shape.routes as u64,
        geofences: shape.fences() as u64,
        members: shape.members() as u64,
        rate: args.patrol.rate,
        baselines: r.baselines.clone(),
        load_secs: o.load_secs,
        fixes: o.fixes,
        publish_secs: o.publish_secs,
        offered_per_sec: o.offered,
        ingest_per_sec: o.ingest,
        secs: o.secs,
        drained_after_secs: o.drain_after_last,
        accepted: o.accepted,
        rejected: o.rejected.clone(),
        check_ins: o.check_ins,
        check_in_decided: o.lag.map(|l| Lag {
            count: l.count,
            p50_ms: l.p50,
            p90_ms: l.p90,
            p99_ms: l.p99,
            max_ms: l.max,
        }),
        unmatched: o.unmatched,
        batches: o.batches,
        fixes_per_batch: o.fixes as f64 / o.batches.max(1) as f64,
        ms_per_batch: o.batch_secs * 1000.0 / o.batches.max(1) as f64,
        cpu: o.cpu.clone(),
        pg: o.pg.clone(),
        target_met: r.met,
    };
    table(&f);
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&f)?).with_context(|| format!("writing {}", path.display()))?;
        field("json", path.display());
    }
    // A measurement: a missed target is printed, not an error (as `loop`, `backlog` and `clock`).
    Ok(ExitCode::SUCCESS)
}

/// The figures as a table.
fn table(f: &PositionsFigures) {
    crate::heading("positions");
    println!(
        "\n| positions: {} routes · {} members · {} geofences | figure |",
        int(f.routes),
        int(f.members),
        int(f.geofences)
    );
    println!("| --- | --- |");
    let row = |what: &str, figure: String| println!("| {what} | {figure} |");
    for (what, per_sec) in &f.baselines {
        row(what, format!("{}/s", rate(*per_sec)));
    }
    row("world loaded through patrol's gRPC API", format!("{:.1} s", f.load_secs));
    row(
        "offered",
        format!(
            "{} fixes in {:.2} s: {}/s ({})",
            int(f.fixes),
            f.publish_secs,
            rate(f.offered_per_sec),
            if f.rate == 0 {
                "as fast as acks allow".to_string()
            } else {
                format!("--rate {}", int(u64::from(f.rate)))
            }
        ),
    );
    row(
        "**ingested** (first publish → nothing pending)",
        format!(
            "**{}/s** ({:.2} s; nothing pending {:.2} s after the last publish)",
            rate(f.ingest_per_sec),
            f.secs,
            f.drained_after_secs
        ),
    );
    row("accepted · rejected · check-ins", format!("{} · {} · {}", int(f.accepted), f.rejected, int(f.check_ins)));
    if let Some(l) = &f.check_in_decided {
        row(
            "check-in decided (fix published → fact on the bus)",
            format!(
                "p50 {} · p90 {} · p99 {} · max {} ms ({} check-ins{})",
                ms(l.p50_ms),
                ms(l.p90_ms),
                ms(l.p99_ms),
                ms(l.max_ms),
                int(l.count),
                if f.unmatched > 0 { format!(", {} unmatched", f.unmatched) } else { String::new() }
            ),
        );
    }
    row(
        "batches",
        format!("{} of {:.0} fixes, {:.2} ms each on average", int(f.batches), f.fixes_per_batch, f.ms_per_batch),
    );
    row("CPU", f.cpu.clone());
    row("PostgreSQL", f.pg.clone());
    row(
        &format!("target (issue 11): ≥ {}/s sustained, check-ins within 1 s", rate(TARGET_FIXES_PER_SEC)),
        if f.target_met { "met".into() } else { "NOT met".into() },
    );
}
