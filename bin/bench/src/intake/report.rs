//! `civicgrid-bench intake`: the run, its figures against the targets, and the summary.

use std::{process::ExitCode, sync::Arc, time::Duration};

use anyhow::Result;

use crate::{
    IntakeArgs, baseline,
    baseline::Closed,
    catalog, env,
    env::{Env, Machine},
    field, heading, intake, probe,
    probe::{Probe, Usage},
    stats,
    stats::{Latency, int, ms, rate},
};

/// Accepted events per second that intake must make durable (committed and published).
const TARGET_DURABLE_PER_SEC: f64 = 1500.0;
/// p99 latency of SubmitEvent at the fixed rate, in milliseconds.
const TARGET_P99_MS: f64 = 50.0;

/// Figures the summary needs.
#[derive(Default)]
struct Figures {
    background_busy: Option<f64>,
    disk: Option<Closed>,
    disk_parallel: Option<(usize, Closed)>,
    pg: Option<(Closed, Usage, String)>,
    js: Vec<(String, Closed, Usage)>,
    js_size: Option<f64>,
    closed: Option<ClosedFigures>,
    open: Option<intake::OpenLoop>,
    open_usage: Option<Usage>,
}

struct ClosedFigures {
    accepted: u64,
    accepted_rate: f64,
    window_secs: f64,
    durable_rate: f64,
    last_publish_secs: f64,
    after_window_secs: f64,
    latency: Latency,
    errors: stats::Errors,
    merged: u64,
    timed_out: bool,
    usage: Usage,
    pg: String,
    message_size: Option<f64>,
}

/// Runs the intake scenario and prints its summary.
pub async fn run_intake(args: IntakeArgs) -> Result<ExitCode> {
    let machine = Machine::describe();
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    println!("civicgrid-bench intake");
    field("command", &command);
    field(
        "machine",
        format!("nproc {}, {} RAM, {}, Linux {}", machine.nproc, machine.memory, machine.cpu, machine.kernel),
    );
    let env = Env::start((args.concurrency + 100).max(200)).await?;
    field("nats", &env.nats_desc);
    field("postgres", &env.pg_desc);
    field("database", &env.db_name);
    field("data file system", env::filesystem_of(&env.data_fs_dir));
    let busy = env::background_busy_pct(Duration::from_secs(2)).await;
    if let Some(b) = busy {
        field("background load", format!("{b:.0}% of the machine busy before the run (should be near 0)"));
        if b > 10.0 {
            println!(
                "   WARNING: other programs are using the machine; every figure below will be lower than on a quiet machine"
            );
        }
    }
    let result = measure(&args, &env).await.map(|(mut f, addr)| {
        f.background_busy = busy;
        (f, addr)
    });
    env.stop().await;
    let (figures, intake_addr) = result?;
    Ok(summary(&args, &machine, &command, &figures, &intake_addr))
}

async fn measure(args: &IntakeArgs, env: &Env) -> Result<(Figures, String)> {
    let probe = Probe::new(env.pg_pid, env.nats_managed, &env.admin_url, &env.db_name);
    let concurrency = args.concurrency as usize;
    let duration = Duration::from_secs(args.duration_secs);
    let mut f = Figures::default();

    heading("Phase 0 · disk: one thread rewriting 4 KiB and fdatasync-ing it, 2 s (PostgreSQL's data file system)");
    let dir = env.data_fs_dir.clone();
    let disk = tokio::task::spawn_blocking(move || baseline::disk_fsync(&dir, Duration::from_secs(2))).await??;
    field("fdatasync/s", rate(disk.rate()));
    field("latency", Latency::of(&disk.hist).line());
    f.disk = Some(disk);
    let threads = 4;
    let dir = env.data_fs_dir.clone();
    let parallel =
        tokio::task::spawn_blocking(move || baseline::disk_fsync_parallel(&dir, threads, Duration::from_secs(2)))
            .await??;
    field(&format!("{threads} threads, own files"), format!("{} fdatasync/s in total", rate(parallel.rate())));
    f.disk_parallel = Some((threads, parallel));

    if !args.skip_baselines {
        heading(&format!(
            "Phase A · raw PostgreSQL: {concurrency} connections, each looping BEGIN; INSERT (uuid, 500-byte bytea); COMMIT for {} s",
            args.duration_secs
        ));
        let pg0 = probe.pg_counters().await;
        let cpu0 = probe.snapshot();
        let pg = baseline::raw_postgres(&env.db_url, concurrency, duration).await?;
        let cpu1 = probe.snapshot();
        probe::settle().await;
        let pg1 = probe.pg_counters().await;
        let usage = probe.usage(&cpu0, &cpu1);
        let pg_line = probe::pg_line(pg0, pg1, usage.secs);
        field("commits/s", format!("{}  ({} in {:.1} s)", rate(pg.rate()), int(pg.ok), pg.secs));
        field("latency", Latency::of(&pg.hist).line());
        field("errors", pg.errors.line());
        field("cpu", usage.line());
        field("postgres", &pg_line);
        f.pg = Some((pg, usage, pg_line));

        // The stream settings every service's stream gets (intake's included).
        let common: civicgrid_kit::config::CommonSettings = civicgrid_kit::config::from_toml(&[])?;
        let nats = &common.nats;
        let window_secs = nats.duplicate_window_secs;
        let max_age = Duration::from_secs(nats.stream_max_age_days * 86_400);
        let dup = Duration::from_secs(window_secs);
        let one = baseline::BenchStreams::create(&env.nats_url, 1, dup, max_age).await?;
        let mut runs: Vec<(String, String, u32)> = vec![
            (format!("1 stream, {} in flight", args.concurrency), "one".into(), args.concurrency),
            (format!("1 stream, {} in flight", args.wide_window), "one".into(), args.wide_window),
            (format!("4 streams, {} in flight in all", args.concurrency), "four".into(), args.concurrency),
        ];
        if env.nats_binary.is_some() {
            runs.push((
                format!("1 stream, {} in flight, sync_interval 2m (NOT durable; reference only)", args.concurrency),
                "lazy".into(),
                args.concurrency,
            ));
        }
        for (label, kind, window) in runs {
            heading(&format!(
                "Phase B · raw JetStream: 500-byte messages with Nats-Msg-Id, file storage, duplicate window {window_secs} s, acks awaited: {label}, {} s",
                args.duration_secs
            ));
            let (scratch, streams) = match kind.as_str() {
                "four" => (None, Some(baseline::BenchStreams::create(&env.nats_url, 4, dup, max_age).await?)),
                "lazy" => {
                    let bin = env.nats_binary.as_ref().expect("managed nats");
                    let scratch = env::ScratchNats::start(bin, "2m").await?;
                    let streams = baseline::BenchStreams::create(&scratch.url(), 1, dup, max_age).await?;
                    (Some(scratch), Some(streams))
                }
                _ => (None, None),
            };
            let target = streams.as_ref().unwrap_or(&one);
            let cpu0 = probe.snapshot();
            let js = target.publish_loop(window as usize, duration).await?;
            let cpu1 = probe.snapshot();
            let usage = probe.usage(&cpu0, &cpu1);
            field("acked msgs/s", format!("{}  ({} in {:.1} s)", rate(js.rate()), int(js.ok), js.secs));
            field("latency", Latency::of(&js.hist).line());
            field("errors", js.errors.line());
            field("cpu", usage.line());
            if let Some(s) = streams {
                s.delete().await;
            }
            if let Some(s) = scratch {
                s.stop().await;
            }
            f.js.push((label, js, usage));
        }
        f.js_size = one.average_size().await;
        one.delete().await;
    }

    let channels = concurrency.div_ceil(8);
    let batching = intake::Batching { max: args.batch_max, writers: args.batch_writers };
    let app = intake::Running::start(env, channels, batching).await?;
    let addr = app.addr.to_string();
    let catalog =
        Arc::new(catalog::Catalog::new(&uuid::Uuid::now_v7().simple().to_string()[..10], args.counties as usize));

    heading(&format!(
        "Phase C · intake closed loop: {concurrency} workers over {channels} gRPC channels, SubmitEvent in a loop for {} s ({} county/counties × {} items, no merges)",
        args.duration_secs,
        catalog.counties(),
        catalog::ITEMS.len()
    ));
    field(
        "intake",
        format!(
            "in-process at {addr}; pool {} connections; group commit of ≤ {} submissions by {} writers; relay batch {}, poll {} ms",
            app.settings.common.database.max_connections,
            app.settings.intake.batch_max,
            app.settings.intake.batch_writers,
            app.settings.common.bus.relay_batch_size,
            app.settings.common.bus.relay_poll_ms
        ),
    );
    // Warm-up: connections, the day's tracking sequence, caches. Not counted.
    let warm = intake::closed_loop(&app, &catalog, concurrency, Duration::from_secs(1), false).await?;
    let warm_drain = warm.wait_published(&app, Duration::from_secs(60)).await?;
    field("warm-up", format!("{} accepted in 1 s, all published: {}", int(warm.calls.ok), !warm_drain.timed_out));
    probe::settle().await;
    let events_before = app.events().await?;
    let pg0 = probe.pg_counters().await;
    let cpu0 = probe.snapshot();
    let run = intake::closed_loop(&app, &catalog, concurrency, duration, true).await?;
    let cpu1 = probe.snapshot();
    let drain = run.wait_published(&app, Duration::from_secs(300)).await?;
    probe::settle().await;
    let pg1 = probe.pg_counters().await;
    let usage = probe.usage(&cpu0, &cpu1);
    let pg_line = probe::pg_line(pg0, pg1, usage.secs);
    let accepted_rate = run.calls.rate();
    let durable_rate = stats::per_sec(run.calls.ok, drain.last_publish_secs);
    let latency = Latency::of(&run.calls.hist);
    field("accepted/s", format!("{}  ({} in {:.1} s)", rate(accepted_rate), int(run.calls.ok), run.calls.secs));
    field(
        "published",
        format!(
            "{} messages; last one {:.2} s after the start, {:.2} s after the submit window{}",
            int(drain.published),
            drain.last_publish_secs,
            drain.after_window_secs,
            if drain.timed_out {
                format!(" — TIMED OUT with {} outbox rows pending", drain.pending)
            } else {
                String::new()
            }
        ),
    );
    field("durable events/s", format!("{}  (accepted ÷ time from start to the last publish ack)", rate(durable_rate)));
    field("latency", latency.line());
    field("errors", run.calls.errors.line());
    field("merged answers", int(run.merged));
    let events_after = app.events().await?;
    let keys = (catalog::ITEMS.len() * catalog.counties()) as i64;
    field(
        "events table",
        format!(
            "{} rows before, {} after: each duplicate check reads the open events of its (item, county), ≈ {} → {}",
            int(events_before as u64),
            int(events_after as u64),
            int((events_before / keys) as u64),
            int((events_after / keys) as u64)
        ),
    );
    field("cpu (submit window)", usage.line());
    field("postgres", &pg_line);
    let per_second: Vec<String> = run.per_second.iter().map(|n| int(*n)).collect();
    field("accepted per second", per_second.join(" "));
    let timeline: Vec<String> = run
        .samples
        .iter()
        .step_by(2)
        .map(|s| {
            format!(
                "{:.0}s: {} accepted / {} published / {} pending",
                s.t,
                int(s.accepted),
                int(s.published),
                s.pending
            )
        })
        .collect();
    for (i, line) in timeline.iter().enumerate() {
        field(if i == 0 { "outbox relay" } else { "" }, line);
    }
    let message_size = app.average_message_size().await;
    if let Some(size) = message_size {
        field("intake message size", format!("{size:.0} bytes stored per message (payload + headers)"));
    }
    f.closed = Some(ClosedFigures {
        accepted: run.calls.ok,
        accepted_rate,
        window_secs: run.calls.secs,
        durable_rate,
        last_publish_secs: drain.last_publish_secs,
        after_window_secs: drain.after_window_secs,
        latency,
        errors: run.calls.errors.clone(),
        merged: run.merged,
        timed_out: drain.timed_out,
        usage,
        pg: pg_line,
        message_size,
    });

    heading(&format!(
        "Phase D · intake open loop: {} SubmitEvent/s on a fixed schedule for {} s (a task per request, ≤ {} in flight); latency from the scheduled send",
        args.rate, args.rate_duration_secs, args.max_in_flight
    ));
    let events_before = app.events().await?;
    let cpu0 = probe.snapshot();
    let open = intake::open_loop(
        &app,
        &catalog,
        args.rate,
        Duration::from_secs(args.rate_duration_secs),
        args.max_in_flight as usize,
    )
    .await?;
    let cpu1 = probe.snapshot();
    let usage = probe.usage(&cpu0, &cpu1);
    field(
        "achieved",
        format!("{}/s  ({} of {} scheduled accepted)", rate(open.achieved), int(open.ok), int(open.scheduled)),
    );
    field("latency", Latency::of(&open.hist).line());
    field("submit → on the bus", format!("{}  ({} not seen)", Latency::of(&open.to_bus).line(), int(open.not_seen)));
    if let Some(d) = &open.drain {
        field(
            "published",
            format!(
                "{} messages; last one {:.2} s after the last answer{}",
                int(d.published),
                d.after_window_secs,
                if d.timed_out { " — TIMED OUT" } else { "" }
            ),
        );
    }
    field("errors", open.errors.line());
    field(
        "events table",
        format!(
            "{} rows before (≈ {} per (item, county) read by each duplicate check)",
            int(events_before as u64),
            int((events_before / keys) as u64)
        ),
    );
    field("schedule", format!("max {:.1} ms behind, max {} in flight", open.max_slip_ms, open.max_in_flight));
    field("cpu", usage.line());
    f.open = Some(open);
    f.open_usage = Some(usage);

    app.stop().await?;
    Ok((f, addr))
}

fn met(ok: bool) -> &'static str {
    if ok { "yes" } else { "NO" }
}

fn summary(args: &IntakeArgs, machine: &Machine, command: &str, f: &Figures, _addr: &str) -> ExitCode {
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
    if let Some((threads, d)) = &f.disk_parallel {
        row(
            &format!("disk: the same, {threads} threads on their own files"),
            format!("{}/s in total", rate(d.rate())),
            "",
            "",
        );
    }
    if let Some((pg, usage, pg_line)) = &f.pg {
        let l = Latency::of(&pg.hist);
        row(
            &format!("raw PostgreSQL: 1-row commits, {} connections", args.concurrency),
            format!(
                "{}/s (p99 {} ms; postgres {:.2} cores; {})",
                rate(pg.rate()),
                ms(l.p99),
                usage.postgres.unwrap_or(f64::NAN),
                pg_line
            ),
            "",
            "",
        );
    }
    for (label, js, usage) in &f.js {
        let l = Latency::of(&js.hist);
        row(
            &format!("raw JetStream: acked 500-byte publishes, {label}"),
            format!(
                "{}/s (p99 {} ms; nats-server {:.2} cores)",
                rate(js.rate()),
                ms(l.p99),
                usage.nats.unwrap_or(f64::NAN)
            ),
            "",
            "",
        );
    }
    let mut all_durable = true;
    if let Some(c) = &f.closed {
        all_durable &= !c.timed_out;
        row(
            &format!("intake closed loop, {} workers: accepted", args.concurrency),
            format!(
                "{}/s ({} in {:.1} s; errors {}; merged {})",
                rate(c.accepted_rate),
                int(c.accepted),
                c.window_secs,
                int(c.errors.total()),
                int(c.merged)
            ),
            "",
            "",
        );
        row(
            "intake durable events/s (accepted ÷ start→last publish ack)",
            format!(
                "{}/s (last publish ack {:.2} s after the start, {:.2} s after the window closed)",
                rate(c.durable_rate),
                c.last_publish_secs,
                c.after_window_secs
            ),
            &format!("≥ {}/s", rate(TARGET_DURABLE_PER_SEC)),
            met(c.durable_rate >= TARGET_DURABLE_PER_SEC && !c.timed_out && c.errors.total() == 0),
        );
        row("intake closed-loop latency", c.latency.line(), "", "");
        row("intake closed-loop CPU", c.usage.line(), "", "");
        row("intake closed-loop PostgreSQL", c.pg.clone(), "", "");
        if let Some(size) = c.message_size {
            row("intake message size on the stream", format!("{size:.0} bytes"), "", "");
        }
    }
    if let Some(o) = &f.open {
        let l = Latency::of(&o.hist);
        if let Some(d) = &o.drain {
            all_durable &= !d.timed_out;
        }
        row(
            &format!("intake open loop {}/s: SubmitEvent latency", o.rate),
            l.line(),
            &format!("p99 ≤ {} ms", TARGET_P99_MS),
            met(l.count > 0 && l.p99 <= TARGET_P99_MS && o.errors.total() == 0),
        );
        row(
            &format!("intake open loop {}/s: achieved", o.rate),
            format!(
                "{}/s ({} of {} accepted; errors {})",
                rate(o.achieved),
                int(o.ok),
                int(o.scheduled),
                int(o.errors.total())
            ),
            "",
            "",
        );
        row(&format!("intake open loop {}/s: submit → on the bus", o.rate), Latency::of(&o.to_bus).line(), "", "");
        if let Some(u) = &f.open_usage {
            row(&format!("intake open loop {}/s: CPU", o.rate), u.line(), "", "");
        }
    }
    let mut others: Vec<(String, f64)> = Vec::new();
    if let Some((_, u, _)) = &f.pg {
        others.extend(u.other.map(|o| ("A (raw PostgreSQL)".to_string(), o)));
    }
    for (label, _, u) in &f.js {
        others.extend(u.other.map(|o| (format!("B ({label})"), o)));
    }
    if let Some(c) = &f.closed {
        others.extend(c.usage.other.map(|o| ("C (intake closed loop)".to_string(), o)));
    }
    if let Some(u) = &f.open_usage {
        others.extend(u.other.map(|o| ("D (intake open loop)".to_string(), o)));
    }
    if let Some((phase, worst)) = others.into_iter().max_by(|a, b| a.1.total_cmp(&b.1)) {
        println!(
            "\nCPU used by other programs during the run: at most {worst:.2} cores (phase {phase}){}",
            if worst > 0.15 {
                " — they competed for the machine: figures are LOW, rerun on a quiet machine"
            } else {
                " (a quiet machine)"
            }
        );
    }
    if let Some(size) = f.js_size {
        println!("\n(raw JetStream messages stored at {size:.0} bytes each)");
    }
    if !all_durable {
        eprintln!("civicgrid-bench: accepted events were not all published in time (see above)");
        return ExitCode::from(2);
    }
    ExitCode::SUCCESS
}
