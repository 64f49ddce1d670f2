//! `civicgrid-bench console`: the command-center console with the whole demo city (15,000
//! grids) and 100,000 tasks on the bus — "the console must stay responsive: aggregate on the
//! server by region level". See `docs/performance.md`.
//!
//! A nats-server of its own holds the four streams; dispatch's gets the facts of `--tasks`
//! tasks ([`facts`]). The console runs in-process (`Console::build` + `run_until_stopped`, the
//! generated city's geometry, no token checking) and is measured from outside through its HTTP
//! API ([`http`]): the replay until the read model holds every task, beside an ordered consumer
//! draining the same stream on its own ([`bus`]); the latency and size of the region views and
//! lists; `curl` on the same view; the live feed's delay; the process's resident memory.

mod bus;
mod facts;
mod http;

use std::{
    process::ExitCode,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use async_nats::jetstream;
use civicgrid_democity::City;
use civicgrid_kit::Shutdown;
use clap::Args;
use serde_json::json;

use crate::{
    env::{self, Machine, ScratchNats},
    field, heading,
    stats::{int, ms, rate},
};

/// A view slower than this at p99 is not "responsive".
const VIEW_P99_MS: f64 = 100.0;
/// A live line later than this at p99 is not "live".
const LIVE_P99_MS: f64 = 1000.0;

#[derive(Args, Clone)]
pub struct ConsoleArgs {
    /// Tasks on dispatch's stream (one per reported event), each with its facts: ~3.4 facts a
    /// task on average.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..=5_000_000))]
    tasks: u64,
    /// Seed of the generated city (`civicgrid up`'s default) and of the tasks.
    #[arg(long, default_value_t = 20261206)]
    seed: u64,
    /// Timed requests per view (after 10 untimed ones).
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    requests: u64,
    /// Facts published while a client follows `/api/live`, one at a time.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    live_facts: u64,
    /// Milliseconds between the polls of `/api/tasks?list=open&limit=1` that wait for the replay
    /// (each poll scans and sorts the open tasks under the read model's lock, as a page would).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    poll_ms: u64,
    /// `curl` calls (one process each) on the city and county views.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(0..=10_000))]
    curl_calls: u64,
    /// JetStream publish acks outstanding while publishing the facts.
    #[arg(long, default_value_t = 4_096, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    publish_window: u32,
    /// `sync_interval` of the bench's nats-server (`2m` as the manifests' cluster; `always` as
    /// `civicgrid up`). Only the publishing before the measurements feels it.
    #[arg(long, default_value = "2m")]
    nats_sync_interval: String,
    /// Write the figures as JSON to this file as well.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
    /// Skip the raw baselines.
    #[arg(long)]
    skip_baselines: bool,
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / 1024.0 / 1024.0)
}

fn kib(bytes: usize) -> String {
    if bytes < 10 * 1024 { format!("{bytes} B") } else { format!("{:.1} KiB", bytes as f64 / 1024.0) }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// Runs the console bench.
pub async fn run(args: ConsoleArgs) -> Result<ExitCode> {
    let machine = Machine::describe();
    println!("civicgrid-bench console");
    field("command", std::env::args().collect::<Vec<_>>().join(" "));
    field(
        "machine",
        format!("nproc {}, {} RAM, {}, Linux {}", machine.nproc, machine.memory, machine.cpu, machine.kernel),
    );
    field("load average", format!("{} (1, 5, 15 min) at the start", loadavg()));
    let busy = env::background_busy_pct(Duration::from_secs(2)).await;
    if let Some(b) = busy {
        field("background load", format!("{b:.0}% of the machine busy before the run (should be near 0)"));
    }
    let binary = tokio::task::spawn_blocking(civicgrid_dev::infra::nats::find_binary).await??;
    let nats = ScratchNats::start(&binary, &args.nats_sync_interval).await?;
    field(
        "nats",
        format!("managed: {}, JetStream file store, sync_interval {}", binary.display(), args.nats_sync_interval),
    );
    let result = measure(&args, &nats.url(), busy).await;
    nats.stop().await;
    let report = result?;
    let met = report["target_met"].as_bool().unwrap_or(false);
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
        field("json", path.display());
    }
    Ok(if met { ExitCode::SUCCESS } else { ExitCode::from(2) })
}

async fn measure(args: &ConsoleArgs, nats_url: &str, busy: Option<f64>) -> Result<serde_json::Value> {
    heading("Setup · the generated city, four streams as the services create them, dispatch's facts");
    let started = Instant::now();
    let seed = args.seed;
    let city = tokio::task::spawn_blocking(move || City::generate(seed)).await?;
    let geometry = tempfile::Builder::new().prefix("civicgrid-bench-geometry-").suffix(".geojson").tempfile()?;
    let geojson = city.geometry_geojson();
    std::fs::write(geometry.path(), &geojson).context("writing the geometry")?;
    let counties = city.regions.iter().filter(|r| r.level == civicgrid_democity::Level::County).count();
    field(
        "city",
        format!(
            "seed {seed}: {counties} counties, {} regions, {} grids; geometry {} ({:.1} s)",
            int(city.regions.len() as u64),
            int(city.grids.len() as u64),
            kib(geojson.len()),
            started.elapsed().as_secs_f64()
        ),
    );
    let plan = facts::Plan::generate(&city, args.tasks as usize, seed, chrono::Utc::now());
    let e = plan.expected;
    let counts: Vec<String> = plan.fact_counts().iter().map(|(n, c)| format!("{n} {}", int(*c))).collect();
    let volume = format!("{} facts of {} tasks", int(plan.facts() as u64), int(plan.tasks() as u64));
    let per_task = plan.facts() as f64 / plan.tasks() as f64;
    field("facts", format!("{volume} ({per_task:.2} a task): {}", counts.join(", ")));
    field(
        "tasks end",
        format!(
            "{} open ({} in triage, {} overdue, {} of them escalated), {} closed",
            int(e.open),
            int(e.triage),
            int(e.overdue),
            int(e.escalated),
            int(e.closed)
        ),
    );
    let toml = format!(
        "[nats]\nurl = \"{nats_url}\"\n[telemetry]\nlog = \"warn\"\n[console]\nlisten = \"127.0.0.1:0\"\ngeometry_path = \"{}\"\n",
        geometry.path().display()
    );
    let settings: civicgrid_console::Settings =
        civicgrid_kit::config::from_toml(&[civicgrid_console::DEFAULTS, &toml]).context("console settings")?;
    let client = async_nats::connect(nats_url).await.context("connecting to NATS")?;
    let js = jetstream::new(client);
    bus::create_streams(&js, &settings.nats).await?;
    let publish_secs = bus::publish(&js, &plan, args.publish_window as usize).await?;
    field(
        "published",
        format!(
            "{} facts in {publish_secs:.1} s ({}/s, {} acks outstanding)",
            int(plan.facts() as u64),
            rate(plan.facts() as f64 / publish_secs),
            args.publish_window
        ),
    );
    drop(city);
    drop(geojson);

    heading(
        "Phase A · replay: the console in-process (Console::build + run_until_stopped), until /api/tasks?list=open&limit=1 shows the last task",
    );
    let rss_before = bus::rss_bytes().unwrap_or(0);
    let built = Instant::now();
    let console = civicgrid_console::Console::build(settings).await.context("building the console")?;
    let build_secs = built.elapsed().as_secs_f64();
    let rss_built = bus::rss_bytes().unwrap_or(0);
    let base = format!("http://{}", console.local_addr());
    let shutdown = Shutdown::new();
    let replay_started = Instant::now();
    let handle = tokio::spawn(console.run_until_stopped(shutdown.clone()));
    let http = reqwest::Client::new();
    let (replay_secs, polls) = http::wait_replayed(
        &http,
        &base,
        &plan.last_task,
        e.open,
        replay_started,
        Duration::from_millis(args.poll_ms),
        Duration::from_secs(600),
    )
    .await?;
    let rss_after = bus::rss_bytes().unwrap_or(0);
    let city_view = http::get_json(&http, &format!("{base}/api/regions")).await?;
    let f = &city_view["figures"];
    let seen = (f["open"].as_u64(), f["triage"].as_u64(), f["overdue"].as_u64(), f["escalated"].as_u64());
    anyhow::ensure!(
        seen == (Some(e.open), Some(e.triage), Some(e.overdue), Some(e.escalated)),
        "the city's figures {f} differ from what was published: {e:?}"
    );
    let replay_rate = plan.facts() as f64 / replay_secs;
    field(
        "built",
        format!(
            "{build_secs:.2} s (geometry of {} areas loaded, NATS connected, bound {base})",
            int(city_view_areas(&http, &base).await)
        ),
    );
    field(
        "replayed",
        format!("{volume} in {replay_secs:.2} s: {}/s ({polls} polls {} ms apart)", rate(replay_rate), args.poll_ms),
    );
    field("read model", "the city's figures match what was published (open, triage, overdue, escalated)");
    field(
        "resident memory",
        format!(
            "{} before the console, {} once built (geometry), {} after the replay: +{} for the tasks ({:.0} bytes a task with its facts)",
            mib(rss_before),
            mib(rss_built),
            mib(rss_after),
            mib(rss_after.saturating_sub(rss_built)),
            rss_after.saturating_sub(rss_built) as f64 / plan.tasks() as f64
        ),
    );

    let (county, county_tasks) = plan.busiest_county.clone();
    let (village, village_tasks) = plan.busiest_village.clone();
    heading(&format!(
        "Phase B · views: {} sequential GETs each on one keep-alive connection (10 untimed first)",
        args.requests
    ));
    let views = [
        ("city (regions)", "/api/regions".to_string()),
        ("county", format!("/api/regions/{county}")),
        ("village", format!("/api/regions/{village}")),
        ("overdue (city, 100)", "/api/tasks?list=overdue&limit=100".to_string()),
        ("triage, county", format!("/api/tasks?list=triage&region={county}")),
    ];
    field("county", format!("{county}, the county with the most tasks ({})", int(county_tasks)));
    field("village", format!("{village}, the village with the most tasks ({})", int(village_tasks)));
    let mut measured = Vec::new();
    for (name, path) in &views {
        let v = http::time_view(&http, &base, name, path, args.requests as usize, 10).await?;
        field(
            name,
            format!(
                "{}  · {} · {} {} · total {}",
                v.latency.line(),
                kib(v.bytes),
                v.items,
                if v.path.contains("/api/tasks") { "rows" } else { "children" },
                int(v.total)
            ),
        );
        measured.push(v);
    }

    let mut outside = Vec::new();
    if args.curl_calls > 0 {
        heading(&format!(
            "Phase C · from outside: curl -w '%{{time_total}}', {} calls each: a process and connection per call, then one process keeping its connection",
            args.curl_calls
        ));
        for v in measured.iter().take(2) {
            let url = format!("{base}{}", v.path);
            let (fresh, size) = http::curl(&url, args.curl_calls as usize, true).await?;
            let (kept, _) = http::curl(&url, args.curl_calls as usize, false).await?;
            field(&v.name, format!("new connections: {}  ({size} B)", fresh.line()));
            field("", format!("one connection:  {} · our client p50 {} ms", kept.line(), ms(v.latency.p50)));
            outside.push(json!({
                "view": v.name, "path": v.path, "bytes": size, "client_p50_ms": v.latency.p50,
                "curl_new_connections": fresh, "curl_one_connection": kept,
            }));
        }
    }

    heading(&format!(
        "Phase D · live: {} new reports published one at a time (20 ms apart) while a client follows /api/live",
        args.live_facts
    ));
    let live = http::live(&base, &js, &plan, args.live_facts as usize, Duration::from_millis(20)).await?;
    field("publish → live line", live.line());
    let rss_end = bus::rss_bytes().unwrap_or(0);
    field("resident memory", format!("{} after the views and the live feed", mib(rss_end)));

    let mut baselines = Vec::new();
    if !args.skip_baselines {
        heading(
            "Phase E · raw baselines: an ordered consumer on its own connection drains the same stream (console idle): \
             nothing per message; + follow::decode; + State::apply without the lock",
        );
        for work in [bus::Work::Nothing, bus::Work::Decode, bus::Work::Fold] {
            let secs = bus::drain(nats_url, plan.facts(), work).await?;
            let per_sec = plan.facts() as f64 / secs;
            field(work.label(), format!("{}/s ({} facts in {secs:.2} s)", rate(per_sec), int(plan.facts() as u64)));
            baselines.push(json!({ "what": work.label(), "facts_per_sec": per_sec, "secs": secs }));
        }
    }
    shutdown.cancel();
    handle.await?.map_err(|e| anyhow::anyhow!("console: {e}"))?;

    heading("Summary");
    let slowest = measured.iter().map(|v| v.latency.p99).fold(0.0, f64::max);
    let met = slowest <= VIEW_P99_MS && live.p99 <= LIVE_P99_MS;
    field("replay", format!("{}/s ({replay_secs:.2} s for {} facts)", rate(replay_rate), int(plan.facts() as u64)));
    for b in &baselines {
        field(b["what"].as_str().unwrap_or(""), format!("{}/s", rate(b["facts_per_sec"].as_f64().unwrap_or(0.0))));
    }
    println!("\n   {:<26} {:>8} {:>8} {:>8} {:>10} {:>9}", "view", "p50 ms", "p95 ms", "p99 ms", "bytes", "items");
    for v in &measured {
        println!(
            "   {:<26} {:>8} {:>8} {:>8} {:>10} {:>9}",
            v.name,
            ms(v.latency.p50),
            ms(v.latency.p95),
            ms(v.latency.p99),
            int(v.bytes as u64),
            v.items
        );
    }
    println!();
    field("live p50 / p99", format!("{} / {} ms", ms(live.p50), ms(live.p99)));
    field(
        "memory",
        format!(
            "+{} geometry, +{} the read model of the tasks",
            mib(rss_built.saturating_sub(rss_before)),
            mib(rss_after.saturating_sub(rss_built))
        ),
    );
    field(
        "target",
        format!(
            "every view p99 ≤ {VIEW_P99_MS} ms (slowest {} ms), live p99 ≤ {LIVE_P99_MS} ms: {}",
            ms(slowest),
            if met { "met" } else { "NOT met" }
        ),
    );
    field("load average", format!("{} at the end", loadavg()));
    Ok(json!({
        "scenario": "console",
        "command": std::env::args().collect::<Vec<_>>().join(" "),
        "background_busy_pct": busy,
        "tasks": plan.tasks(),
        "facts": plan.facts(),
        "expected": { "open": e.open, "triage": e.triage, "overdue": e.overdue, "escalated": e.escalated, "closed": e.closed },
        "publish_secs": publish_secs,
        "build_secs": build_secs,
        "replay": { "secs": replay_secs, "facts_per_sec": replay_rate, "polls": polls, "poll_ms": args.poll_ms },
        "baselines": baselines,
        "views": measured,
        "curl": outside,
        "live": live,
        "rss_bytes": { "before": rss_before, "built": rss_built, "after_replay": rss_after, "end": rss_end },
        "target_met": met,
    }))
}

/// The number of areas in the console's geometry (`/api/session`).
async fn city_view_areas(http: &reqwest::Client, base: &str) -> u64 {
    http::get_json(http, &format!("{base}/api/session")).await.map(|s| s["areas"].as_u64().unwrap_or(0)).unwrap_or(0)
}
