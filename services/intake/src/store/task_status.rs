//! The task-status consumer's writes: dispatch's task facts, recorded per task in `event_tasks`
//! (with the task's department, which decides what a department may read),
//! move the event's public status (with a `status_history` row), inside the consumer's
//! transaction.

use chrono::Utc;
use civicgrid_proto::v1::{EventStatus, TaskEvent, TaskStatus};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::status;

/// Applies one task fact of dispatch to the event's public status, inside the consumer's
/// transaction. Older facts of a task than the last applied one are ignored.
pub async fn apply_task_event(tx: &mut PgConnection, fact: &TaskEvent) -> Result<TaskApply, sqlx::Error> {
    let Ok(event_id) = Uuid::parse_str(&fact.event_id) else { return Ok(TaskApply::UnknownEvent) };
    let current: Option<i16> = sqlx::query_scalar("SELECT status FROM events WHERE id = $1 FOR UPDATE")
        .bind(event_id)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(current) = current else { return Ok(TaskApply::UnknownEvent) };
    let last: Option<i64> = sqlx::query_scalar("SELECT version FROM event_tasks WHERE event_id = $1 AND task_id = $2")
        .bind(event_id)
        .bind(&fact.task_id)
        .fetch_optional(&mut *tx)
        .await?;
    if !status::is_newer(fact.version, last) {
        return Ok(TaskApply::Stale);
    }
    let task_status = TaskStatus::try_from(fact.status).unwrap_or(TaskStatus::Unspecified);
    sqlx::query(
        "INSERT INTO event_tasks (event_id, task_id, version, status, lead, department_id) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (event_id, task_id) DO UPDATE SET version = EXCLUDED.version, status = EXCLUDED.status, \
         lead = EXCLUDED.lead, department_id = EXCLUDED.department_id",
    )
    .bind(event_id)
    .bind(&fact.task_id)
    .bind(fact.version)
    .bind(task_status as i16)
    .bind(fact.lead)
    .bind(&fact.department_id)
    .execute(&mut *tx)
    .await?;
    // Whether another task is the lead: the lead task decides the public status.
    let other_lead: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM event_tasks WHERE event_id = $1 AND lead AND task_id <> $2)")
            .bind(event_id)
            .bind(&fact.task_id)
            .fetch_one(&mut *tx)
            .await?;
    let current = EventStatus::try_from(current as i32).unwrap_or(EventStatus::Unspecified);
    let Some(change) = status::change(current, task_status, fact.lead, other_lead) else {
        return Ok(TaskApply::Applied);
    };
    let at = fact.occurred_at.as_ref().and_then(civicgrid_kit::time::from_proto).unwrap_or_else(Utc::now);
    // A new outcome round may be rated once by the reporter (migrations/0003_ratings.sql).
    sqlx::query(
        "UPDATE events SET status = $2, version = version + 1, outcome_round = outcome_round + $3 WHERE id = $1",
    )
    .bind(event_id)
    .bind(change.to as i16)
    .bind(i32::from(change.new_round))
    .execute(&mut *tx)
    .await?;
    sqlx::query("INSERT INTO status_history (event_id, status, fact, task_id, department_id, at) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(event_id)
        .bind(change.to as i16)
        .bind(&fact.fact)
        .bind(&fact.task_id)
        .bind(&fact.department_id)
        .bind(at)
        .execute(&mut *tx)
        .await?;
    Ok(TaskApply::Applied)
}

/// What [`apply_task_event`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum TaskApply {
    /// Recorded (the public status may or may not have changed).
    Applied,
    /// Older than what was applied; ignored.
    Stale,
    /// No such event in intake.
    UnknownEvent,
}
