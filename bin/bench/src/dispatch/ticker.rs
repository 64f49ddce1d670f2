//! The warning ticker with many open tasks: dispatch's schema (migrated by building the
//! Application) in a database of its own, open tasks bulk-loaded through dispatch's
//! `store::bulk`, then `Store::tick` — the very function dispatch's ticker calls — timed on a
//! virtual clock: at the load instant (nothing due), then at the instants when the next `few`
//! and the next `many` tasks fall due ([`phases`]), and through the first burst of
//! simultaneous changes ([`burst`]).
//!
//! This file holds what a table size measured and the load; every query on dispatch's tables
//! goes through `civicgrid_dispatch::store`.

mod burst;
mod phases;

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use civicgrid_dispatch::{
    store::{self, Store, bulk, inspect},
    tasks::{colour_to_proto, warning_at},
};
use civicgrid_kit::{bus::OutboxSignal, clock::Clock};
use hdrhistogram::Histogram;
use sqlx::{ConnectOptions, Connection, Executor, PgPool};

pub use self::burst::local;
use self::{burst::burst, phases::run_phase};
use super::{
    data::{self, Inputs, Rng},
    setup::{dispatch_pool, settings},
};
use crate::{
    env::Env,
    probe::{Probe, Usage},
    stats::int,
};

/// What one ticker phase measured.
pub struct Phase {
    /// `nothing due`, `~10 due` …
    pub label: String,
    /// Tasks meant to be due per round.
    pub due: usize,
    /// Duration of each timed `Store::tick` round.
    pub hist: Histogram<u64>,
    /// Rounds timed.
    pub rounds: usize,
    /// Tasks visited in all timed rounds, and the fewest and most in one.
    pub visited: u64,
    pub min_visited: usize,
    pub max_visited: usize,
    /// Clusters (many tasks sharing one instant) drained untimed and skipped, and their tasks.
    pub skipped_clusters: usize,
    pub skipped_tasks: u64,
    /// Facts the rounds recorded, by name (`task-warning`, `task-escalated`).
    pub facts: BTreeMap<String, i64>,
    /// CPU while the rounds ran.
    pub usage: Usage,
}

/// Everything measured at one table size.
pub struct SizeResult {
    /// Open tasks loaded.
    pub tasks: u64,
    /// Seconds the bulk insert took (templates, tasks), and VACUUM ANALYZE + CHECKPOINT.
    pub load_secs: f64,
    pub vacuum_secs: f64,
    /// Sizes: the table with its TOAST, all its indexes, the due index.
    pub table_bytes: i64,
    pub indexes_bytes: i64,
    pub due_index_bytes: i64,
    /// Distinct task shapes the rows were made from.
    pub templates: usize,
    /// `next_change_at` of the loaded rows: earliest, median and latest, as offsets from the
    /// load instant.
    pub spread: (Duration, Duration, Duration),
    /// Sampled rows whose stored colour and next change agree with `warning_at`.
    pub consistent: (usize, usize),
    /// A stored `clocks` value.
    pub sample_clocks: String,
    /// The phases.
    pub phases: Vec<Phase>,
    /// EXPLAIN (ANALYZE, BUFFERS) of the ticker's SELECT, with literal values (a custom plan)
    /// and forced generic (the plan a prepared statement may switch to).
    pub explain_custom: Vec<String>,
    pub explain_generic: Vec<String>,
    /// What the EXPLAINs ran at.
    pub explain_due: i64,
    /// The first instant at which many tasks change colour at once, drained.
    pub burst: Option<Burst>,
}

/// Tasks whose colour changes at one instant, and the ticker's loop working through them.
pub struct Burst {
    /// The instant.
    pub at: DateTime<Utc>,
    /// Tasks changing colour at it.
    pub size: i64,
    /// Tasks due before it (drained first, not timed).
    pub before: i64,
    /// Tasks the timed drain visited.
    pub visited: u64,
    /// Seconds from the first round to the end of the last: how late the burst's last
    /// warning is.
    pub secs: f64,
    /// Rounds, and each one's duration.
    pub rounds: usize,
    pub hist: Histogram<u64>,
    /// Facts recorded.
    pub facts: BTreeMap<String, i64>,
    /// CPU while it drained.
    pub usage: Usage,
    /// True when the drain stopped at its time cap.
    pub capped: bool,
    /// Ticker loops that drained it together (replicas sharing the work through SKIP LOCKED),
    /// and the tasks each round took.
    pub replicas: usize,
    pub batch: i64,
    /// Messages the relay published to JetStream while it drained, and seconds from the first
    /// round until the last of them was acknowledged: how late the burst's last warning is on
    /// the bus. `None` when the relay failed.
    pub published: u64,
    pub published_secs: Option<f64>,
}

/// Ticker phase parameters.
#[derive(Clone)]
pub struct TickerParams {
    /// Rounds per phase.
    pub idle_rounds: usize,
    pub few_rounds: usize,
    pub many_rounds: usize,
    /// Tasks due per round in the two busy phases.
    pub few: usize,
    pub many: usize,
    /// `Store::tick`'s batch (dispatch's `ticker_batch`).
    pub batch: i64,
    /// Ticker loops that drain the burst together.
    pub replicas: usize,
    /// dispatch's bus settings: the burst is published by kit's relay with these
    /// (`bus.relay_batch_size`, `bus.relay_batches_in_flight`).
    pub bus: civicgrid_kit::config::BusSettings,
    /// The share of a limit an overdue task may run over before it escalates.
    pub grace: f64,
}

async fn drop_database(env: &Env, name: &str) {
    let Ok(options) = <sqlx::postgres::PgConnectOptions as std::str::FromStr>::from_str(&env.admin_url) else { return };
    if let Ok(mut conn) = options.disable_statement_logging().connect().await {
        let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
        let _ = conn.execute(sqlx::AssertSqlSafe(sql)).await;
        let _ = conn.close().await;
    }
}

/// Loads `tasks` open tasks into a fresh database and times the ticker on them; drops the
/// database afterwards.
pub async fn measure(
    env: &Env,
    inputs: &Inputs,
    probe: &Probe,
    tasks: u64,
    params: &TickerParams,
) -> Result<SizeResult> {
    let name = format!("{}_t{tasks}", env.db_name);
    let url = civicgrid_dev::provision::ensure_database(&env.admin_url, &name)
        .await
        .context("creating the ticker database")?;
    let result = measure_in(env, inputs, probe, &url, tasks, params).await;
    drop_database(env, &name).await;
    result
}

async fn measure_in(
    env: &Env,
    inputs: &Inputs,
    probe: &Probe,
    url: &str,
    tasks: u64,
    params: &TickerParams,
) -> Result<SizeResult> {
    // dispatch's own schema: build the Application (migrations, the reference set), not run it.
    let app = civicgrid_dispatch::Application::build(settings(&env.nats_url, url)?, Clock::System)
        .await
        .context("building dispatch (migrations)")?;
    drop(app);
    let pool = dispatch_pool(url, 4 + params.replicas as u32).await?;
    let seq = store::latest_reference_set(&pool).await?.map(|(s, _)| s).context("no reference set stored")?;
    // The signal the store wakes the relay with after each commit, as in dispatch.
    let signal = OutboxSignal::default();
    let store = Arc::new(Store::new(pool.clone(), inputs.refdata.clone(), seq, signal.clone(), params.grace));

    // The load instant, whole milliseconds (what timestamptz keeps exactly).
    let now0 = DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).expect("now");
    let templates_n = (tasks as usize).clamp(1, 250_000);
    let mut rng = Rng::new(0x5eed_0000 + tasks);
    let t = Instant::now();
    let templates =
        data::open_task_templates(&inputs.refdata, &inputs.combos, now0, params.grace, templates_n, &mut rng)?;
    crate::field(
        "task shapes",
        format!("{} computed in {:.1} s", int(templates.len() as u64), t.elapsed().as_secs_f64()),
    );

    let load = Instant::now();
    load_tasks(&pool, inputs, &templates, tasks).await?;
    let load_secs = load.elapsed().as_secs_f64();
    crate::field("bulk insert", format!("{} tasks in {load_secs:.1} s", int(tasks)));
    let v = Instant::now();
    bulk::vacuum_analyze_tasks(&pool).await.context("VACUUM ANALYZE tasks")?;
    pool.acquire().await?.execute("CHECKPOINT").await.ok();
    let vacuum_secs = v.elapsed().as_secs_f64();
    crate::field("vacuum analyze", format!("{vacuum_secs:.1} s (and a CHECKPOINT)"));

    let sizes = inspect::table_sizes(&pool).await?;
    let sizes = (sizes.table, sizes.indexes, sizes.due_index);
    crate::field(
        "sizes",
        format!(
            "table {} MiB, its indexes {} MiB (tasks_due {} MiB)",
            sizes.0 / 1_048_576,
            sizes.1 / 1_048_576,
            sizes.2 / 1_048_576
        ),
    );
    let open = inspect::count_scheduled(&pool).await?;
    anyhow::ensure!(open as u64 == tasks, "loaded {open} open tasks, expected {tasks}");

    let spread = spread(&pool, now0).await?;
    let days = |d: Duration| d.as_secs_f64() / 86_400.0;
    crate::field(
        "next changes",
        format!(
            "earliest {:.1} min, median {:.1} d, latest {:.1} d after the load instant ({:.1} per minute on average)",
            spread.0.as_secs_f64() / 60.0,
            days(spread.1),
            days(spread.2),
            tasks as f64 / (spread.2.as_secs_f64() / 60.0).max(1.0)
        ),
    );
    let (consistent, sample_clocks) = check_consistency(&pool, inputs, now0, params.grace, tasks).await?;
    crate::field(
        "consistency",
        format!(
            "{} of {} sampled rows: stored colour and next_change_at = tasks::warning_at(clocks)",
            consistent.0, consistent.1
        ),
    );
    anyhow::ensure!(consistent.0 == consistent.1, "loaded rows disagree with dispatch's own warning_at");

    // Small tables are reloaded before each busy phase: the phases move the clock and use up
    // what is due. A large one barely notices (a few thousand rows of a million).
    let small = tasks <= 100_000;
    let reload = || async {
        if small {
            bulk::truncate_tasks(&pool).await?;
            load_tasks(&pool, inputs, &templates, tasks).await?;
            bulk::vacuum_analyze_tasks(&pool).await?;
        }
        anyhow::Ok(())
    };
    let mut phases = Vec::new();
    // (a) nothing due: the ticker's SELECT finds nothing.
    phases.push(run_phase(&store, &pool, probe, "nothing due", 0, params.idle_rounds, params.batch, now0).await?);
    // (b) a few due per round: the clock jumps to when the next `few` change colour.
    reload().await?;
    let (explain_due, explain_custom, explain_generic) = phases::explain(&pool, params.few, params.batch).await?;
    phases.push(
        run_phase(
            &store,
            &pool,
            probe,
            &format!("~{} due", params.few),
            params.few,
            params.few_rounds,
            params.batch,
            now0,
        )
        .await?,
    );
    reload().await?;
    phases.push(
        run_phase(
            &store,
            &pool,
            probe,
            &format!("~{} due", params.many),
            params.many,
            params.many_rounds,
            params.batch,
            now0,
        )
        .await?,
    );
    // (d) the first instant at which many tasks change colour together.
    reload().await?;
    let min_burst = (tasks as i64 / 100).clamp(50, 2000);
    let js = async_nats::jetstream::new(async_nats::connect(&env.nats_url).await.context("connecting to NATS")?);
    let burst = burst(&store, &pool, probe, params, min_burst, &js, &signal).await?;
    pool.close().await;
    Ok(SizeResult {
        tasks,
        load_secs,
        vacuum_secs,
        table_bytes: sizes.0,
        indexes_bytes: sizes.1,
        due_index_bytes: sizes.2,
        templates: templates.len(),
        spread,
        consistent,
        sample_clocks,
        phases,
        explain_custom,
        explain_generic,
        explain_due,
        burst,
    })
}

/// The rows, through dispatch's bulk loader: each template becomes a [`bulk::TaskTemplate`]
/// (the combination's item, route and place), then `tasks` rows are generated from them in
/// PostgreSQL, 250,000 a statement.
async fn load_tasks(pool: &PgPool, inputs: &Inputs, templates: &[data::Template], tasks: u64) -> Result<()> {
    let templates: Vec<bulk::TaskTemplate> = templates
        .iter()
        .map(|t| {
            let combo = &inputs.combos[t.combo];
            bulk::TaskTemplate {
                item_code: combo.item.code.clone(),
                whistle: combo.item.whistle,
                department_id: combo.route.lead.clone(),
                center_region: combo.route.center_region.clone(),
                city: combo.path.city.clone(),
                county: combo.path.county.clone(),
                township: combo.path.township.clone(),
                village: combo.path.village.clone(),
                grid_code: combo.grid_code.clone(),
                description: format!("{}：现场需要处置", combo.item.name),
                address: combo.grid_name.clone(),
                clocks: t.clocks.clone(),
                colour: t.colour,
                next_change_at: t.next_change_at,
                created_at: t.created_at,
                updated_at: t.updated_at,
            }
        })
        .collect();
    let mut conn = pool.acquire().await?;
    bulk::load_signed_tasks(&mut conn, &templates, tasks, |from, to, took| {
        if tasks > bulk::ROWS_PER_STATEMENT {
            crate::field("", format!("rows {}–{} in {:.1} s", int(from), int(to), took.as_secs_f64()));
        }
    })
    .await
    .context("bulk-inserting tasks")?;
    Ok(())
}

async fn spread(pool: &PgPool, now0: DateTime<Utc>) -> Result<(Duration, Duration, Duration)> {
    let (min, median, max) = inspect::next_change_spread(pool).await?.context("no task has a next change")?;
    let off = |t: DateTime<Utc>| (t - now0).to_std().unwrap_or_default();
    Ok((off(min), off(median), off(max)))
}

/// Reads about 1,000 rows back as dispatch reads them (`TaskRow`) and recomputes their colour
/// and next change with `tasks::warning_at`.
async fn check_consistency(
    pool: &PgPool,
    inputs: &Inputs,
    now0: DateTime<Utc>,
    grace: f64,
    tasks: u64,
) -> Result<((usize, usize), String)> {
    let pct = (100.0 * 1500.0 / tasks as f64).min(100.0);
    let rows = inspect::sample_tasks(pool, pct, 1000).await?;
    let cal = &inputs.refdata.calendar.calendar;
    let ok = rows
        .iter()
        .filter(|r| {
            let w = warning_at(&r.clocks.0, r.escalated, cal, now0, grace);
            colour_to_proto(w.colour) as i16 == r.colour && w.next_change_at == r.next_change_at
        })
        .count();
    let sample = inspect::any_clocks(pool).await?;
    Ok(((ok, rows.len()), sample.unwrap_or_default()))
}
