//! `civicgrid-faults`: the long faults run. Starts its own suite (`civicgrid up --no-demo`),
//! submits many reports from retrying clients while, at seeded random moments, it kills every
//! service, nats-server and PostgreSQL with SIGKILL and stops PostgreSQL with
//! `pg_ctl stop -m immediate`, and while the services crash at their kill points
//! (`CIVICGRID_FAULT`: each process of intake, dispatch and notify is armed at one point, in
//! turn). Then it prints how many faults of each kind there were and the books
//! (tests/src/books.rs, tests/src/kills.rs); it exits 1 when they do not balance.
//!
//! ```sh
//! nice cargo run --release -p civicgrid-e2e --bin civicgrid-faults -- --reports 100000 --seed 1
//! ```

use std::{
    collections::BTreeMap,
    process::ExitCode,
    time::{Duration, Instant},
};

use civicgrid_e2e::{
    Suite,
    books::{self, Load},
    kills,
};
use rand::{Rng, SeedableRng};

/// What the run does.
struct Options {
    reports: usize,
    clients: usize,
    seed: u64,
    /// The pause between two outside faults, in milliseconds (drawn uniformly).
    pause_ms: (u64, u64),
    /// The hit a process's kill point fires at (drawn uniformly per process).
    hits: (u64, u64),
}

/// The kill points each service's processes are armed at, in turn.
const POINTS: &[(&str, &[&str])] = &[
    ("intake", &["submit.after_commit", "relay.before_publish", "relay.after_publish"]),
    ("dispatch", &["inbox.before_ack", "relay.before_publish", "relay.after_publish"]),
    // notify's outbox carries only delivery facts, which this load makes none of: its relay's
    // points would not fire.
    ("notify", &["inbox.before_ack"]),
];

/// Processes per service armed at a kill point; later ones run without.
const ARMED_LIVES: u64 = 150;

/// The faults from outside, drawn uniformly.
const OUTSIDE: &[&str] = &[
    "intake",
    "dispatch",
    "notify",
    "mediation",
    "patrol",
    "nats-server",
    "postgres",
    "postgres (immediate shutdown)",
];

fn range(text: &str) -> Option<(u64, u64)> {
    let (a, b) = text.split_once("..")?;
    let (a, b) = (a.parse().ok()?, b.parse().ok()?);
    (a < b).then_some((a, b))
}

fn parse(args: &[String]) -> Option<Options> {
    let mut o = Options { reports: 30_000, clients: 16, seed: 1, pause_ms: (500, 3_000), hits: (20, 200) };
    for pair in args.chunks(2) {
        let value = pair.get(1)?;
        match pair[0].as_str() {
            "--reports" => o.reports = value.parse().ok()?,
            "--clients" => o.clients = value.parse().ok()?,
            "--seed" => o.seed = value.parse().ok()?,
            "--pause-ms" => o.pause_ms = range(value)?,
            "--hits" => o.hits = range(value)?,
            _ => return None,
        }
    }
    (o.hits.0 >= 2).then_some(o)
}

/// `CIVICGRID_FAULT`: process `life` of each service armed at the next of its points, at a
/// drawn hit.
fn kill_points(options: &Options, rng: &mut impl Rng) -> String {
    let mut entries = Vec::new();
    for (service, points) in POINTS {
        for life in 0..ARMED_LIVES {
            let point = points[life as usize % points.len()];
            entries.push(format!("{service}.{point}:{}@{life}", rng.random_range(options.hits.0..options.hits.1)));
        }
    }
    entries.join(",")
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(options) = parse(&args) else {
        eprintln!(
            "usage: civicgrid-faults [--reports N] [--clients N] [--seed N] [--pause-ms MIN..MAX] [--hits MIN..MAX (MIN >= 2)]"
        );
        return ExitCode::from(2);
    };
    let Ok(runtime) = tokio::runtime::Runtime::new() else { return ExitCode::FAILURE };
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(options.seed);
    let spec = kill_points(&options, &mut rng);
    let started = Instant::now();
    let suite = Suite::up_with_env(
        &["--no-demo", "--quiet"],
        // A batch whose ack died with its consumer comes back after the ack wait: 10 s, not 30.
        &[("CIVICGRID_FAULT", spec.as_str()), ("CIVICGRID__BUS__ACK_WAIT_SECS", "10")],
    );
    println!(
        "civicgrid-faults: suite up in {:.1}s; {} reports from {} clients",
        started.elapsed().as_secs_f64(),
        options.reports,
        options.clients
    );
    runtime.block_on(run(&suite, &options, rng))
}

async fn run(suite: &Suite, options: &Options, mut rng: rand_chacha::ChaCha8Rng) -> ExitCode {
    let load = Load::new(options.reports, options.clients);
    let answered = load.answered();
    let mut outside: BTreeMap<&str, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    let start = Instant::now();
    let submitted = books::submit_while(suite, &load, async {
        let mut last_progress = Instant::now();
        'faults: while !load.done() {
            let pause = Duration::from_millis(rng.random_range(options.pause_ms.0..options.pause_ms.1));
            let until = Instant::now() + pause;
            while Instant::now() < until {
                if load.done() {
                    break 'faults;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let kind = OUTSIDE[rng.random_range(0..OUTSIDE.len())];
            let done = match kind {
                "postgres (immediate shutdown)" => kills::stop_postgres_immediately(suite).await,
                name => kills::kill_and_await_restart(suite, name).await,
            };
            match done {
                Ok(()) => *outside.entry(kind).or_default() += 1,
                Err(e) => failures.push(format!("{kind}: {e}")),
            }
            if last_progress.elapsed() > Duration::from_secs(60) {
                last_progress = Instant::now();
                println!(
                    "  {:>6.0}s  {} of {} reports answered, {} outside faults",
                    start.elapsed().as_secs_f64(),
                    answered.load(std::sync::atomic::Ordering::SeqCst),
                    options.reports,
                    outside.values().sum::<usize>()
                );
            }
        }
    })
    .await;
    let submitting = start.elapsed();
    let books = match books::count(suite, &submitted.accepted, Duration::from_secs(900)).await {
        Ok(books) => books,
        Err(e) => {
            eprintln!("civicgrid-faults: counting the books: {e}");
            return ExitCode::FAILURE;
        }
    };
    let counted = start.elapsed();
    let fired = kills::kill_points_fired(suite);

    println!(
        "faults: {} reports from {} clients submitted in {:.0}s, books counted at {:.0}s (seed {})",
        options.reports,
        options.clients,
        submitting.as_secs_f64(),
        counted.as_secs_f64(),
        options.seed
    );
    println!("  outside faults         {}", outside.values().sum::<usize>());
    for (kind, n) in &outside {
        let label = if kind.contains("immediate") { kind.to_string() } else { format!("{kind} (kill -9)") };
        println!("    {label:<32} {n}");
    }
    println!("  kill points fired      {}", fired.values().sum::<usize>());
    for (point, n) in &fired {
        println!("    {point:<32} {n}");
    }
    // PostgreSQL's own word on how it was stopped and started again.
    let pg_log = std::fs::read_to_string(suite.state.path().join("postgres.log")).unwrap_or_default();
    let said = |what: &str| pg_log.lines().filter(|l| l.contains(what)).count();
    println!(
        "  postgres.log           {} immediate shutdown requests, {} recoveries",
        said("received immediate shutdown request"),
        said("automatic recovery in progress")
    );
    println!("  reports never accepted {}", submitted.refused.len());
    for r in submitted.refused.iter().take(10) {
        println!("    {r}");
    }
    for f in &failures {
        println!("  fault not carried out: {f}");
    }
    println!("books:\n{books}");
    let ok = books.balanced() && submitted.refused.is_empty() && books.accepted == options.reports;
    println!("{}", if ok { "the books balance" } else { "THE BOOKS DO NOT BALANCE" });
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
