//! The summary of `civicgrid-bench loop`: the ceilings, the load table, a line per service,
//! the books and the targets of issue 16, printed and written as JSON.

use serde::Serialize;

use super::{
    books::Books, figures::opt, k6::OutsideFigures, opening::RunFacts, phase::PhaseFigures, procs::ServiceLine,
    raw::RawFigures, up,
};
use crate::stats::{int, ms, rate};

/// Reports per second the loop must sustain end to end.
const TARGET_LOOP_PER_SEC: f64 = 2000.0;
/// Share of the raw two-row commit rate the loop must reach.
const TARGET_RATIO: f64 = 0.5;
/// The rate at which the end-to-end p99 is held to [`TARGET_P99_MS`].
const TARGET_P99_RATE: f64 = 300.0;
/// End-to-end p99 at that rate, ms.
const TARGET_P99_MS: f64 = 100.0;
/// Idle resident memory per service: 30 MB (10⁶ bytes) in MiB.
const TARGET_IDLE_MIB: f64 = 30.0e6 / 1_048_576.0;
/// Spawn → SERVING, ms.
const TARGET_STARTUP_MS: f64 = 5000.0;
/// How far k6's accepted/s may be from our client's, as a share of ours.
const TARGET_K6_WITHIN: f64 = 0.2;

/// Everything a run measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LoopFigures {
    /// The run: command, machine, servers, how long (flattened: the same keys as before).
    #[serde(flatten)]
    pub run: RunFacts,
    /// Workers of the saturation, connections and callers of the ceilings.
    pub concurrency: usize,
    /// The ceilings, on `up`'s servers.
    pub raw: Option<RawFigures>,
    /// The warm-up.
    pub warmup: PhaseFigures,
    /// The fixed rates.
    pub phases: Vec<PhaseFigures>,
    /// The closed loop.
    pub saturation: Option<PhaseFigures>,
    /// SubmitEvent from outside: k6 beside our own client.
    pub outside: Option<OutsideFigures>,
    /// The books after the run.
    pub books: Books,
    /// Whether they balance: every accepted report once of everything, outboxes empty.
    pub books_balanced: bool,
    /// Whether every phase's reports all reached the webhook.
    pub drained: bool,
    /// A line per service.
    pub services: Vec<ServiceLine>,
    /// The targets of issue 16 and whether they were met.
    pub targets: Vec<Target>,
}

/// One target and its measure.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    /// What is held.
    pub what: String,
    /// The bound.
    pub target: String,
    /// What was measured.
    pub measured: String,
    /// Whether it holds (`None`: not measured in this run).
    pub met: Option<bool>,
}

fn yes(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "met",
        Some(false) => "NOT met",
        None => "not measured",
    }
}

/// Prints the summary and fills in `f.targets`.
pub fn summary(f: &mut LoopFigures) {
    f.run.print_head();
    if let Some(raw) = &f.raw {
        println!("\nThe machine's ceilings (on up's nats-server and PostgreSQL, same run):\n");
        raw.print_table();
    }
    let raw_commits = f.raw.as_ref().map(|r| r.pg_two_row.per_sec);

    println!("\nThe load table (times from each send; overall = send → webhook received; hops are p99):\n");
    println!(
        "| load | accepted/s | loop/s | of raw | overall p50 / p95 / p99 ms | intake p99 | dispatch p99 | notify p99 | drained | machine busy |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for p in f.phases.iter().chain(&f.saturation) {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            p.name,
            rate(p.accepted_per_sec),
            rate(p.loop_per_sec),
            p.ratio_to_raw.map(|r| format!("{:.0}%", 100.0 * r)).unwrap_or_else(|| "–".into()),
            p.stages.webhook.cell(),
            ms(p.hops.intake.p99_ms),
            ms(p.hops.dispatch.p99_ms),
            ms(p.hops.notify.p99_ms),
            if p.drained { "yes" } else { "NO" },
            p.cpu.as_ref().and_then(|c| c.busy_pct).map(|b| format!("{b:.0}%")).unwrap_or_else(|| "–".into())
        );
    }
    if let Some(s) = &f.saturation
        && let Some(c) = &s.cpu
    {
        println!("\nCPU under saturation: {}", c.line());
    }
    for p in f.phases.iter().chain(&f.saturation) {
        let rows = p.rows_per_report.map(|r| format!("{r:.1}")).unwrap_or_else(|| "–".into());
        let tables = |t: &[(String, f64)]| if t.is_empty() { "none".to_string() } else { super::phase::tables_line(t) };
        println!(
            "PostgreSQL at {}: {} commits and {rows} rows written per report ({}); rows read by sequential scans per report: {}",
            p.name,
            p.commits_per_report.map(|c| format!("{c:.2}")).unwrap_or_else(|| "–".into()),
            tables(&p.written_per_report),
            tables(&p.seq_rows_per_report)
        );
    }

    if let Some(o) = &f.outside {
        println!(
            "\nFrom outside: SubmitEvent by our client, then by k6, then by ours again, {} s each, same suite (times as each client took them):\n",
            o.secs
        );
        o.print_table();
    }

    println!(
        "\nA line per service (memory: resident, MiB; start-up: up's spawn → health SERVING, median of the restarts):\n"
    );
    println!("| service | idle | under load | cores under load | start-up | restarts (spawn → SERVING ms) |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for s in &f.services {
        let restarts: Vec<String> = s.restarts.iter().map(|r| format!("{:.0}", r.spawn_to_serving_ms)).collect();
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            s.service,
            opt(s.idle_mib, 1),
            opt(s.load_mib, 1),
            opt(s.load_cores, 2),
            s.startup_ms().map(|m| format!("{m:.0} ms")).unwrap_or_else(|| "–".into()),
            restarts.join(" · ")
        );
    }

    println!("\nThe books:");
    f.books.print();

    let mut targets = Vec::new();
    let sat = f.saturation.as_ref();
    targets.push(Target {
        what: "the loop end to end (saturation: completed ÷ first send → last webhook)".into(),
        target: format!("≥ {}/s", rate(TARGET_LOOP_PER_SEC)),
        measured: sat.map(|s| format!("{}/s", rate(s.loop_per_sec))).unwrap_or_else(|| "–".into()),
        met: sat.map(|s| s.drained && s.loop_per_sec >= TARGET_LOOP_PER_SEC),
    });
    let ratio = sat.and_then(|s| s.ratio_to_raw);
    targets.push(Target {
        what: "the loop against raw two-row commits/s of the same run".into(),
        target: format!("≥ {:.0}%", 100.0 * TARGET_RATIO),
        measured: match (ratio, raw_commits) {
            (Some(r), Some(c)) => format!("{:.0}% of {}/s", 100.0 * r, rate(c)),
            _ => "–".into(),
        },
        met: ratio.map(|r| r >= TARGET_RATIO),
    });
    let at = f.phases.iter().find(|p| p.offered_per_sec.is_some_and(|r| (r - TARGET_P99_RATE).abs() < 0.5));
    targets.push(Target {
        what: format!("send → webhook p99 at {TARGET_P99_RATE:.0} reports/s"),
        target: format!("≤ {TARGET_P99_MS:.0} ms"),
        measured: at.map(|p| format!("{} ms", ms(p.stages.webhook.p99_ms))).unwrap_or_else(|| "–".into()),
        met: at.map(|p| p.drained && p.stages.webhook.count > 0 && p.stages.webhook.p99_ms <= TARGET_P99_MS),
    });
    // Under `--one-process` one process holds every service: its memory is not any one
    // service's, so it is shown and not judged.
    let idle = f.services.iter().filter_map(|s| s.idle_mib.map(|m| (m, &s.service))).max_by(|a, b| a.0.total_cmp(&b.0));
    let one_process = idle.is_some_and(|(_, s)| s == up::ONE_PROCESS);
    targets.push(Target {
        what: "idle resident memory, the largest service".into(),
        target: "≤ 30 MB (28.6 MiB)".into(),
        measured: match idle {
            Some((m, _)) if one_process => {
                format!("{m:.1} MiB for all {} in one process (not per service)", up::SERVICES.len())
            }
            Some((m, s)) => format!("{m:.1} MiB ({s})"),
            None => "–".into(),
        },
        met: idle.filter(|_| !one_process).map(|(m, _)| m <= TARGET_IDLE_MIB),
    });
    let slowest =
        f.services.iter().filter_map(|s| s.startup_ms().map(|m| (m, &s.service))).max_by(|a, b| a.0.total_cmp(&b.0));
    targets.push(Target {
        what: "spawn → SERVING, the slowest service (median)".into(),
        target: format!("≤ {:.0} s", TARGET_STARTUP_MS / 1000.0),
        measured: slowest.map(|(m, s)| format!("{m:.0} ms ({s})")).unwrap_or_else(|| "–".into()),
        met: slowest.map(|(m, _)| m <= TARGET_STARTUP_MS),
    });
    if let Some(o) = &f.outside {
        targets.push(Target {
            what: "k6's SubmitEvent accepted/s against our client's, same run".into(),
            target: format!("within {:.0}%", 100.0 * TARGET_K6_WITHIN),
            measured: match o.ratio {
                Some(r) => {
                    let ours = (o.ours.accepted_per_sec + o.ours_after.accepted_per_sec) / 2.0;
                    format!(
                        "{:.2} ({}/s against our {}/s, before and after)",
                        r,
                        rate(o.k6.accepted_per_sec),
                        rate(ours)
                    )
                }
                None => "–".into(),
            },
            met: o.ratio.map(|r| (r - 1.0).abs() <= TARGET_K6_WITHIN),
        });
    }
    targets.push(Target {
        what: "the books".into(),
        target: "nothing lost or doubled".into(),
        measured: format!(
            "{} accepted · {} tasks · {} webhooks lost, {} doubled",
            int(f.books.accepted),
            int(f.books.tasks),
            f.books.webhooks_lost,
            f.books.webhooks_doubled
        ),
        met: Some(f.books.balanced()),
    });
    println!("\nTargets (issue 16):\n");
    println!("| target | bound | measured | |");
    println!("| --- | --- | --- | --- |");
    for t in &targets {
        println!("| {} | {} | {} | {} |", t.what, t.target, t.measured, yes(t.met));
    }
    f.run.print_tail();
    f.targets = targets;
}
