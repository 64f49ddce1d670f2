//! SQL on `shifts`: one row per shift, with the plan it walks and its progress as JSON, the
//! next instant it needs attention (`next_due_at`, indexed) and its flags.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection, PgExecutor, types::Json};
use uuid::Uuid;

use super::StoreError;
use crate::{convert::Plan, domain::route::TourState};

/// Scheduled, not started.
pub const SCHEDULED: &str = "scheduled";
/// Started.
pub const ACTIVE: &str = "active";
/// Ended.
pub const ENDED: &str = "ended";
/// Cancelled before it started.
pub const CANCELLED: &str = "cancelled";

/// A `shifts` row.
#[derive(Debug, Clone, FromRow)]
pub struct ShiftRow {
    pub id: Uuid,
    pub team_id: String,
    pub route_id: String,
    pub region_code: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub state: String,
    pub route_version: i64,
    pub started_at: Option<DateTime<Utc>>,
    pub started_by: String,
    pub ended_at: Option<DateTime<Utc>>,
    pub tour_due_at: Option<DateTime<Utc>>,
    pub tour_complete: bool,
    pub late: bool,
    pub missed: i32,
    pub reason: String,
    pub plan: Option<Json<Plan>>,
    pub tour: Option<Json<TourState>>,
    pub offline: Vec<String>,
    pub next_due_at: Option<DateTime<Utc>>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, team_id, route_id, region_code, starts_at, ends_at, state, route_version, started_at, \
    started_by, ended_at, tour_due_at, tour_complete, late, missed, reason, plan, tour, offline, next_due_at, version, \
    created_at";

/// Writes a shift: inserts a new one or replaces every mutable column.
pub async fn save(tx: &mut PgConnection, s: &ShiftRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO shifts (id, team_id, route_id, region_code, starts_at, ends_at, state, route_version, started_at, \
           started_by, ended_at, tour_due_at, tour_complete, late, missed, reason, plan, tour, offline, next_due_at, \
           version, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22) \
         ON CONFLICT (id) DO UPDATE SET state = EXCLUDED.state, route_version = EXCLUDED.route_version, \
           started_at = EXCLUDED.started_at, started_by = EXCLUDED.started_by, ended_at = EXCLUDED.ended_at, \
           tour_due_at = EXCLUDED.tour_due_at, tour_complete = EXCLUDED.tour_complete, late = EXCLUDED.late, \
           missed = EXCLUDED.missed, reason = EXCLUDED.reason, plan = EXCLUDED.plan, tour = EXCLUDED.tour, \
           offline = EXCLUDED.offline, next_due_at = EXCLUDED.next_due_at, version = EXCLUDED.version",
    )
    .bind(s.id)
    .bind(&s.team_id)
    .bind(&s.route_id)
    .bind(&s.region_code)
    .bind(s.starts_at)
    .bind(s.ends_at)
    .bind(&s.state)
    .bind(s.route_version)
    .bind(s.started_at)
    .bind(&s.started_by)
    .bind(s.ended_at)
    .bind(s.tour_due_at)
    .bind(s.tour_complete)
    .bind(s.late)
    .bind(s.missed)
    .bind(&s.reason)
    .bind(&s.plan)
    .bind(&s.tour)
    .bind(&s.offline)
    .bind(s.next_due_at)
    .bind(s.version)
    .bind(s.created_at)
    .execute(tx)
    .await?;
    Ok(())
}

/// Writes the progress of several active shifts in one statement (an ingest batch).
pub async fn save_progress(tx: &mut PgConnection, rows: &[&ShiftRow]) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let tours: Vec<Option<&Json<TourState>>> = rows.iter().map(|r| r.tour.as_ref()).collect();
    let complete: Vec<bool> = rows.iter().map(|r| r.tour_complete).collect();
    let due: Vec<Option<DateTime<Utc>>> = rows.iter().map(|r| r.next_due_at).collect();
    let versions: Vec<i64> = rows.iter().map(|r| r.version).collect();
    let offline: Vec<Json<&Vec<String>>> = rows.iter().map(|r| Json(&r.offline)).collect();
    sqlx::query(
        "UPDATE shifts s SET tour = u.tour, tour_complete = u.complete, next_due_at = u.due, version = u.version, \
           offline = ARRAY(SELECT jsonb_array_elements_text(u.offline)) \
         FROM UNNEST($1::uuid[], $2::jsonb[], $3::bool[], $4::timestamptz[], $5::bigint[], $6::jsonb[]) \
           AS u(id, tour, complete, due, version, offline) \
         WHERE s.id = u.id",
    )
    .bind(&ids)
    .bind(&tours)
    .bind(&complete)
    .bind(&due)
    .bind(&versions)
    .bind(&offline)
    .execute(tx)
    .await?;
    Ok(())
}

/// Shift `id`, locked for the transaction.
pub async fn lock(tx: &mut PgConnection, id: Uuid) -> Result<Option<ShiftRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM shifts WHERE id = $1 FOR UPDATE")))
        .bind(id)
        .fetch_optional(tx)
        .await?)
}

/// Shift `id`.
pub async fn get<'c>(ex: impl PgExecutor<'c>, id: Uuid) -> Result<Option<ShiftRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM shifts WHERE id = $1")))
        .bind(id)
        .fetch_optional(ex)
        .await?)
}

/// Every active shift (the engine keeps them in memory).
pub async fn active<'c>(ex: impl PgExecutor<'c>) -> Result<Vec<ShiftRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM shifts WHERE state = 'active'")))
        .fetch_all(ex)
        .await?)
}

/// What a listing of shifts filters by.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// `LIKE` prefix of the route's region.
    pub region_prefix: String,
    /// Only this team's (empty: any).
    pub team_id: String,
    /// Only these teams' (`None`: any) — a member sees their teams' shifts.
    pub teams: Option<Vec<String>>,
    /// Only these states (empty: any).
    pub states: Vec<String>,
    /// Window overlapping `[from, to)`.
    pub from: Option<DateTime<Utc>>,
    /// …
    pub to: Option<DateTime<Utc>>,
    /// Only with a miss or a late tour.
    pub alarms_only: bool,
}

/// Shifts matching `f`, latest start first, after the shift `after` (its start and id).
pub async fn list<'c>(
    ex: impl PgExecutor<'c>,
    f: &Filter,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<ShiftRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM shifts WHERE region_code LIKE $1 AND ($2 = '' OR team_id = $2) \
           AND ($3::text[] IS NULL OR team_id = ANY($3)) AND (cardinality($4::text[]) = 0 OR state = ANY($4)) \
           AND ($5::timestamptz IS NULL OR ends_at > $5) AND ($6::timestamptz IS NULL OR starts_at < $6) \
           AND (NOT $7 OR missed > 0 OR late) \
           AND ($8::timestamptz IS NULL OR (starts_at, id) < ($8, $9)) \
         ORDER BY starts_at DESC, id DESC LIMIT $10"
    )))
    .bind(&f.region_prefix)
    .bind(&f.team_id)
    .bind(&f.teams)
    .bind(&f.states)
    .bind(f.from)
    .bind(f.to)
    .bind(f.alarms_only)
    .bind(after.map(|a| a.0))
    .bind(after.map(|a| a.1))
    .bind(limit)
    .fetch_all(ex)
    .await?)
}

/// Started shifts whose start lies in `[from, to)` and whose route's region starts with
/// `prefix` (coverage).
pub async fn started_between<'c>(
    ex: impl PgExecutor<'c>,
    prefix: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<ShiftRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM shifts WHERE region_code LIKE $1 AND started_at >= $2 AND started_at < $3 \
           AND state IN ('active', 'ended') ORDER BY started_at, id"
    )))
    .bind(prefix)
    .bind(from)
    .bind(to)
    .fetch_all(ex)
    .await?)
}
