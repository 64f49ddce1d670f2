//! What the dispatch bench prints after a phase's own lines: the backlog's figures, and the
//! summary table against the targets at the end of the run.

use std::{process::ExitCode, time::Duration};

use super::{DispatchArgs, Figures, TARGET_EVENTS_PER_SEC, TARGET_TICK_MS, flow, ticker};
use crate::{
    env::Machine,
    field,
    stats::{Latency, int, ms, rate},
};

pub(super) fn print_backlog(b: &flow::Backlog) {
    field(
        "events/s",
        format!(
            "{}  ({} events ÷ {:.2} s from start to the last task-assigned stored)",
            rate(b.events_per_sec()),
            int(b.events as u64),
            b.published_secs
        ),
    );
    field(
        "tasks/s",
        format!(
            "{}  ({} tasks; consumer done after {:.2} s = {} events/s)",
            rate(crate::stats::per_sec(b.tasks as u64, b.published_secs)),
            int(b.tasks as u64),
            b.consumed_secs,
            rate(crate::stats::per_sec(b.events as u64, b.consumed_secs))
        ),
    );
    field("cpu", b.usage.line());
    field("postgres", &b.pg_line);
    if let Some(c) = b.commits {
        field("commits per event", format!("{:.3}", c as f64 / b.events as f64));
    }
    for (i, (table, ins, upd, del)) in b.rows.iter().enumerate() {
        field(
            if i == 0 { "rows per event" } else { "" },
            format!(
                "{table}: {:.2} inserted, {:.2} updated, {:.2} deleted",
                *ins as f64 / b.events as f64,
                *upd as f64 / b.events as f64,
                *del as f64 / b.events as f64
            ),
        );
    }
    for (i, (what, n)) in b.waits.iter().take(8).enumerate() {
        field(if i == 0 { "dispatch's backends" } else { "" }, format!("{n:.2} on average: {what}"));
    }
    if let Some(st) = &b.statements {
        println!("   pg_stat_statements over the phase (calls per event, mean ms, rows, statement):");
        for s in st.iter().take(20) {
            let q: String = s.query.chars().take(150).collect();
            println!(
                "     {:>7.2}/event {:>8.3} ms {:>9} rows  total {:>8.0} ms  {q}",
                s.calls as f64 / b.events as f64,
                s.mean_ms,
                int(s.rows.max(0) as u64),
                s.total_ms
            );
        }
    }
    let timeline: Vec<String> = b
        .samples
        .iter()
        .step_by(2)
        .map(|s| {
            format!("{:.0}s: {} tasks committed / {} published", s.t, int(s.tasks.max(0) as u64), int(s.published))
        })
        .collect();
    for (i, line) in timeline.iter().enumerate() {
        field(if i == 0 { "progress" } else { "" }, line);
    }
}

fn met(ok: bool) -> &'static str {
    if ok { "yes" } else { "NO" }
}

pub(super) fn summary(args: &DispatchArgs, machine: &Machine, command: &str, f: &Figures) -> ExitCode {
    println!("\n== Summary");
    println!("machine: nproc {} · {} RAM · {}", machine.nproc, machine.memory, machine.cpu);
    println!("command: {command}");
    if let Some(b) = f.background_busy {
        println!(
            "background load before the run: {b:.0}% of the machine busy{}",
            if b > 10.0 { " — NOT a quiet machine" } else { "" }
        );
    }
    println!();
    println!("| measurement | result | target | met |");
    println!("| --- | --- | --- | --- |");
    let row = |m: &str, r: String, t: &str, ok: &str| println!("| {m} | {r} | {t} | {ok} |");
    if let Some(d) = &f.disk {
        row(
            "disk: 4 KiB write + fdatasync, 1 thread",
            format!("{}/s (p50 {} ms)", rate(d.rate()), ms(Latency::of(&d.hist).p50)),
            "",
            "",
        );
    }
    if let Some((pg, usage, line)) = &f.pg {
        row(
            &format!("raw PostgreSQL: 1-row commits, {} connections", args.concurrency),
            format!(
                "{}/s (p99 {} ms; postgres {:.2} cores; {line})",
                rate(pg.rate()),
                ms(Latency::of(&pg.hist).p99),
                usage.postgres.unwrap_or(f64::NAN)
            ),
            "",
            "",
        );
    }
    if let Some((js, usage)) = &f.js {
        row(
            &format!("raw JetStream: acked 500-byte publishes, 1 stream, {} in flight", args.concurrency),
            format!(
                "{}/s (p99 {} ms; nats-server {:.2} cores)",
                rate(js.rate()),
                ms(Latency::of(&js.hist).p99),
                usage.nats.unwrap_or(f64::NAN)
            ),
            "",
            "",
        );
    }
    let mut ok = true;
    if let Some(b) = &f.backlog {
        ok &= !b.timed_out;
        row(
            &format!("dispatch backlog: {} events → task-assigned published", int(b.events as u64)),
            format!(
                "{}/s events, {}/s tasks ({:.2} s; {:.2} tasks per event)",
                rate(b.events_per_sec()),
                rate(crate::stats::per_sec(b.tasks as u64, b.published_secs)),
                b.published_secs,
                b.tasks as f64 / b.events as f64
            ),
            &format!("≥ {}/s", rate(TARGET_EVENTS_PER_SEC)),
            met(b.events_per_sec() >= TARGET_EVENTS_PER_SEC && !b.timed_out),
        );
        row(
            "dispatch backlog: publishing it to CIVICGRID_INTAKE first",
            format!(
                "{}/s ({:.1} s; errors {})",
                rate(crate::stats::per_sec(b.events as u64, b.publish_secs)),
                b.publish_secs,
                b.publish_errors.line()
            ),
            "",
            "",
        );
        row("dispatch backlog: CPU", b.usage.line(), "", "");
        row("dispatch backlog: PostgreSQL", b.pg_line.clone(), "", "");
    }
    for l in &f.live {
        let lat = l.latency();
        row(
            &format!("dispatch live {}/s: publish → first task-assigned", l.rate),
            format!("{} ({} of {} seen)", lat.line(), int(lat.count), int(l.published)),
            "",
            "",
        );
        row(
            &format!("dispatch live {}/s: sustained", l.rate),
            format!("{}/s published", rate(l.achieved)),
            if l.rate as f64 >= TARGET_EVENTS_PER_SEC { "keeps up" } else { "" },
            if l.rate as f64 >= TARGET_EVENTS_PER_SEC {
                met(l.not_seen == 0 && l.errors.total() == 0 && lat.p99 < 1000.0)
            } else {
                ""
            },
        );
        row(&format!("dispatch live {}/s: CPU", l.rate), l.usage.line(), "", "");
    }
    for r in &f.ticker {
        let days = |d: Duration| d.as_secs_f64() / 86_400.0;
        row(
            &format!("ticker, {} open tasks: the table", int(r.tasks)),
            format!(
                "loaded in {:.1} s + {:.1} s VACUUM ANALYZE; table {} MiB, indexes {} MiB (tasks_due {} MiB); {} task shapes; next changes {:.1} min – {:.1} d ahead (median {:.1} d); {} of {} sampled rows agree with warning_at",
                r.load_secs,
                r.vacuum_secs,
                r.table_bytes / 1_048_576,
                r.indexes_bytes / 1_048_576,
                r.due_index_bytes / 1_048_576,
                int(r.templates as u64),
                r.spread.0.as_secs_f64() / 60.0,
                days(r.spread.2),
                days(r.spread.1),
                r.consistent.0,
                r.consistent.1
            ),
            "",
            "",
        );
        for p in &r.phases {
            let lat = Latency::of(&p.hist);
            let target = p.due <= args.ticker.few.max(1);
            row(
                &format!("ticker, {} open tasks, {}", int(r.tasks), p.label),
                format!(
                    "p50 {} · p99 {} · max {} ms per round ({} rounds, {}–{} visited{})",
                    ms(lat.p50),
                    ms(lat.p99),
                    ms(lat.max),
                    p.rounds,
                    p.min_visited,
                    p.max_visited,
                    if p.visited > 0 {
                        format!(
                            "; ≈ {} ms per visited task",
                            ms(p.hist.mean() / 1000.0 * p.rounds as f64 / p.visited as f64)
                        )
                    } else {
                        String::new()
                    }
                ),
                if target { "≤ 50 ms" } else { "" },
                if target { met(lat.count > 0 && lat.p99 <= TARGET_TICK_MS) } else { "" },
            );
        }
    }
    for r in &f.ticker {
        let Some(b) = &r.burst else { continue };
        let facts: Vec<String> = b.facts.iter().map(|(k, v)| format!("{k} {}", int(*v as u64))).collect();
        row(
            &format!(
                "ticker, {} open tasks, burst: {} tasks change colour at one instant",
                int(r.tasks),
                int(b.size as u64)
            ),
            format!(
                "at {} ({} due before it, drained first): drained by {} ticker loop(s) of {} a round in {:.2} s; all {} messages on JetStream after {}: {} rounds (p50 {} · max {} ms), {} tasks visited, ≈ {} ms per task; {}{}",
                ticker::local(b.at),
                int(b.before as u64),
                b.replicas,
                int(b.batch as u64),
                b.secs,
                int(b.published),
                b.published_secs.map(|s| format!("{s:.2} s")).unwrap_or_else(|| "— (relay failed)".into()),
                b.rounds,
                ms(Latency::of(&b.hist).p50),
                ms(Latency::of(&b.hist).max),
                int(b.visited),
                ms(b.secs * 1000.0 / b.visited.max(1) as f64),
                facts.join(", "),
                if b.capped { " — stopped at the time cap" } else { "" }
            ),
            "last warning ≤ 1 s after its threshold",
            met(b.published_secs.unwrap_or(b.secs).max(b.secs) <= 1.0 && !b.capped),
        );
    }
    if f.ticker.len() >= 2 {
        let (a, b) = (&f.ticker[0], &f.ticker[f.ticker.len() - 1]);
        for i in 0..a.phases.len().min(b.phases.len()) {
            let (x, y) = (Latency::of(&a.phases[i].hist), Latency::of(&b.phases[i].hist));
            if x.count == 0 || y.count == 0 {
                continue;
            }
            row(
                &format!("ticker {}: {} vs {} open tasks", a.phases[i].label, int(b.tasks), int(a.tasks)),
                format!("p50 {:.2}×, p99 {:.2}×", y.p50 / x.p50.max(1e-9), y.p99 / x.p99.max(1e-9)),
                "",
                "",
            );
        }
    }
    let mut others: Vec<(String, f64)> = Vec::new();
    if let Some((_, u, _)) = &f.pg {
        others.extend(u.other.map(|o| ("A".to_string(), o)));
    }
    if let Some((_, u)) = &f.js {
        others.extend(u.other.map(|o| ("B".to_string(), o)));
    }
    if let Some(b) = &f.backlog {
        others.extend(b.usage.other.map(|o| ("C".to_string(), o)));
    }
    for l in &f.live {
        others.extend(l.usage.other.map(|o| (format!("D {}/s", l.rate), o)));
    }
    for r in &f.ticker {
        for p in &r.phases {
            others.extend(
                p.usage.other.filter(|_| p.usage.secs >= 2.0).map(|o| (format!("E {} {}", r.tasks, p.label), o)),
            );
        }
        if let Some(b) = &r.burst {
            others.extend(b.usage.other.filter(|_| b.usage.secs >= 2.0).map(|o| (format!("E {} burst", r.tasks), o)));
        }
    }
    if let Some((phase, worst)) = others.into_iter().max_by(|a, b| a.1.total_cmp(&b.1)) {
        // (Only windows of 2 s or more count: CPU time is read in 10 ms ticks.)
        println!(
            "\nCPU used by other programs during the run: at most {worst:.2} cores (phase {phase}){}",
            if worst > 0.15 {
                " — they competed for the machine: figures are LOW, rerun on a quiet machine"
            } else {
                " (a quiet machine)"
            }
        );
    }
    if !ok {
        eprintln!("civicgrid-bench: the backlog was not drained in time (see above)");
        return ExitCode::from(2);
    }
    ExitCode::SUCCESS
}
