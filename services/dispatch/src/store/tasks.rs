//! SQL on the `tasks` rows: claiming due tasks for the ticker, locking one for an action,
//! inserting new ones and updating changed ones in multi-row statements, listings and the
//! task heads assessment folds facts onto.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use civicgrid_kit::region;
use sqlx::{PgConnection, PgPool, types::Json};
use uuid::Uuid;

use super::{Store, StoreError};
use crate::{
    tasks::{TASK_COLUMNS, TaskRow},
    visibility::Visibility,
};

/// Filters of a task listing; `None` means no filter.
#[derive(Debug, Default, Clone)]
pub struct TaskFilter {
    /// Department.
    pub department_id: Option<String>,
    /// City code.
    pub city: Option<String>,
    /// County code.
    pub county: Option<String>,
    /// Township code.
    pub township: Option<String>,
    /// Village code.
    pub village: Option<String>,
    /// Grid code.
    pub grid_code: Option<String>,
    /// Stored state names.
    pub states: Option<Vec<String>>,
    /// Colour.
    pub colour: Option<i16>,
    /// Event.
    pub event_id: Option<Uuid>,
    /// Only ids below this one (page token).
    pub before_id: Option<Uuid>,
}

impl TaskFilter {
    /// Narrows the filter to a region code of any level, or a 15-digit grid code.
    pub fn set_region(&mut self, code: &str) {
        if code.len() == 15 {
            self.grid_code = Some(code.into());
            return;
        }
        match region::level(code) {
            Ok(region::Level::City) => self.city = Some(code.into()),
            Ok(region::Level::County) => self.county = Some(code.into()),
            Ok(region::Level::Township) => self.township = Some(code.into()),
            Ok(region::Level::Village) => self.village = Some(code.into()),
            Err(_) => {}
        }
    }
}

/// What assessment needs of a task row: id, region path, lead flag.
pub type TaskHead = (Uuid, String, String, String, String, bool);

/// Tasks not yet closed, by stored warning colour (a `civicgrid.v1.WarningColour` number).
pub async fn open_tasks_by_colour(pool: &PgPool) -> Result<Vec<(i16, i64)>, StoreError> {
    Ok(sqlx::query_as("SELECT colour, count(*) FROM tasks WHERE state <> 'closed' GROUP BY colour")
        .fetch_all(pool)
        .await?)
}

/// The ticker's claim: every task whose next change is due by `now` (at most `limit`, the
/// earliest first), locked, skipping rows other replicas or actions hold. `now` and `limit` are
/// SQL expressions, so [`crate::store::inspect::explain_claim`] explains the very statement
/// [`claim_due`] runs.
pub fn claim_due_sql(now: &str, limit: &str) -> String {
    format!(
        "SELECT {TASK_COLUMNS} FROM tasks WHERE next_change_at <= {now} ORDER BY next_change_at LIMIT {limit} FOR UPDATE SKIP LOCKED"
    )
}

/// Claims up to `batch` tasks due by `now` for one ticker round (see [`claim_due_sql`]).
pub(crate) async fn claim_due(
    tx: &mut PgConnection,
    now: DateTime<Utc>,
    batch: i64,
) -> Result<Vec<TaskRow>, sqlx::Error> {
    let sql = claim_due_sql("$1", "$2");
    sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(now).bind(batch).fetch_all(tx).await
}

/// One task, locked until the transaction ends.
pub(crate) async fn lock(tx: &mut PgConnection, id: Uuid) -> Result<Option<TaskRow>, sqlx::Error> {
    let sql = format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1 FOR UPDATE");
    sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(tx).await
}

/// The lead tasks of an event, locked until the transaction ends.
pub(crate) async fn lock_leads_of_event(tx: &mut PgConnection, event_id: Uuid) -> Result<Vec<TaskRow>, sqlx::Error> {
    let sql = format!("SELECT {TASK_COLUMNS} FROM tasks WHERE event_id = $1 AND lead FOR UPDATE");
    sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(event_id).fetch_all(tx).await
}

/// Which of `event_ids` already have tasks.
///
/// One index probe per id (a lateral with LIMIT, which the planner cannot turn into a join):
/// `event_id = ANY($1)` was planned from guesses until the first ANALYZE and read the whole
/// table for every batch (measured by `civicgrid-bench loop`, docs/performance.md).
pub(crate) async fn events_with_tasks(tx: &mut PgConnection, event_ids: &[Uuid]) -> Result<HashSet<Uuid>, sqlx::Error> {
    Ok(sqlx::query_scalar(
        "SELECT k.id FROM unnest($1::uuid[]) AS k(id) \
         CROSS JOIN LATERAL (SELECT 1 FROM tasks WHERE event_id = k.id LIMIT 1) AS t",
    )
    .bind(event_ids)
    .fetch_all(tx)
    .await?
    .into_iter()
    .collect())
}

/// One column of `rows`, for binding as an array.
fn col<'r, T>(rows: &'r [TaskRow], f: impl Fn(&'r TaskRow) -> T) -> Vec<T> {
    rows.iter().map(f).collect()
}

/// Inserts new task rows in one statement. The two list columns travel as JSON arrays, since
/// PostgreSQL has no arrays of arrays of different lengths.
pub(crate) async fn insert(tx: &mut PgConnection, rows: &[TaskRow]) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO tasks (id, event_id, tracking_number, item_code, city, county, township, village, grid_code, \
         description, address, department_id, state, resume_to, lead, whistle, center_region, rework_count, returned_by, \
         extension_requested, clocks, colour, escalated, escalated_to, next_change_at, result, result_evidence_urls, \
         version, created_at, updated_at) \
         SELECT id, event_id, tracking_number, item_code, city, county, township, village, grid_code, description, \
           address, department_id, state, resume_to, lead, whistle, center_region, rework_count, \
           ARRAY(SELECT jsonb_array_elements_text(returned_by)), extension_requested, clocks, colour, escalated, \
           escalated_to, next_change_at, result, ARRAY(SELECT jsonb_array_elements_text(result_evidence_urls)), \
           version, created_at, updated_at \
         FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], \
           $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::bool[], $16::text[], \
           $17::text[], $18::int4[], $19::jsonb[], $20::int4[], $21::jsonb[], $22::int2[], $23::bool[], $24::text[], \
           $25::timestamptz[], $26::text[], $27::jsonb[], $28::int8[], $29::timestamptz[], $30::timestamptz[]) \
           AS t(id, event_id, tracking_number, item_code, city, county, township, village, grid_code, description, \
             address, department_id, state, resume_to, lead, whistle, center_region, rework_count, returned_by, \
             extension_requested, clocks, colour, escalated, escalated_to, next_change_at, result, \
             result_evidence_urls, version, created_at, updated_at)",
    )
    .bind(col(rows, |r| r.id))
    .bind(col(rows, |r| r.event_id))
    .bind(col(rows, |r| r.tracking_number.as_str()))
    .bind(col(rows, |r| r.item_code.as_str()))
    .bind(col(rows, |r| r.city.as_str()))
    .bind(col(rows, |r| r.county.as_str()))
    .bind(col(rows, |r| r.township.as_str()))
    .bind(col(rows, |r| r.village.as_str()))
    .bind(col(rows, |r| r.grid_code.as_deref()))
    .bind(col(rows, |r| r.description.as_str()))
    .bind(col(rows, |r| r.address.as_str()))
    .bind(col(rows, |r| r.department_id.as_deref()))
    .bind(col(rows, |r| r.state.as_str()))
    .bind(col(rows, |r| r.resume_to.as_deref()))
    .bind(col(rows, |r| r.lead))
    .bind(col(rows, |r| r.whistle.as_str()))
    .bind(col(rows, |r| r.center_region.as_str()))
    .bind(col(rows, |r| r.rework_count))
    .bind(col(rows, |r| Json(&r.returned_by)))
    .bind(col(rows, |r| r.extension_requested))
    .bind(col(rows, |r| Json(&r.clocks.0)))
    .bind(col(rows, |r| r.colour))
    .bind(col(rows, |r| r.escalated))
    .bind(col(rows, |r| r.escalated_to.as_deref()))
    .bind(col(rows, |r| r.next_change_at))
    .bind(col(rows, |r| r.result.as_deref()))
    .bind(col(rows, |r| Json(&r.result_evidence_urls)))
    .bind(col(rows, |r| r.version))
    .bind(col(rows, |r| r.created_at))
    .bind(col(rows, |r| r.updated_at))
    .execute(tx)
    .await?;
    Ok(())
}

/// Writes what a ticker round changes on its claimed rows, in one statement.
pub(crate) async fn update_ticked(tx: &mut PgConnection, rows: &[TaskRow]) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE tasks t SET colour = u.colour, escalated = u.escalated, escalated_to = u.escalated_to, \
           next_change_at = u.next_change_at, version = u.version, updated_at = u.updated_at \
         FROM unnest($1::uuid[], $2::int2[], $3::bool[], $4::text[], $5::timestamptz[], $6::int8[], $7::timestamptz[]) \
           AS u(id, colour, escalated, escalated_to, next_change_at, version, updated_at) \
         WHERE t.id = u.id",
    )
    .bind(col(rows, |r| r.id))
    .bind(col(rows, |r| r.colour))
    .bind(col(rows, |r| r.escalated))
    .bind(col(rows, |r| r.escalated_to.clone()))
    .bind(col(rows, |r| r.next_change_at))
    .bind(col(rows, |r| r.version))
    .bind(col(rows, |r| r.updated_at))
    .execute(tx)
    .await?;
    Ok(())
}

/// Writes everything a lifecycle decision may change on one row.
pub(crate) async fn update(tx: &mut PgConnection, row: &TaskRow) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE tasks SET department_id = $2, state = $3, resume_to = $4, rework_count = $5, returned_by = $6, \
         extension_requested = $7, clocks = $8, colour = $9, escalated = $10, escalated_to = $11, next_change_at = $12, \
         result = $13, result_evidence_urls = $14, version = $15, updated_at = $16 WHERE id = $1",
    )
    .bind(row.id)
    .bind(&row.department_id)
    .bind(&row.state)
    .bind(&row.resume_to)
    .bind(row.rework_count)
    .bind(&row.returned_by)
    .bind(row.extension_requested)
    .bind(&row.clocks)
    .bind(row.colour)
    .bind(row.escalated)
    .bind(&row.escalated_to)
    .bind(row.next_change_at)
    .bind(&row.result)
    .bind(&row.result_evidence_urls)
    .bind(row.version)
    .bind(row.updated_at)
    .execute(tx)
    .await?;
    Ok(())
}

/// The heads of the tasks ever assigned to department `department_id` (any of its facts
/// records the assignment).
pub(crate) async fn heads_assigned_to(pool: &PgPool, department_id: &str) -> Result<Vec<TaskHead>, sqlx::Error> {
    sqlx::query_as(
        "SELECT t.id, t.city, t.county, t.township, t.village, t.lead FROM tasks t WHERE EXISTS \
         (SELECT 1 FROM task_facts f WHERE f.task_id = t.id AND f.recorded @> $1)",
    )
    .bind(Json(serde_json::json!([{ "Assigned": { "department_id": department_id } }])))
    .fetch_all(pool)
    .await
}

/// The heads of the tasks located in the region of `filter` (its city to village codes).
pub(crate) async fn heads_in_region(pool: &PgPool, filter: &TaskFilter) -> Result<Vec<TaskHead>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, city, county, township, village, lead FROM tasks WHERE \
           ($1::text IS NULL OR city = $1) AND ($2::text IS NULL OR county = $2) \
           AND ($3::text IS NULL OR township = $3) AND ($4::text IS NULL OR village = $4)",
    )
    .bind(&filter.city)
    .bind(&filter.county)
    .bind(&filter.township)
    .bind(&filter.village)
    .fetch_all(pool)
    .await
}

/// The heads of the tasks grid worker `worker_id` reported or verified (passed or rejected)
/// before `to`.
pub(crate) async fn heads_of_grid_worker(
    pool: &PgPool,
    worker_id: &str,
    to: DateTime<Utc>,
) -> Result<Vec<TaskHead>, sqlx::Error> {
    // Only the facts that can name a grid worker: a task's creation (Reported) and a
    // verification, passed or rejected.
    sqlx::query_as(
        "SELECT t.id, t.city, t.county, t.township, t.village, t.lead FROM tasks t WHERE t.id IN              (SELECT f.task_id FROM task_facts f WHERE f.at < $4                 AND f.fact IN ('task-assigned', 'task-awaiting-triage', 'task-verified', 'task-reworked')                 AND (f.recorded @> $1 OR f.recorded @> $2 OR f.recorded @> $3))",
    )
    .bind(Json(serde_json::json!([{ "Reported": { "grid_worker_id": worker_id } }])))
    .bind(Json(serde_json::json!([{ "Verified": { "by": worker_id } }])))
    .bind(Json(serde_json::json!([{ "VerificationRejected": { "by": worker_id } }])))
    .bind(to)
    .fetch_all(pool)
    .await
}

impl Store {
    /// One task, if `visibility` lets the caller see it.
    pub async fn get(&self, id: Uuid, visibility: &Visibility) -> Result<Option<TaskRow>, StoreError> {
        let sql = format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1");
        let row: Option<TaskRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&self.pool).await?;
        Ok(row.filter(|r| visibility.sees(r)))
    }

    /// Up to `limit` tasks matching `filter`, newest first.
    pub async fn list(&self, filter: &TaskFilter, limit: i64) -> Result<Vec<TaskRow>, StoreError> {
        let sql = format!(
            "SELECT {TASK_COLUMNS} FROM tasks WHERE \
               ($1::text IS NULL OR department_id = $1) AND ($2::text IS NULL OR city = $2) \
               AND ($3::text IS NULL OR county = $3) AND ($4::text IS NULL OR township = $4) \
               AND ($5::text IS NULL OR village = $5) AND ($6::text[] IS NULL OR state = ANY($6)) \
               AND ($7::int2 IS NULL OR colour = $7) AND ($8::uuid IS NULL OR event_id = $8) \
               AND ($9::uuid IS NULL OR id < $9) AND ($11::text IS NULL OR grid_code = $11) \
             ORDER BY id DESC LIMIT $10"
        );
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(&filter.department_id)
            .bind(&filter.city)
            .bind(&filter.county)
            .bind(&filter.township)
            .bind(&filter.village)
            .bind(&filter.states)
            .bind(filter.colour)
            .bind(filter.event_id)
            .bind(filter.before_id)
            .bind(limit)
            .bind(&filter.grid_code)
            .fetch_all(&self.pool)
            .await?)
    }
}
