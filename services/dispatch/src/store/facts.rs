//! SQL on `task_facts`, the record of every change to a task (audit and assessment): rows
//! collected column by column and written in one statement, the escalations already recorded,
//! the facts assessment folds, and counts by fact.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use civicgrid_proto::v1::{Actor, Role};
use sqlx::{PgConnection, PgPool, types::Json};
use uuid::Uuid;

use super::StoreError;
use crate::domain::kpi::RecordedFact;

/// `task_facts` rows waiting to be written, column by column.
#[derive(Default)]
pub(crate) struct FactColumns {
    task_id: Vec<Uuid>,
    fact: Vec<String>,
    recorded: Vec<Json<Vec<RecordedFact>>>,
    actor: Vec<Json<serde_json::Value>>,
    reason: Vec<String>,
    version: Vec<i64>,
    at: Vec<DateTime<Utc>>,
}

impl FactColumns {
    /// Adds a row: fact `fact` of task `task_id` at `version`, by `actor`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn push(
        &mut self,
        task_id: Uuid,
        fact: &str,
        recorded: &[RecordedFact],
        actor: &Actor,
        reason: &str,
        version: i64,
        at: DateTime<Utc>,
    ) {
        let actor_json = serde_json::json!({
            "subject": actor.subject, "role": Role::try_from(actor.role).map(|r| r.as_str_name()).unwrap_or("ROLE_UNSPECIFIED"),
            "department_id": actor.department_id, "region_scope": actor.region_scope,
        });
        self.task_id.push(task_id);
        self.fact.push(fact.to_string());
        self.recorded.push(Json(recorded.to_vec()));
        self.actor.push(Json(actor_json));
        self.reason.push(reason.to_string());
        self.version.push(version);
        self.at.push(at);
    }

    /// Whether a fact `fact` with `reason` about `task_id` waits to be written.
    pub(crate) fn has(&self, task_id: Uuid, fact: &str, reason: &str) -> bool {
        (0..self.task_id.len()).any(|i| self.task_id[i] == task_id && self.fact[i] == fact && self.reason[i] == reason)
    }

    /// Writes the rows waiting, in one statement, and forgets them.
    pub(crate) async fn insert(&mut self, tx: &mut PgConnection) -> Result<(), sqlx::Error> {
        if self.task_id.is_empty() {
            return Ok(());
        }
        // In the order recorded (`seq` orders a task's facts for assessment).
        sqlx::query(
            "INSERT INTO task_facts (task_id, fact, recorded, actor, reason, version, at) \
             SELECT task_id, fact, recorded, actor, reason, version, at FROM unnest($1::uuid[], $2::text[], \
               $3::jsonb[], $4::jsonb[], $5::text[], $6::int8[], $7::timestamptz[]) \
               WITH ORDINALITY AS f(task_id, fact, recorded, actor, reason, version, at, n) ORDER BY n",
        )
        .bind(&self.task_id)
        .bind(&self.fact)
        .bind(&self.recorded)
        .bind(&self.actor)
        .bind(&self.reason)
        .bind(&self.version)
        .bind(&self.at)
        .execute(tx)
        .await?;
        *self = FactColumns::default();
        Ok(())
    }
}

/// Whether task `task_id` has escalated for `reason` before.
pub(crate) async fn escalated_for(tx: &mut PgConnection, task_id: Uuid, reason: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM task_facts WHERE task_id = $1 AND fact = 'task-escalated' AND reason = $2)",
    )
    .bind(task_id)
    .bind(reason)
    .fetch_one(tx)
    .await
}

/// The (task, reason) pairs of the escalations recorded for `task_ids`, in one query.
pub(crate) async fn escalations_of(
    tx: &mut PgConnection,
    task_ids: &[Uuid],
) -> Result<HashSet<(Uuid, String)>, sqlx::Error> {
    Ok(sqlx::query_as::<_, (Uuid, String)>(
        "SELECT DISTINCT task_id, reason FROM task_facts WHERE task_id = ANY($1) AND fact = 'task-escalated'",
    )
    .bind(task_ids)
    .fetch_all(tx)
    .await?
    .into_iter()
    .collect())
}

/// The recorded facts of `task_ids` dated before `to`: (task, facts, when), each task's in the
/// order recorded.
pub(crate) async fn recorded_before(
    pool: &PgPool,
    task_ids: &[Uuid],
    to: DateTime<Utc>,
) -> Result<Vec<(Uuid, Json<Vec<RecordedFact>>, DateTime<Utc>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT task_id, recorded, at FROM task_facts WHERE task_id = ANY($1) AND at < $2 ORDER BY task_id, seq",
    )
    .bind(task_ids)
    .bind(to)
    .fetch_all(pool)
    .await
}

/// How many facts of each name (`task-warning`, `task-escalated` …) are recorded. The
/// benchmark takes the difference over a phase to count what the ticker did.
pub async fn counts_by_fact(pool: &PgPool) -> Result<BTreeMap<String, i64>, StoreError> {
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT fact, count(*) FROM task_facts GROUP BY fact").fetch_all(pool).await?;
    Ok(rows.into_iter().collect())
}
