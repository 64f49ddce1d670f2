//! The warning ticker with many open tasks: dispatch's schema (migrated by building the
//! Application) in a database of its own, open tasks bulk-loaded with `INSERT … SELECT
//! generate_series`, then `Store::tick` — the very function dispatch's ticker calls — timed on
//! a virtual clock: at the load instant (nothing due), then at the instants when the next
//! `few` and the next `many` tasks fall due.

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use civicgrid_dispatch::{
    store::{self, Store},
    tasks::{TASK_COLUMNS, TaskRow, colour_to_proto, warning_at},
};
use civicgrid_kit::{bus::OutboxSignal, clock::Clock, config::BusSettings};
use hdrhistogram::Histogram;
use sqlx::{ConnectOptions, Connection, Executor, PgPool, Row};

use super::data::{self, Inputs, Rng};
use crate::{
    env::Env,
    probe::{Probe, Usage},
    stats::{self, Latency, int},
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

/// dispatch's settings for a run: its defaults, the URLs, a free port, `warn` logs.
pub fn settings(nats_url: &str, db_url: &str) -> Result<civicgrid_dispatch::Settings> {
    let toml = format!(
        "[nats]\nurl = \"{nats_url}\"\n[database]\nurl = \"{db_url}\"\n[grpc]\nlisten = \"127.0.0.1:0\"\n\
         [telemetry]\nlog = \"warn\"\n"
    );
    <civicgrid_dispatch::Settings as civicgrid_kit::config::ServiceSettings>::from_layers(&[&toml])
        .context("dispatch settings")
}

/// A pool of the bench's own on dispatch's schema (`application_name` civicgrid-bench, so
/// it is told apart from dispatch's connections in `pg_stat_activity`).
pub async fn dispatch_pool(db_url: &str, max_connections: u32) -> Result<PgPool> {
    let options = <sqlx::postgres::PgConnectOptions as std::str::FromStr>::from_str(db_url)
        .context("database URL")?
        .options([("search_path", civicgrid_dispatch::SERVICE)])
        .application_name("civicgrid-bench")
        .disable_statement_logging();
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(120))
        .connect_with(options)
        .await
        .context("pool on dispatch's schema")
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
    let mut conn = pool.acquire().await?;
    conn.execute("VACUUM ANALYZE tasks").await.context("VACUUM ANALYZE tasks")?;
    conn.execute("CHECKPOINT").await.ok();
    drop(conn);
    let vacuum_secs = v.elapsed().as_secs_f64();
    crate::field("vacuum analyze", format!("{vacuum_secs:.1} s (and a CHECKPOINT)"));

    let sizes: (i64, i64, i64) =
        sqlx::query_as("SELECT pg_table_size('tasks'), pg_indexes_size('tasks'), pg_relation_size('tasks_due')")
            .fetch_one(&pool)
            .await?;
    crate::field(
        "sizes",
        format!(
            "table {} MiB, its indexes {} MiB (tasks_due {} MiB)",
            sizes.0 / 1_048_576,
            sizes.1 / 1_048_576,
            sizes.2 / 1_048_576
        ),
    );
    let open: i64 =
        sqlx::query_scalar("SELECT count(*) FROM tasks WHERE next_change_at IS NOT NULL").fetch_one(&pool).await?;
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
            let mut conn = pool.acquire().await?;
            conn.execute("TRUNCATE task_changes, task_facts, outbox, tasks").await?;
            drop(conn);
            load_tasks(&pool, inputs, &templates, tasks).await?;
            pool.acquire().await?.execute("VACUUM ANALYZE tasks").await?;
        }
        anyhow::Ok(())
    };
    let mut phases = Vec::new();
    // (a) nothing due: the ticker's SELECT finds nothing.
    phases.push(run_phase(&store, &pool, probe, "nothing due", 0, params.idle_rounds, params.batch, now0).await?);
    // (b) a few due per round: the clock jumps to when the next `few` change colour.
    reload().await?;
    let (explain_due, explain_custom, explain_generic) = explain(&pool, params.few, params.batch).await?;
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

/// The rows: templates into an unlogged scratch table (arrays bound in chunks), then the tasks
/// with `INSERT INTO tasks … SELECT … FROM generate_series(…) JOIN templates`, 250,000 rows a
/// statement. Ids are UUIDv7-shaped from the row's assignment time, as dispatch's are.
async fn load_tasks(pool: &PgPool, inputs: &Inputs, templates: &[data::Template], tasks: u64) -> Result<()> {
    let mut conn = pool.acquire().await?;
    conn.execute(
        "CREATE UNLOGGED TABLE bench_templates (k int PRIMARY KEY, item_code text, whistle text, department_id text, \
         center_region text, city text, county text, township text, village text, grid_code text, description text, \
         address text, clocks jsonb, colour int2, next_change_at timestamptz, created_at timestamptz, \
         updated_at timestamptz)",
    )
    .await?;
    for (c, chunk) in templates.chunks(50_000).enumerate() {
        let base = (c * 50_000) as i32;
        let mut k = Vec::with_capacity(chunk.len());
        let mut cols: [Vec<String>; 12] = Default::default();
        let mut colour = Vec::with_capacity(chunk.len());
        let mut next = Vec::with_capacity(chunk.len());
        let mut created = Vec::with_capacity(chunk.len());
        let mut updated = Vec::with_capacity(chunk.len());
        for (i, t) in chunk.iter().enumerate() {
            let combo = &inputs.combos[t.combo];
            k.push(base + i as i32);
            let whistle = match combo.item.whistle {
                civicgrid_dispatch::domain::routing::WhistleLevel::GridSelf => "grid_self",
                civicgrid_dispatch::domain::routing::WhistleLevel::Routine => "routine",
                civicgrid_dispatch::domain::routing::WhistleLevel::Key => "key",
            };
            let values = [
                combo.item.code.clone(),
                whistle.to_string(),
                combo.route.lead.clone(),
                combo.route.center_region.clone(),
                combo.path.city.clone(),
                combo.path.county.clone(),
                combo.path.township.clone(),
                combo.path.village.clone(),
                combo.grid_code.clone(),
                format!("{}：现场需要处置", combo.item.name),
                combo.grid_name.clone(),
                t.clocks_json.clone(),
            ];
            for (col, v) in cols.iter_mut().zip(values) {
                col.push(v);
            }
            colour.push(t.colour);
            next.push(t.next_change_at);
            created.push(t.created_at);
            updated.push(t.updated_at);
        }
        sqlx::query(
            "INSERT INTO bench_templates SELECT k, item_code, whistle, department_id, center_region, city, county, \
             township, village, grid_code, description, address, clocks::jsonb, colour, next_change_at, created_at, \
             updated_at FROM unnest($1::int4[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], \
             $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::int2[], \
             $15::timestamptz[], $16::timestamptz[], $17::timestamptz[]) AS u(k, item_code, whistle, department_id, \
             center_region, city, county, township, village, grid_code, description, address, clocks, colour, \
             next_change_at, created_at, updated_at)",
        )
        .bind(&k)
        .bind(&cols[0])
        .bind(&cols[1])
        .bind(&cols[2])
        .bind(&cols[3])
        .bind(&cols[4])
        .bind(&cols[5])
        .bind(&cols[6])
        .bind(&cols[7])
        .bind(&cols[8])
        .bind(&cols[9])
        .bind(&cols[10])
        .bind(&cols[11])
        .bind(&colour)
        .bind(&next)
        .bind(&created)
        .bind(&updated)
        .execute(&mut *conn)
        .await
        .context("loading task templates")?;
    }
    let uuid7 = |ts: &str, tag: u32| {
        format!(
            "(lpad(to_hex((extract(epoch FROM {ts}) * 1000)::bigint), 12, '0') || '7' || '{tag:03x}' || '8' || \
             lpad(to_hex(g), 15, '0'))::uuid"
        )
    };
    let sql = format!(
        "INSERT INTO tasks (id, event_id, tracking_number, item_code, city, county, township, village, grid_code, \
         description, address, department_id, state, resume_to, lead, whistle, center_region, rework_count, returned_by, \
         extension_requested, clocks, colour, escalated, escalated_to, next_change_at, result, result_evidence_urls, \
         version, created_at, updated_at) \
         SELECT {}, {}, t.county || '-' || to_char((t.created_at AT TIME ZONE 'UTC') + interval '8 hours', 'YYYYMMDD') \
         || '-' || lpad(g::text, 7, '0'), t.item_code, t.city, t.county, t.township, t.village, t.grid_code, \
         t.description, t.address, t.department_id, 'signed', NULL, true, t.whistle, t.center_region, 0, '{{}}', NULL, \
         t.clocks, t.colour, false, NULL, t.next_change_at, NULL, '{{}}', 2, t.created_at, t.updated_at \
         FROM generate_series($1::bigint, $2::bigint) AS g JOIN bench_templates t ON t.k = (g % $3)::int",
        uuid7("t.created_at", 1),
        uuid7("t.created_at - interval '2 seconds'", 2),
    );
    let step = 250_000u64;
    let mut from = 1u64;
    while from <= tasks {
        let to = (from + step - 1).min(tasks);
        let t = Instant::now();
        sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .bind(from as i64)
            .bind(to as i64)
            .bind(templates.len() as i64)
            .execute(&mut *conn)
            .await
            .context("bulk-inserting tasks")?;
        if tasks > step {
            crate::field("", format!("rows {}–{} in {:.1} s", int(from), int(to), t.elapsed().as_secs_f64()));
        }
        from = to + 1;
    }
    conn.execute("DROP TABLE bench_templates").await?;
    Ok(())
}

async fn spread(pool: &PgPool, now0: DateTime<Utc>) -> Result<(Duration, Duration, Duration)> {
    let row = sqlx::query(
        "SELECT min(next_change_at), percentile_disc(0.5) WITHIN GROUP (ORDER BY next_change_at), max(next_change_at) \
         FROM tasks",
    )
    .fetch_one(pool)
    .await?;
    let off = |i: usize| -> Result<Duration> {
        let t: DateTime<Utc> = row.try_get(i)?;
        Ok((t - now0).to_std().unwrap_or_default())
    };
    Ok((off(0)?, off(1)?, off(2)?))
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
    let sql = format!("SELECT {TASK_COLUMNS} FROM tasks TABLESAMPLE BERNOULLI ({pct}) LIMIT 1000");
    let rows: Vec<TaskRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(pool).await?;
    let cal = &inputs.refdata.calendar.calendar;
    let ok = rows
        .iter()
        .filter(|r| {
            let w = warning_at(&r.clocks.0, r.escalated, cal, now0, grace);
            colour_to_proto(w.colour) as i16 == r.colour && w.next_change_at == r.next_change_at
        })
        .count();
    let sample: Option<String> =
        sqlx::query_scalar("SELECT clocks::text FROM tasks LIMIT 1").fetch_optional(pool).await?;
    Ok(((ok, rows.len()), sample.unwrap_or_default()))
}

/// The instant at which the `n`-th task still to change does (None when fewer remain).
async fn nth_due(pool: &PgPool, n: usize) -> Result<Option<DateTime<Utc>>> {
    Ok(sqlx::query_scalar(
        "SELECT next_change_at FROM tasks WHERE next_change_at IS NOT NULL ORDER BY next_change_at OFFSET $1 LIMIT 1",
    )
    .bind(n.saturating_sub(1) as i64)
    .fetch_optional(pool)
    .await?)
}

async fn fact_counts(pool: &PgPool) -> Result<BTreeMap<String, i64>> {
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT fact, count(*) FROM task_facts GROUP BY fact").fetch_all(pool).await?;
    Ok(rows.into_iter().collect())
}

async fn count_due(pool: &PgPool, at: DateTime<Utc>) -> Result<i64> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM tasks WHERE next_change_at <= $1").bind(at).fetch_one(pool).await?)
}

/// The ticker's own loop at `at`: rounds until one comes back less than full (or `cap`
/// passes). Returns the tasks visited and each round's duration.
async fn drain(store: &Store, at: DateTime<Utc>, batch: i64, cap: Duration) -> Result<(u64, Vec<Duration>)> {
    let start = Instant::now();
    let (mut visited, mut rounds) = (0u64, Vec::new());
    loop {
        let t = Instant::now();
        let n = store.tick(at, batch).await.context("Store::tick")?;
        rounds.push(t.elapsed());
        visited += n as u64;
        if (n as i64) < batch || start.elapsed() > cap {
            return Ok((visited, rounds));
        }
    }
}

/// `rounds` timed calls of `Store::tick(now, batch)` (after one untimed warm-up round). With
/// `due` = 0 `now` stays at the load instant; otherwise each round first moves `now` to the
/// instant by which the next `due` tasks change colour (found with an untimed query). When
/// that instant is shared by many more tasks (working-day limits end at local midnight, so
/// tasks started on the same day change colour together), the cluster is drained untimed and
/// skipped: phase (d) measures such bursts.
#[allow(clippy::too_many_arguments)]
async fn run_phase(
    store: &Store,
    pool: &PgPool,
    probe: &Probe,
    label: &str,
    due: usize,
    rounds: usize,
    batch: i64,
    now0: DateTime<Utc>,
) -> Result<Phase> {
    let facts0 = fact_counts(pool).await?;
    let mut hist = stats::histogram();
    let (mut visited, mut min_visited, mut max_visited, mut timed) = (0u64, usize::MAX, 0usize, 0usize);
    let (mut skipped_clusters, mut skipped_tasks) = (0usize, 0u64);
    let mut cpu0 = None;
    let mut round = 0;
    while round <= rounds {
        let now = if due == 0 {
            now0
        } else {
            let Some(at) = nth_due(pool, due).await? else { break };
            let cluster = count_due(pool, at).await?;
            if cluster as usize > (2 * due).max(due + 20) {
                if skipped_clusters >= 1000 {
                    break;
                }
                let (v, _) = drain(store, at, batch, Duration::from_secs(600)).await?;
                skipped_clusters += 1;
                skipped_tasks += v;
                continue;
            }
            at
        };
        if round == 1 {
            cpu0 = Some(probe.snapshot());
        }
        let t = Instant::now();
        let n = store.tick(now, batch).await.context("Store::tick")?;
        let took = t.elapsed();
        if round > 0 {
            stats::record(&mut hist, took);
            visited += n as u64;
            min_visited = min_visited.min(n);
            max_visited = max_visited.max(n);
            timed += 1;
        }
        round += 1;
        if due == 0 {
            anyhow::ensure!(n == 0, "{n} tasks were due at the load instant");
            // The ticker sleeps between rounds; so does this, a little.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let cpu1 = probe.snapshot();
    let usage = cpu0.map(|c| probe.usage(&c, &cpu1)).unwrap_or_default();
    let facts = fact_delta(&facts0, fact_counts(pool).await?);
    let phase = Phase {
        label: label.to_string(),
        due,
        hist,
        rounds: timed,
        visited,
        min_visited: if timed == 0 { 0 } else { min_visited },
        max_visited,
        skipped_clusters,
        skipped_tasks,
        facts,
        usage,
    };
    crate::field(&format!("tick, {label}"), format!("{}  ({})", Latency::of(&phase.hist).line(), phase.visited_line()));
    Ok(phase)
}

fn fact_delta(before: &BTreeMap<String, i64>, after: BTreeMap<String, i64>) -> BTreeMap<String, i64> {
    after
        .into_iter()
        .map(|(k, v)| {
            let b = before.get(&k).copied().unwrap_or(0);
            (k, v - b)
        })
        .filter(|(_, v)| *v > 0)
        .collect()
}

/// `t` in the calendar's time zone (UTC+08:00).
pub fn local(t: DateTime<Utc>) -> String {
    t.with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("+08"))
        .format("%a %Y-%m-%d %H:%M:%S%.3f +08")
        .to_string()
}

/// Publishes the whole outbox as dispatch's relay does; returns how many.
async fn relay_all(pool: &PgPool, js: &async_nats::jetstream::Context, bus: &BusSettings) -> Result<u64> {
    let n =
        civicgrid_kit::bus::outbox::relay_pending(pool, js, bus.relay_batch_size, bus.relay_batches_in_flight, None)
            .await
            .context("relaying the outbox")?;
    Ok(n as u64)
}

/// Messages in dispatch's stream.
async fn stream_messages(js: &async_nats::jetstream::Context) -> Result<u64> {
    let name = civicgrid_kit::bus::stream_name(civicgrid_dispatch::SERVICE);
    let mut stream = js.get_stream(&name).await.map_err(|e| anyhow::anyhow!("stream {name}: {e}"))?;
    Ok(stream.info().await.map_err(|e| anyhow::anyhow!("stream {name} info: {e}"))?.state.messages)
}

/// The first instant at which at least `min_size` tasks change colour together: everything
/// due before it is drained untimed (and its messages published), then `params.replicas`
/// ticker loops drain the instant together, timed, while kit's relay (woken by the store after
/// each commit, as in dispatch) publishes what they write to JetStream.
async fn burst(
    store: &Arc<Store>,
    pool: &PgPool,
    probe: &Probe,
    params: &TickerParams,
    min_size: i64,
    js: &async_nats::jetstream::Context,
    signal: &OutboxSignal,
) -> Result<Option<Burst>> {
    let batch = params.batch;
    let found: Option<(DateTime<Utc>, i64)> = sqlx::query_as(
        "SELECT next_change_at, count(*) FROM tasks WHERE next_change_at IS NOT NULL GROUP BY 1 \
         HAVING count(*) >= $1 ORDER BY 1 LIMIT 1",
    )
    .bind(min_size)
    .fetch_optional(pool)
    .await?;
    let Some((at, size)) = found else {
        crate::field("burst", format!("no instant with {min_size} or more tasks"));
        return Ok(None);
    };
    let before = sqlx::query_scalar::<_, i64>("SELECT count(*) FROM tasks WHERE next_change_at < $1")
        .bind(at)
        .fetch_one(pool)
        .await?;
    if before > 300_000 {
        crate::field("burst", format!("{size} tasks at {}, but {before} are due before it: skipped", local(at)));
        return Ok(None);
    }
    drain(store, at - chrono::Duration::milliseconds(1), batch, Duration::from_secs(1800)).await?;
    let earlier = relay_all(pool, js, &params.bus).await?;
    crate::field("burst", format!("{} earlier messages published to JetStream first (untimed)", int(earlier)));
    let facts0 = fact_counts(pool).await?;
    let cpu0 = probe.snapshot();
    let cap = Duration::from_secs(180);
    let start = Instant::now();
    // The relay runs alongside, as in dispatch: woken by each committed round.
    let messages0 = stream_messages(js).await?;
    let stop = civicgrid_kit::Shutdown::new();
    let relay = civicgrid_kit::bus::spawn_relay(
        pool.clone(),
        js.clone(),
        signal.clone(),
        &params.bus,
        civicgrid_kit::metrics::Metrics::new("dispatch"),
        stop.clone(),
    );
    let loops = (0..params.replicas.max(1)).map(|_| drain(store, at, batch, cap));
    let drains = futures::future::join_all(loops).await;
    let secs = start.elapsed().as_secs_f64();
    let cpu1 = probe.snapshot();
    let (mut visited, mut rounds) = (0u64, Vec::new());
    for d in drains {
        let (v, r) = d?;
        visited += v;
        rounds.extend(r);
    }
    // The last warning is on the bus when the relay has deleted the last row (after its ack).
    let mut relayed: Result<(u64, std::time::Duration)> = Err(anyhow::anyhow!("the outbox was not emptied in 180 s"));
    while start.elapsed() < cap {
        if civicgrid_kit::bus::outbox::pending_count(pool).await? == 0 {
            let elapsed = start.elapsed();
            relayed = Ok((stream_messages(js).await?.saturating_sub(messages0), elapsed));
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    stop.cancel();
    relay.await.context("relay task")?;
    if let Err(e) = &relayed {
        crate::field("burst", format!("the relay failed: {e:#}"));
    }
    let mut hist = stats::histogram();
    for r in &rounds {
        stats::record(&mut hist, *r);
    }
    let b = Burst {
        at,
        size,
        before,
        visited,
        secs,
        rounds: rounds.len(),
        hist,
        facts: fact_delta(&facts0, fact_counts(pool).await?),
        usage: probe.usage(&cpu0, &cpu1),
        capped: start.elapsed() > cap,
        replicas: params.replicas.max(1),
        batch,
        published: relayed.as_ref().map(|r| r.0).unwrap_or(0),
        published_secs: relayed.as_ref().ok().map(|r| r.1.as_secs_f64()),
    };
    crate::field(
        "burst",
        format!(
            "{} tasks change colour at {} ({} due before it, drained first); {} ticker loop(s) took {:.2} s over {} rounds ({}); {} messages on JetStream after {}{}",
            int(size as u64),
            local(at),
            int(before as u64),
            b.replicas,
            b.secs,
            b.rounds,
            Latency::of(&b.hist).line(),
            int(b.published),
            b.published_secs.map(|s| format!("{s:.2} s")).unwrap_or_else(|| "— (relay failed)".into()),
            if b.capped { " — STOPPED at the time cap" } else { "" }
        ),
    );
    Ok(Some(b))
}

impl Phase {
    /// `200 rounds; 10–13 tasks visited a round; task-warning 1,980, task-escalated 20`
    pub fn visited_line(&self) -> String {
        let facts: Vec<String> = self.facts.iter().map(|(k, v)| format!("{k} {}", int(*v as u64))).collect();
        format!(
            "{} rounds; {}–{} tasks visited a round{}{}",
            self.rounds,
            self.min_visited,
            self.max_visited,
            if facts.is_empty() { String::new() } else { format!("; {}", facts.join(", ")) },
            if self.skipped_clusters == 0 {
                String::new()
            } else {
                format!(
                    "; {} clusters of simultaneous changes ({} tasks) skipped untimed",
                    self.skipped_clusters,
                    int(self.skipped_tasks)
                )
            }
        )
    }
}

/// EXPLAIN (ANALYZE, BUFFERS) of the ticker's SELECT at the instant the next `few` are due,
/// inside a transaction rolled back (it takes row locks): with literal values, and as a
/// prepared statement forced to its generic plan.
async fn explain(pool: &PgPool, few: usize, batch: i64) -> Result<(i64, Vec<String>, Vec<String>)> {
    let Some(at) = nth_due(pool, few).await? else { return Ok((0, vec![], vec![])) };
    let due: i64 =
        sqlx::query_scalar("SELECT count(*) FROM tasks WHERE next_change_at <= $1").bind(at).fetch_one(pool).await?;
    let select = |now: &str, limit: &str| {
        format!(
            "SELECT {TASK_COLUMNS} FROM tasks WHERE next_change_at <= {now} ORDER BY next_change_at LIMIT {limit} FOR UPDATE SKIP LOCKED"
        )
    };
    let literal = format!("'{}'::timestamptz", at.to_rfc3339());
    let mut conn = pool.acquire().await?;
    let plan = |rows: Vec<sqlx::postgres::PgRow>| -> Vec<String> {
        rows.iter().filter_map(|r| r.try_get::<String, _>(0).ok()).collect()
    };
    conn.execute("BEGIN").await?;
    let custom = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "EXPLAIN (ANALYZE, BUFFERS) {}",
        select(&literal, &batch.to_string())
    )))
    .fetch_all(&mut *conn)
    .await?;
    conn.execute("ROLLBACK").await?;
    conn.execute("SET plan_cache_mode = force_generic_plan").await?;
    conn.execute(sqlx::AssertSqlSafe(format!("PREPARE bench_tick(timestamptz, bigint) AS {}", select("$1", "$2"))))
        .await?;
    conn.execute("BEGIN").await?;
    let generic = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "EXPLAIN (ANALYZE, BUFFERS) EXECUTE bench_tick({literal}, {batch})"
    )))
    .fetch_all(&mut *conn)
    .await;
    conn.execute("ROLLBACK").await?;
    conn.execute("DEALLOCATE bench_tick").await?;
    conn.execute("RESET plan_cache_mode").await?;
    Ok((due, plan(custom), plan(generic?)))
}
