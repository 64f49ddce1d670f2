//! Read-only looks at the `tasks` table as a whole, for the benchmark: counts, when tasks fall
//! due, samples, sizes, and the query plans of the ticker's claim. Not used by the service.

use chrono::{DateTime, Utc};
use sqlx::{Executor, PgPool, Row};

use super::{StoreError, tasks::claim_due_sql};
use crate::tasks::{TASK_COLUMNS, TaskRow};

/// All tasks, in any state.
pub async fn count_tasks(pool: &PgPool) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM tasks").fetch_one(pool).await?)
}

/// When the newest task was created (`None` without tasks).
pub async fn last_created_at(pool: &PgPool) -> Result<Option<DateTime<Utc>>, StoreError> {
    Ok(sqlx::query_scalar("SELECT max(created_at) FROM tasks").fetch_one(pool).await?)
}

/// The stored `clocks` (JSON text) of the oldest task, as dispatch wrote it.
pub async fn oldest_clocks(pool: &PgPool) -> Result<Option<String>, StoreError> {
    Ok(sqlx::query_scalar("SELECT clocks::text FROM tasks ORDER BY created_at LIMIT 1").fetch_optional(pool).await?)
}

/// The stored `clocks` (JSON text) of any one task: cheap on a large table.
pub async fn any_clocks(pool: &PgPool) -> Result<Option<String>, StoreError> {
    Ok(sqlx::query_scalar("SELECT clocks::text FROM tasks LIMIT 1").fetch_optional(pool).await?)
}

/// Tasks the ticker will visit some day (those with a next change).
pub async fn count_scheduled(pool: &PgPool) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM tasks WHERE next_change_at IS NOT NULL").fetch_one(pool).await?)
}

/// Tasks due by `at` (what a ticker round at `at` may claim).
pub async fn count_due(pool: &PgPool, at: DateTime<Utc>) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM tasks WHERE next_change_at <= $1").bind(at).fetch_one(pool).await?)
}

/// Tasks due strictly before `at`.
pub async fn count_due_before(pool: &PgPool, at: DateTime<Utc>) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar::<_, i64>("SELECT count(*) FROM tasks WHERE next_change_at < $1")
        .bind(at)
        .fetch_one(pool)
        .await?)
}

/// The earliest, median and latest `next_change_at`; `None` when no task has one.
pub async fn next_change_spread(
    pool: &PgPool,
) -> Result<Option<(DateTime<Utc>, DateTime<Utc>, DateTime<Utc>)>, StoreError> {
    let row = sqlx::query(
        "SELECT min(next_change_at), percentile_disc(0.5) WITHIN GROUP (ORDER BY next_change_at), max(next_change_at) \
         FROM tasks",
    )
    .fetch_one(pool)
    .await?;
    let at = |i: usize| row.try_get::<Option<DateTime<Utc>>, _>(i);
    Ok(match (at(0)?, at(1)?, at(2)?) {
        (Some(min), Some(median), Some(max)) => Some((min, median, max)),
        _ => None,
    })
}

/// The instant at which the `n`-th task still to change does (`None` when fewer remain).
pub async fn nth_next_change(pool: &PgPool, n: usize) -> Result<Option<DateTime<Utc>>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT next_change_at FROM tasks WHERE next_change_at IS NOT NULL ORDER BY next_change_at OFFSET $1 LIMIT 1",
    )
    .bind(n.saturating_sub(1) as i64)
    .fetch_optional(pool)
    .await?)
}

/// The first instant at which at least `min_size` tasks change together, and how many do.
pub async fn first_shared_change(pool: &PgPool, min_size: i64) -> Result<Option<(DateTime<Utc>, i64)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT next_change_at, count(*) FROM tasks WHERE next_change_at IS NOT NULL GROUP BY 1 \
         HAVING count(*) >= $1 ORDER BY 1 LIMIT 1",
    )
    .bind(min_size)
    .fetch_optional(pool)
    .await?)
}

/// About `percent` % of the rows, at most `limit`, read as dispatch reads them.
pub async fn sample_tasks(pool: &PgPool, percent: f64, limit: i64) -> Result<Vec<TaskRow>, StoreError> {
    let sql = format!("SELECT {TASK_COLUMNS} FROM tasks TABLESAMPLE BERNOULLI ({percent}) LIMIT {limit}");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(pool).await?)
}

/// On-disk sizes in bytes.
#[derive(Debug, Clone, Copy)]
pub struct TableSizes {
    /// `tasks` with its TOAST.
    pub table: i64,
    /// All its indexes.
    pub indexes: i64,
    /// The index the ticker's claim uses (`tasks_due`).
    pub due_index: i64,
}

/// The sizes of `tasks` and its indexes.
pub async fn table_sizes(pool: &PgPool) -> Result<TableSizes, StoreError> {
    let (table, indexes, due_index): (i64, i64, i64) =
        sqlx::query_as("SELECT pg_table_size('tasks'), pg_indexes_size('tasks'), pg_relation_size('tasks_due')")
            .fetch_one(pool)
            .await?;
    Ok(TableSizes { table, indexes, due_index })
}

/// `EXPLAIN (ANALYZE, BUFFERS)` of the ticker's claim ([`claim_due_sql`]) at `at` with
/// `batch`, each run inside a transaction rolled back (it takes row locks): with literal
/// values (a custom plan), and as a prepared statement forced to its generic plan (the plan a
/// prepared statement may switch to). Returns the two plans' lines.
pub async fn explain_claim(
    pool: &PgPool,
    at: DateTime<Utc>,
    batch: i64,
) -> Result<(Vec<String>, Vec<String>), StoreError> {
    let literal = format!("'{}'::timestamptz", at.to_rfc3339());
    let mut conn = pool.acquire().await?;
    let plan = |rows: Vec<sqlx::postgres::PgRow>| -> Vec<String> {
        rows.iter().filter_map(|r| r.try_get::<String, _>(0).ok()).collect()
    };
    conn.execute("BEGIN").await?;
    let custom = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "EXPLAIN (ANALYZE, BUFFERS) {}",
        claim_due_sql(&literal, &batch.to_string())
    )))
    .fetch_all(&mut *conn)
    .await?;
    conn.execute("ROLLBACK").await?;
    conn.execute("SET plan_cache_mode = force_generic_plan").await?;
    conn.execute(sqlx::AssertSqlSafe(format!(
        "PREPARE bench_tick(timestamptz, bigint) AS {}",
        claim_due_sql("$1", "$2")
    )))
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
    Ok((plan(custom), plan(generic?)))
}
