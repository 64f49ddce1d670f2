//! SQL on `check_ins`: one row per checkpoint checked in on a shift (by position or by hand,
//! with the scanned code or photo as evidence).

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use super::StoreError;

/// Check-ins waiting to be written, column by column.
#[derive(Debug, Default)]
pub struct NewCheckIns {
    shifts: Vec<Uuid>,
    checkpoints: Vec<String>,
    members: Vec<String>,
    ats: Vec<DateTime<Utc>>,
    methods: Vec<i32>,
    evidence: Vec<String>,
}

impl NewCheckIns {
    /// Adds one.
    pub fn push(
        &mut self,
        shift: Uuid,
        checkpoint: &str,
        member: &str,
        at: DateTime<Utc>,
        method: i32,
        evidence: &str,
    ) {
        self.shifts.push(shift);
        self.checkpoints.push(checkpoint.to_owned());
        self.members.push(member.to_owned());
        self.ats.push(at);
        self.methods.push(method);
        self.evidence.push(evidence.to_owned());
    }

    /// Writes them (a checkpoint already checked in keeps its first).
    pub async fn insert(&self, tx: &mut PgConnection) -> Result<(), StoreError> {
        if self.shifts.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO check_ins (shift_id, checkpoint_id, member_id, at, method, evidence) \
             SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::int[], $6::text[]) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&self.shifts)
        .bind(&self.checkpoints)
        .bind(&self.members)
        .bind(&self.ats)
        .bind(&self.methods)
        .bind(&self.evidence)
        .execute(tx)
        .await?;
        Ok(())
    }
}

/// How many check-ins shift `shift` has (tests and reports).
pub async fn count<'c>(ex: impl PgExecutor<'c>, shift: Uuid) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM check_ins WHERE shift_id = $1").bind(shift).fetch_one(ex).await?)
}

/// The method of every check-in of `shifts`, by shift and checkpoint.
pub async fn methods<'c>(
    ex: impl PgExecutor<'c>,
    shifts: &[Uuid],
) -> Result<std::collections::HashMap<(Uuid, String), i32>, StoreError> {
    let rows: Vec<(Uuid, String, i32)> =
        sqlx::query_as("SELECT shift_id, checkpoint_id, method FROM check_ins WHERE shift_id = ANY($1)")
            .bind(shifts)
            .fetch_all(ex)
            .await?;
    Ok(rows.into_iter().map(|(s, c, m)| ((s, c), m)).collect())
}
