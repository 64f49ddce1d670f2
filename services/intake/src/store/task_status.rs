//! The task-status consumer's writes: dispatch's task facts, recorded per task in `event_tasks`
//! (with the task's department, which decides what a department may read),
//! move the event's public status (with a `status_history` row), inside the consumer's
//! transaction.

use std::collections::HashMap;

use chrono::Utc;
use civicgrid_proto::v1::{EventStatus, TaskEvent, TaskStatus};
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::domain::{
    status,
    task_batch::{self, EventState, TaskFact},
};

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

/// Applies a batch of task facts, in order, with the same effect as [`apply_task_event`] on
/// each: the events' rows locked (in id order) and read with their tasks, the outcome computed
/// in memory ([`task_batch::plan`]), then one statement per table. Returns how many facts were
/// stale, or `None` (nothing written) when an event is unknown or an id is not a UUID: the
/// caller then applies the facts one by one, which names the bad one.
///
/// The reads look each event up on its own, and they and the update are not prepared (planned
/// at every execution): a plan cached while `events` was nearly empty would scan it whole until
/// the first ANALYZE.
pub async fn apply_task_events(tx: &mut PgConnection, facts: &[TaskEvent]) -> Result<Option<usize>, sqlx::Error> {
    let mut decoded = Vec::with_capacity(facts.len());
    for f in facts {
        let Ok(event_id) = Uuid::parse_str(&f.event_id) else { return Ok(None) };
        decoded.push(TaskFact {
            event_id,
            task_id: f.task_id.clone(),
            version: f.version,
            status: TaskStatus::try_from(f.status).unwrap_or(TaskStatus::Unspecified),
            lead: f.lead,
            department_id: f.department_id.clone(),
            fact: f.fact.clone(),
            at: f.occurred_at.as_ref().and_then(civicgrid_kit::time::from_proto).unwrap_or_else(Utc::now),
        });
    }
    let mut ids: Vec<Uuid> = decoded.iter().map(|f| f.event_id).collect();
    ids.sort();
    ids.dedup();
    let mut states: HashMap<Uuid, EventState> = HashMap::with_capacity(ids.len());
    // One index lookup per id (a lateral), in id order, whatever the planner thinks of the
    // table's size.
    for row in sqlx::query(
        "SELECT e.id, e.status FROM unnest($1::uuid[]) AS k(id) \
         CROSS JOIN LATERAL (SELECT id, status FROM events WHERE id = k.id FOR UPDATE) AS e",
    )
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await?
    {
        let status = EventStatus::try_from(row.get::<i16, _>("status") as i32).unwrap_or(EventStatus::Unspecified);
        states.insert(row.get("id"), EventState { status, tasks: HashMap::new() });
    }
    if states.len() != ids.len() {
        return Ok(None);
    }
    // OFFSET 0 keeps the lateral a lateral: the planner would otherwise make it a join and,
    // before the first ANALYZE, hash the whole table for it.
    for row in sqlx::query(
        "SELECT t.event_id, t.task_id, t.version, t.lead FROM unnest($1::uuid[]) AS k(id) \
         CROSS JOIN LATERAL (SELECT * FROM event_tasks WHERE event_id = k.id OFFSET 0) AS t",
    )
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await?
    {
        if let Some(state) = states.get_mut(&row.get::<Uuid, _>("event_id")) {
            state.tasks.insert(row.get("task_id"), (row.get("version"), row.get("lead")));
        }
    }
    let plan = task_batch::plan(states, &decoded);
    write_plan(tx, &plan).await?;
    Ok(Some(plan.stale))
}

/// Writes a batch's [`task_batch::Plan`]: one statement per table, none for an empty part.
async fn write_plan(tx: &mut PgConnection, plan: &task_batch::Plan) -> Result<(), sqlx::Error> {
    if !plan.tasks.is_empty() {
        let t = &plan.tasks;
        sqlx::query(
            "INSERT INTO event_tasks (event_id, task_id, version, status, lead, department_id) \
             SELECT * FROM unnest($1::uuid[], $2::text[], $3::int8[], $4::int2[], $5::bool[], $6::text[]) \
             ON CONFLICT (event_id, task_id) DO UPDATE SET version = EXCLUDED.version, status = EXCLUDED.status, \
             lead = EXCLUDED.lead, department_id = EXCLUDED.department_id",
        )
        .bind(t.iter().map(|r| r.event_id).collect::<Vec<_>>())
        .bind(t.iter().map(|r| r.task_id.clone()).collect::<Vec<_>>())
        .bind(t.iter().map(|r| r.version).collect::<Vec<_>>())
        .bind(t.iter().map(|r| r.status as i16).collect::<Vec<_>>())
        .bind(t.iter().map(|r| r.lead).collect::<Vec<_>>())
        .bind(t.iter().map(|r| r.department_id.clone()).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
    }
    if !plan.events.is_empty() {
        let e = &plan.events;
        // A new outcome round may be rated once by the reporter (migrations/0003_ratings.sql).
        sqlx::query(
            "UPDATE events e SET status = u.status, version = e.version + u.changes, \
               outcome_round = e.outcome_round + u.rounds \
             FROM unnest($1::uuid[], $2::int2[], $3::int8[], $4::int4[]) AS u(id, status, changes, rounds) \
             WHERE e.id = u.id",
        )
        .persistent(false)
        .bind(e.iter().map(|c| c.event_id).collect::<Vec<_>>())
        .bind(e.iter().map(|c| c.status as i16).collect::<Vec<_>>())
        .bind(e.iter().map(|c| c.changes).collect::<Vec<_>>())
        .bind(e.iter().map(|c| c.new_rounds).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
    }
    if !plan.history.is_empty() {
        let h = &plan.history;
        // In the order the changes happened: `seq` numbers them.
        sqlx::query(
            "INSERT INTO status_history (event_id, status, fact, task_id, department_id, at) \
             SELECT event_id, status, fact, task_id, department_id, at \
             FROM unnest($1::uuid[], $2::int2[], $3::text[], $4::text[], $5::text[], $6::timestamptz[]) \
               WITH ORDINALITY AS h(event_id, status, fact, task_id, department_id, at, n) ORDER BY n",
        )
        .bind(h.iter().map(|r| r.event_id).collect::<Vec<_>>())
        .bind(h.iter().map(|r| r.status as i16).collect::<Vec<_>>())
        .bind(h.iter().map(|r| r.fact.clone()).collect::<Vec<_>>())
        .bind(h.iter().map(|r| r.task_id.clone()).collect::<Vec<_>>())
        .bind(h.iter().map(|r| r.department_id.clone()).collect::<Vec<_>>())
        .bind(h.iter().map(|r| r.at).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}
