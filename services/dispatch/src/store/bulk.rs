//! Loading many tasks at once and whole-table maintenance, for the benchmark that times the
//! ticker on up to millions of open tasks. Not used by the service: it exists so the bench
//! writes dispatch's tables only through dispatch's own storage code, and so the column list
//! of `tasks` is written down here and nowhere else.
//!
//! Rows are generated in PostgreSQL: a few hundred thousand [`TaskTemplate`]s go into an
//! unlogged scratch table, then `INSERT INTO tasks … SELECT … FROM generate_series(…) JOIN
//! templates` makes [`ROWS_PER_STATEMENT`] rows a statement. Building millions of
//! [`TaskRow`](crate::tasks::TaskRow)s in memory instead would take gigabytes and minutes.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::{Executor, PgConnection, PgPool, types::Json};

use super::StoreError;
use crate::{domain::routing::WhistleLevel, tasks::Clocks};

/// Rows [`load_signed_tasks`] inserts per statement.
pub const ROWS_PER_STATEMENT: u64 = 250_000;

/// Templates bound per statement while filling the scratch table.
const TEMPLATES_PER_STATEMENT: usize = 50_000;

/// One shape of open task: what varies between bulk-loaded tasks. Each becomes a lead task in
/// state `signed` at version 2 (assigned, then signed for), never returned nor reworked, whose
/// colour and next change the caller computed from `clocks` (with
/// [`warning_at`](crate::tasks::warning_at), as dispatch does).
#[derive(Debug, Clone)]
pub struct TaskTemplate {
    /// Catalog item.
    pub item_code: String,
    /// Whistle level of the item.
    pub whistle: WhistleLevel,
    /// The department holding it.
    pub department_id: String,
    /// The coordinating center's region.
    pub center_region: String,
    /// Region path and grid.
    pub city: String,
    pub county: String,
    pub township: String,
    pub village: String,
    pub grid_code: String,
    /// The report's text and address.
    pub description: String,
    pub address: String,
    /// Its stage clocks.
    pub clocks: Clocks,
    /// `tasks.colour` (a `civicgrid.v1.WarningColour` number).
    pub colour: i16,
    /// The next instant the ticker must look at it.
    pub next_change_at: DateTime<Utc>,
    /// When it was assigned and when it was signed for.
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Inserts `count` tasks made from `templates` (task `g`, counted from 1, copies template
/// `g % templates.len()`), [`ROWS_PER_STATEMENT`] a statement, calling `progress(from, to,
/// took)` after each statement. Ids are UUIDv7-shaped from the row's assignment time, as
/// dispatch's own are, so they sort like real ones; tracking numbers are unique per row.
pub async fn load_signed_tasks(
    conn: &mut PgConnection,
    templates: &[TaskTemplate],
    count: u64,
    mut progress: impl FnMut(u64, u64, Duration),
) -> Result<(), StoreError> {
    if templates.is_empty() {
        return Ok(());
    }
    conn.execute(
        "CREATE UNLOGGED TABLE bench_templates (k int PRIMARY KEY, item_code text, whistle text, department_id text, \
         center_region text, city text, county text, township text, village text, grid_code text, description text, \
         address text, clocks jsonb, colour int2, next_change_at timestamptz, created_at timestamptz, \
         updated_at timestamptz)",
    )
    .await?;
    for (c, chunk) in templates.chunks(TEMPLATES_PER_STATEMENT).enumerate() {
        insert_templates(conn, (c * TEMPLATES_PER_STATEMENT) as i32, chunk).await?;
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
    let mut from = 1u64;
    while from <= count {
        let to = (from + ROWS_PER_STATEMENT - 1).min(count);
        let t = Instant::now();
        sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .bind(from as i64)
            .bind(to as i64)
            .bind(templates.len() as i64)
            .execute(&mut *conn)
            .await?;
        progress(from, to, t.elapsed());
        from = to + 1;
    }
    conn.execute("DROP TABLE bench_templates").await?;
    Ok(())
}

/// Writes `chunk` into the scratch table, keys from `base` on, in one statement.
async fn insert_templates(conn: &mut PgConnection, base: i32, chunk: &[TaskTemplate]) -> Result<(), sqlx::Error> {
    fn col<'t, T>(chunk: &'t [TaskTemplate], f: impl Fn(&'t TaskTemplate) -> T) -> Vec<T> {
        chunk.iter().map(f).collect()
    }
    let k: Vec<i32> = (0..chunk.len()).map(|i| base + i as i32).collect();
    sqlx::query(
        "INSERT INTO bench_templates SELECT k, item_code, whistle, department_id, center_region, city, county, \
         township, village, grid_code, description, address, clocks, colour, next_change_at, created_at, \
         updated_at FROM unnest($1::int4[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], \
         $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::jsonb[], $14::int2[], \
         $15::timestamptz[], $16::timestamptz[], $17::timestamptz[]) AS u(k, item_code, whistle, department_id, \
         center_region, city, county, township, village, grid_code, description, address, clocks, colour, \
         next_change_at, created_at, updated_at)",
    )
    .bind(&k)
    .bind(col(chunk, |t| t.item_code.as_str()))
    .bind(col(chunk, |t| t.whistle.as_str()))
    .bind(col(chunk, |t| t.department_id.as_str()))
    .bind(col(chunk, |t| t.center_region.as_str()))
    .bind(col(chunk, |t| t.city.as_str()))
    .bind(col(chunk, |t| t.county.as_str()))
    .bind(col(chunk, |t| t.township.as_str()))
    .bind(col(chunk, |t| t.village.as_str()))
    .bind(col(chunk, |t| t.grid_code.as_str()))
    .bind(col(chunk, |t| t.description.as_str()))
    .bind(col(chunk, |t| t.address.as_str()))
    .bind(col(chunk, |t| Json(&t.clocks)))
    .bind(col(chunk, |t| t.colour))
    .bind(col(chunk, |t| t.next_change_at))
    .bind(col(chunk, |t| t.created_at))
    .bind(col(chunk, |t| t.updated_at))
    .execute(conn)
    .await?;
    Ok(())
}

/// Empties the tasks with their facts, change feed and outgoing messages, in one statement
/// (the tables refer to each other).
pub async fn truncate_tasks(pool: &PgPool) -> Result<(), StoreError> {
    let mut conn = pool.acquire().await?;
    conn.execute("TRUNCATE task_changes, task_facts, outbox, tasks").await?;
    Ok(())
}

/// `VACUUM ANALYZE tasks`: after a bulk load, so the planner knows the table and index-only
/// scans see an up-to-date visibility map.
pub async fn vacuum_analyze_tasks(pool: &PgPool) -> Result<(), StoreError> {
    pool.acquire().await?.execute("VACUUM ANALYZE tasks").await?;
    Ok(())
}
