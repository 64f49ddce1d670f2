//! The figures of `civicgrid-bench clock` as they are printed and written to `--json`, and the
//! targets of issue 3 they are held to.

use std::collections::BTreeMap;

use serde::Serialize;

use super::super::{TARGET_TICK_MS, ticker};
use crate::stats::{Latency, int, ms};

/// One timed phase of rounds at one table size.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PhaseFigures {
    /// `nothing due`, `~10 due` …
    pub label: String,
    /// Tasks meant to be due per round.
    pub due: usize,
    /// Rounds timed.
    pub rounds: usize,
    /// Median round, ms.
    pub p50_ms: f64,
    /// 90th percentile, ms.
    pub p90_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Slowest round, ms.
    pub max_ms: f64,
    /// Tasks visited in all timed rounds.
    pub visited: u64,
    /// Fewest tasks visited in one round.
    pub min_visited: usize,
    /// Most tasks visited in one round.
    pub max_visited: usize,
    /// Clusters (many tasks at one instant) drained untimed and skipped.
    pub skipped_clusters: usize,
    /// Tasks of the skipped clusters.
    pub skipped_tasks: u64,
    /// Facts the rounds recorded, by name.
    pub facts: BTreeMap<String, i64>,
    /// CPU while the rounds ran.
    pub cpu: String,
}

/// The first burst of simultaneous colour changes, drained.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BurstFigures {
    /// The instant, in the calendar's time zone.
    pub at: String,
    /// Tasks changing colour at it.
    pub size: i64,
    /// Tasks due before it (drained first, untimed).
    pub before: i64,
    /// Seconds the ticker loop(s) took to write it.
    pub written_secs: f64,
    /// Rounds of the ticker loop(s).
    pub rounds: usize,
    /// Median round, ms.
    pub round_p50_ms: f64,
    /// Slowest round, ms.
    pub round_max_ms: f64,
    /// Messages the relay put on JetStream.
    pub published: u64,
    /// Seconds from the first round until the last message was acknowledged (`None`: the relay failed).
    pub published_secs: Option<f64>,
    /// Ticker loops that drained it.
    pub replicas: usize,
    /// Tasks each round took.
    pub batch: i64,
    /// Facts recorded, by name.
    pub facts: BTreeMap<String, i64>,
    /// True when the drain stopped at its time cap.
    pub capped: bool,
    /// CPU while it drained.
    pub cpu: String,
}

/// Everything measured at one table size.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SizeFigures {
    /// Open tasks.
    pub tasks: u64,
    /// Seconds of the bulk insert.
    pub load_secs: f64,
    /// Seconds of VACUUM ANALYZE and CHECKPOINT.
    pub vacuum_secs: f64,
    /// Bytes of the table (with its TOAST).
    pub table_bytes: i64,
    /// Bytes of all its indexes.
    pub indexes_bytes: i64,
    /// Bytes of the due index (`tasks_due`).
    pub due_index_bytes: i64,
    /// Sampled rows that agree with `warning_at`, of how many.
    pub consistent: (usize, usize),
    /// The timed phases.
    pub phases: Vec<PhaseFigures>,
    /// The burst.
    pub burst: Option<BurstFigures>,
}

impl SizeFigures {
    /// The figures of what [`ticker::measure`] returned.
    pub fn of(r: &ticker::SizeResult) -> SizeFigures {
        SizeFigures {
            tasks: r.tasks,
            load_secs: r.load_secs,
            vacuum_secs: r.vacuum_secs,
            table_bytes: r.table_bytes,
            indexes_bytes: r.indexes_bytes,
            due_index_bytes: r.due_index_bytes,
            consistent: r.consistent,
            phases: r
                .phases
                .iter()
                .map(|p| {
                    let l = Latency::of(&p.hist);
                    PhaseFigures {
                        label: p.label.clone(),
                        due: p.due,
                        rounds: p.rounds,
                        p50_ms: l.p50,
                        p90_ms: l.p90,
                        p99_ms: l.p99,
                        max_ms: l.max,
                        visited: p.visited,
                        min_visited: if p.rounds > 0 { p.min_visited } else { 0 },
                        max_visited: p.max_visited,
                        skipped_clusters: p.skipped_clusters,
                        skipped_tasks: p.skipped_tasks,
                        facts: p.facts.clone(),
                        cpu: p.usage.line(),
                    }
                })
                .collect(),
            burst: r.burst.as_ref().map(|b| {
                let l = Latency::of(&b.hist);
                BurstFigures {
                    at: ticker::local(b.at),
                    size: b.size,
                    before: b.before,
                    written_secs: b.secs,
                    rounds: b.rounds,
                    round_p50_ms: l.p50,
                    round_max_ms: l.max,
                    published: b.published,
                    published_secs: b.published_secs,
                    replicas: b.replicas,
                    batch: b.batch,
                    facts: b.facts.clone(),
                    capped: b.capped,
                    cpu: b.usage.line(),
                }
            }),
        }
    }
}

/// One target and its measure.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Check {
    /// What is held.
    pub what: String,
    /// The bound.
    pub bound: String,
    /// What was measured.
    pub measured: String,
    /// Whether it holds (`None`: not judged).
    pub met: Option<bool>,
}

/// Everything a run measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ClockFigures {
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
    /// Seconds the measurement took (servers started).
    pub total_secs: f64,
    /// Each table size.
    pub sizes: Vec<SizeFigures>,
    /// The targets of issue 3.
    pub targets: Vec<Check>,
}

/// `p50 / p99 / max (rounds)` of a phase, for a table cell.
fn cell(p: Option<&PhaseFigures>) -> String {
    match p {
        Some(p) if p.rounds > 0 => {
            format!("{} / {} / {} ({})", ms(p.p50_ms), ms(p.p99_ms), ms(p.max_ms), p.rounds)
        }
        _ => "–".into(),
    }
}

/// Prints the table and fills in `f.targets`; `few` is the "few due" phase's count.
pub fn summary(f: &mut ClockFigures, few: usize) {
    println!("\n== Summary");
    println!("command: {}", f.command);
    if let Some(b) = f.background_busy_pct {
        println!(
            "background load before the run: {b:.0}% of the machine busy{}",
            if b > 10.0 { " — NOT a quiet machine" } else { "" }
        );
    }
    let labels: Vec<String> =
        f.sizes.first().map(|s| s.phases.iter().map(|p| p.label.clone()).collect()).unwrap_or_default();
    println!("\nPer-round `Store::tick` (p50 / p99 / max ms) and the first burst of simultaneous changes:\n");
    println!(
        "| open tasks | table + indexes | {} | burst: tasks · written · all on JetStream |",
        labels.iter().map(|l| format!("{l} (rounds)")).collect::<Vec<_>>().join(" | ")
    );
    println!("|{}", " --- |".repeat(labels.len() + 3));
    for s in &f.sizes {
        let phases: Vec<String> = labels.iter().map(|l| cell(s.phases.iter().find(|p| &p.label == l))).collect();
        let burst = s
            .burst
            .as_ref()
            .map(|b| {
                format!(
                    "{} at {} · {:.2} s · {}{}",
                    int(b.size as u64),
                    b.at,
                    b.written_secs,
                    b.published_secs.map(|s| format!("{s:.2} s")).unwrap_or_else(|| "— (relay failed)".into()),
                    if b.capped { " (capped)" } else { "" }
                )
            })
            .unwrap_or_else(|| "none found".into());
        let mib = |b: i64| b as f64 / 1_048_576.0;
        println!(
            "| {} | {:.1} + {:.1} MiB | {} | {burst} |",
            int(s.tasks),
            mib(s.table_bytes),
            mib(s.indexes_bytes),
            phases.join(" | ")
        );
    }

    let mut targets = Vec::new();
    if let Some(big) = f.sizes.iter().max_by_key(|s| s.tasks) {
        let few_phases: Vec<&PhaseFigures> = big.phases.iter().filter(|p| p.due <= few && p.rounds > 0).collect();
        let worst = few_phases.iter().map(|p| p.p99_ms).fold(0.0, f64::max);
        targets.push(Check {
            what: format!("a round when few change colour (≤ {few} due), {} open tasks, p99", int(big.tasks)),
            bound: format!("≤ {TARGET_TICK_MS:.0} ms"),
            measured: few_phases
                .iter()
                .map(|p| format!("{} {} ms", p.label, ms(p.p99_ms)))
                .collect::<Vec<_>>()
                .join(" · "),
            met: (!few_phases.is_empty()).then_some(worst <= TARGET_TICK_MS),
        });
        if let Some(b) = &big.burst {
            let late = b.published_secs.unwrap_or(f64::INFINITY).max(b.written_secs);
            targets.push(Check {
                what: format!(
                    "a burst's last warning on the bus, {} open tasks ({} at once)",
                    int(big.tasks),
                    int(b.size as u64)
                ),
                bound: "≤ 1 s after its threshold".into(),
                measured: b.published_secs.map(|s| format!("{s:.2} s")).unwrap_or_else(|| "relay failed".into()),
                met: Some(late <= 1.0 && !b.capped),
            });
        }
    }
    if let (Some(small), Some(big)) = (f.sizes.iter().min_by_key(|s| s.tasks), f.sizes.iter().max_by_key(|s| s.tasks))
        && big.tasks > small.tasks
    {
        let ratios: Vec<String> = small
            .phases
            .iter()
            .zip(&big.phases)
            .filter(|(a, b)| a.rounds > 0 && b.rounds > 0)
            .map(|(a, b)| format!("{} {:.2}×", a.label, b.p50_ms / a.p50_ms.max(1e-9)))
            .collect();
        targets.push(Check {
            what: format!(
                "the same cost with {} or {} open tasks (per-round p50, ratio)",
                int(small.tasks),
                int(big.tasks)
            ),
            bound: "about 1×".into(),
            measured: ratios.join(" · "),
            met: None,
        });
    }
    println!("\nTargets (issue 3):\n");
    println!("| target | bound | measured | |");
    println!("| --- | --- | --- | --- |");
    for t in &targets {
        let met = match t.met {
            Some(true) => "met",
            Some(false) => "NOT met",
            None => "(read it)",
        };
        println!("| {} | {} | {} | {met} |", t.what, t.bound, t.measured);
    }
    println!("\nmeasured in {:.0} s", f.total_secs);
    f.targets = targets;
}
