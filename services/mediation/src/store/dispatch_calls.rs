//! SQL on `dispatch_calls`: the calls that keep the dispatch task of a case in step (sign for it
//! on acceptance, resolve it on an outcome), written in the case's transaction and made by the
//! dispatch link until dispatch answers.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use super::StoreError;

/// `SignFor` on dispatch.
pub const SIGN_FOR: &str = "sign_for";
/// `Resolve` on dispatch.
pub const RESOLVE: &str = "resolve";

/// A call to make.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCall {
    /// The case.
    pub case_id: Uuid,
    /// The dispatch task.
    pub task_id: Uuid,
    /// The task's department (the justice office the link acts as).
    pub department: String,
    /// [`SIGN_FOR`] or [`RESOLVE`].
    pub action: &'static str,
    /// For a resolve: the result text.
    pub result: String,
    /// When it was written (and is first due).
    pub at: DateTime<Utc>,
}

/// A `dispatch_calls` row waiting to be made.
#[derive(Debug, Clone, FromRow)]
pub struct CallRow {
    pub id: Uuid,
    pub case_id: Uuid,
    pub task_id: Uuid,
    pub department: String,
    pub action: String,
    pub request_id: String,
    pub result: String,
    pub attempts: i32,
}

/// Inserts `calls`, each with a stable request id of its own (`mediation-<call id>`), so a
/// retried call is the same call to dispatch.
pub async fn insert(tx: &mut PgConnection, calls: &[NewCall]) -> Result<(), StoreError> {
    if calls.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = calls.iter().map(|_| Uuid::now_v7()).collect();
    sqlx::query(
        "INSERT INTO dispatch_calls (id, case_id, task_id, department, action, request_id, result, due_at, created_at) \
         SELECT c.id, c.case_id, c.task_id, c.department, c.action, 'mediation-' || replace(c.id::text, '-', ''), \
           c.result, c.at, c.at \
         FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::timestamptz[]) \
           WITH ORDINALITY AS c(id, case_id, task_id, department, action, result, at, n) \
         ORDER BY c.n",
    )
    .bind(&ids)
    .bind(calls.iter().map(|c| c.case_id).collect::<Vec<_>>())
    .bind(calls.iter().map(|c| c.task_id).collect::<Vec<_>>())
    .bind(calls.iter().map(|c| c.department.clone()).collect::<Vec<_>>())
    .bind(calls.iter().map(|c| c.action.to_string()).collect::<Vec<_>>())
    .bind(calls.iter().map(|c| c.result.clone()).collect::<Vec<_>>())
    .bind(calls.iter().map(|c| c.at).collect::<Vec<_>>())
    .execute(tx)
    .await?;
    Ok(())
}

/// Claims up to `limit` calls due at `now`, in the order they were written, locked until the
/// end of the transaction; other replicas skip them.
pub async fn claim_due(tx: &mut PgConnection, now: DateTime<Utc>, limit: i64) -> Result<Vec<CallRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, case_id, task_id, department, action, request_id, result, attempts FROM dispatch_calls \
         WHERE done_at IS NULL AND due_at <= $1 ORDER BY due_at, seq LIMIT $2 FOR UPDATE SKIP LOCKED",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(tx)
    .await?)
}

/// Marks a call done (`note` says how it ended when not plainly).
pub async fn done(tx: &mut PgConnection, id: Uuid, at: DateTime<Utc>, note: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE dispatch_calls SET done_at = $2, attempts = attempts + 1, last_error = $3 WHERE id = $1")
        .bind(id)
        .bind(at)
        .bind(note)
        .execute(tx)
        .await?;
    Ok(())
}

/// Puts a failed call off until `due_at`.
pub async fn retry_at(tx: &mut PgConnection, id: Uuid, due_at: DateTime<Utc>, error: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE dispatch_calls SET due_at = $2, attempts = attempts + 1, last_error = $3 WHERE id = $1")
        .bind(id)
        .bind(due_at)
        .bind(error)
        .execute(tx)
        .await?;
    Ok(())
}
