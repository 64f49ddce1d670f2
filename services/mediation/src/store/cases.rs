//! SQL on `cases`: writing a case (insert or update), locking it, reading it with its parties and
//! sessions, the listing filtered by what the caller may see, the warning job's claim of due
//! cases, mediators' open-case loads and the counts the metrics show.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{StoreError, parties, sessions};
use crate::cases::{Case, CaseRow};

/// Every column of `cases`, the amount as text.
const COLUMNS: &str = "id, case_number, source, dispute_type, facts, amount_nanos::text AS amount_nanos, city, county, \
    township, village, grid_code, risk, state, organisation_id, mediator_id, reason, transferred_to, external_reference, \
    task_id, task_department, event_id, tracking_number, opened_at, accepted_at, extension_days, agreement, \
    agreement_effective_at, confirmation, follow_ups, warnings_given, next_warning_at, deadline_at, version, updated_at, \
    closed_at";

/// Writes a case row: inserts a new case, or updates every column a change can touch (the
/// others never change after the insert).
pub async fn save(tx: &mut PgConnection, r: &CaseRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO cases (id, case_number, source, dispute_type, facts, amount_nanos, city, county, township, village, \
           grid_code, risk, state, organisation_id, mediator_id, reason, transferred_to, external_reference, task_id, \
           task_department, event_id, tracking_number, opened_at, accepted_at, extension_days, agreement, \
           agreement_effective_at, confirmation, follow_ups, warnings_given, next_warning_at, deadline_at, version, \
           updated_at, closed_at) \
         VALUES ($1, $2, $3, $4, $5, $6::numeric, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, \
           $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $34, $35) \
         ON CONFLICT (id) DO UPDATE SET facts = EXCLUDED.facts, amount_nanos = EXCLUDED.amount_nanos, \
           risk = EXCLUDED.risk, state = EXCLUDED.state, organisation_id = EXCLUDED.organisation_id, \
           mediator_id = EXCLUDED.mediator_id, reason = EXCLUDED.reason, transferred_to = EXCLUDED.transferred_to, \
           accepted_at = EXCLUDED.accepted_at, extension_days = EXCLUDED.extension_days, \
           agreement = EXCLUDED.agreement, agreement_effective_at = EXCLUDED.agreement_effective_at, \
           confirmation = EXCLUDED.confirmation, follow_ups = EXCLUDED.follow_ups, \
           warnings_given = EXCLUDED.warnings_given, next_warning_at = EXCLUDED.next_warning_at, \
           deadline_at = EXCLUDED.deadline_at, version = EXCLUDED.version, updated_at = EXCLUDED.updated_at, \
           closed_at = EXCLUDED.closed_at",
    )
    .bind(r.id)
    .bind(&r.case_number)
    .bind(r.source)
    .bind(r.dispute_type)
    .bind(&r.facts)
    .bind(&r.amount_nanos)
    .bind(&r.city)
    .bind(&r.county)
    .bind(&r.township)
    .bind(&r.village)
    .bind(&r.grid_code)
    .bind(r.risk)
    .bind(&r.state)
    .bind(&r.organisation_id)
    .bind(&r.mediator_id)
    .bind(&r.reason)
    .bind(r.transferred_to)
    .bind(&r.external_reference)
    .bind(r.task_id)
    .bind(&r.task_department)
    .bind(r.event_id)
    .bind(&r.tracking_number)
    .bind(r.opened_at)
    .bind(r.accepted_at)
    .bind(r.extension_days)
    .bind(&r.agreement)
    .bind(r.agreement_effective_at)
    .bind(&r.confirmation)
    .bind(&r.follow_ups)
    .bind(&r.warnings_given)
    .bind(r.next_warning_at)
    .bind(r.deadline_at)
    .bind(r.version)
    .bind(r.updated_at)
    .bind(r.closed_at)
    .execute(tx)
    .await?;
    Ok(())
}

/// Adds the parties and sessions of `rows`, in the rows' order.
pub async fn with_details<'c, E>(executor: E, rows: Vec<CaseRow>) -> Result<Vec<Case>, StoreError>
where
    E: sqlx::PgExecutor<'c> + Copy,
{
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut parties = parties::of_cases(executor, &ids).await?;
    let mut sessions = sessions::of_cases(executor, &ids).await?;
    Ok(rows
        .into_iter()
        .map(|row| Case {
            parties: parties.remove(&row.id).unwrap_or_default(),
            sessions: sessions.remove(&row.id).unwrap_or_default(),
            row,
        })
        .collect())
}

/// Locks case `id` for a change and reads it whole.
pub async fn lock(tx: &mut PgConnection, id: Uuid) -> Result<Option<Case>, StoreError> {
    let row: Option<CaseRow> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM cases WHERE id = $1 FOR UPDATE")))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(row) = row else { return Ok(None) };
    let ids = [row.id];
    let parties = parties::of_cases(&mut *tx, &ids).await?.remove(&row.id).unwrap_or_default();
    let sessions = sessions::of_cases(&mut *tx, &ids).await?.remove(&row.id).unwrap_or_default();
    Ok(Some(Case { row, parties, sessions }))
}

/// Case `id` with its parties and sessions.
pub async fn get(pool: &PgPool, id: Uuid) -> Result<Option<Case>, StoreError> {
    let row: Option<CaseRow> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM cases WHERE id = $1")))
            .bind(id)
            .fetch_optional(pool)
            .await?;
    Ok(match row {
        Some(row) => with_details(pool, vec![row]).await?.pop(),
        None => None,
    })
}

/// What a listing selects; every set field narrows it (AND).
#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    /// Only this mediator's cases.
    pub mediator_id: Option<String>,
    /// Only this organisation's cases.
    pub organisation_id: Option<String>,
    /// Only cases in this city …
    pub city: Option<String>,
    /// … county …
    pub county: Option<String>,
    /// … township …
    pub township: Option<String>,
    /// … village.
    pub village: Option<String>,
    /// Only these stored states.
    pub states: Option<Vec<String>>,
    /// Only this risk level.
    pub risk: Option<i16>,
    /// Only cases with a deadline passed at this instant.
    pub overdue_at: Option<DateTime<Utc>>,
    /// Only cases older than this id (the page token).
    pub before_id: Option<Uuid>,
}

impl CaseFilter {
    /// Narrows the filter to region `code` (any level); a bad code matches nothing.
    pub fn set_region(&mut self, code: &str) {
        use civicgrid_kit::region::{Level, level};
        let slot = match level(code) {
            Ok(Level::City) => &mut self.city,
            Ok(Level::County) => &mut self.county,
            Ok(Level::Township) => &mut self.township,
            Ok(Level::Village) => &mut self.village,
            Err(_) => &mut self.village,
        };
        *slot = Some(code.to_string());
    }
}

/// The cases of `filter`, newest first (UUIDv7 ids), at most `limit`, with their details.
pub async fn list(pool: &PgPool, f: &CaseFilter, limit: i64) -> Result<Vec<Case>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM cases WHERE ($1::text IS NULL OR mediator_id = $1) \
           AND ($2::text IS NULL OR organisation_id = $2) AND ($3::text IS NULL OR city = $3) \
           AND ($4::text IS NULL OR county = $4) AND ($5::text IS NULL OR township = $5) \
           AND ($6::text IS NULL OR village = $6) AND ($7::text[] IS NULL OR state = ANY($7)) \
           AND ($8::smallint IS NULL OR risk = $8) AND ($9::timestamptz IS NULL OR deadline_at <= $9) \
           AND ($10::uuid IS NULL OR id < $10) \
         ORDER BY id DESC LIMIT $11"
    );
    let rows: Vec<CaseRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(&f.mediator_id)
        .bind(&f.organisation_id)
        .bind(&f.city)
        .bind(&f.county)
        .bind(&f.township)
        .bind(&f.village)
        .bind(&f.states)
        .bind(f.risk)
        .bind(f.overdue_at)
        .bind(f.before_id)
        .bind(limit)
        .fetch_all(pool)
        .await?;
    with_details(pool, rows).await
}

/// Claims up to `limit` cases whose next warning is due at `now`, locked until the end of the
/// transaction; other replicas skip them.
pub async fn claim_warnings_due(
    tx: &mut PgConnection,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Case>, StoreError> {
    let rows: Vec<CaseRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM cases WHERE next_warning_at <= $1 ORDER BY next_warning_at LIMIT $2 \
         FOR UPDATE SKIP LOCKED"
    )))
    .bind(now)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut parties = parties::of_cases(&mut *tx, &ids).await?;
    Ok(rows
        .into_iter()
        .map(|row| Case { parties: parties.remove(&row.id).unwrap_or_default(), sessions: vec![], row })
        .collect())
}

/// Open (not final) cases per mediator; of one organisation, or of all when `None`.
pub async fn open_load<'c, E: sqlx::PgExecutor<'c>>(
    executor: E,
    organisation_id: Option<&str>,
) -> Result<HashMap<String, i64>, StoreError> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT mediator_id, count(*) FROM cases WHERE closed_at IS NULL AND mediator_id <> '' \
           AND ($1::text IS NULL OR organisation_id = $1) GROUP BY mediator_id",
    )
    .bind(organisation_id)
    .fetch_all(executor)
    .await?;
    Ok(rows.into_iter().collect())
}

/// Whether a case was opened from dispatch task `task_id` already.
pub async fn exists_for_task(tx: &mut PgConnection, task_id: Uuid) -> Result<bool, StoreError> {
    Ok(sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM cases WHERE task_id = $1)").bind(task_id).fetch_one(tx).await?)
}

/// Open (not final) cases by stored state.
pub async fn open_by_state(pool: &PgPool) -> Result<Vec<(String, i64)>, StoreError> {
    Ok(sqlx::query_as("SELECT state, count(*) FROM cases WHERE closed_at IS NULL GROUP BY state")
        .fetch_all(pool)
        .await?)
}

/// Open cases with a deadline passed at `now`.
pub async fn overdue(pool: &PgPool, now: DateTime<Utc>) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM cases WHERE closed_at IS NULL AND deadline_at <= $1")
        .bind(now)
        .fetch_one(pool)
        .await?)
}

/// The next case number of the day: `nextval('case_numbers')`.
pub async fn next_number(tx: &mut PgConnection) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar("SELECT nextval('case_numbers')").fetch_one(tx).await?)
}
