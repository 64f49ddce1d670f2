//! SQL on `positions`: the accepted fixes, one row per member and instant. A batch is written
//! with one multi-row `INSERT … SELECT FROM UNNEST`, and `ON CONFLICT DO NOTHING` makes a
//! redelivered fix change nothing.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection, PgExecutor};

use super::StoreError;

/// Accepted fixes waiting to be written, column by column.
#[derive(Debug, Default)]
pub struct NewPositions {
    member_ids: Vec<String>,
    ats: Vec<DateTime<Utc>>,
    device_ids: Vec<String>,
    lats: Vec<f64>,
    lngs: Vec<f64>,
    accuracies: Vec<f32>,
    speeds: Vec<f32>,
}

impl NewPositions {
    /// Adds a fix.
    #[allow(clippy::too_many_arguments)]
    pub fn push(&mut self, member: &str, at: DateTime<Utc>, device: &str, lat: f64, lng: f64, acc: f32, speed: f32) {
        self.member_ids.push(member.to_owned());
        self.ats.push(at);
        self.device_ids.push(device.to_owned());
        self.lats.push(lat);
        self.lngs.push(lng);
        self.accuracies.push(acc);
        self.speeds.push(speed);
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.ats.len()
    }

    /// Whether none.
    pub fn is_empty(&self) -> bool {
        self.ats.is_empty()
    }

    /// Writes them; returns how many were new.
    pub async fn insert(&self, tx: &mut PgConnection) -> Result<u64, StoreError> {
        if self.is_empty() {
            return Ok(0);
        }
        Ok(sqlx::query(
            "INSERT INTO positions (member_id, at, device_id, lat, lng, accuracy_m, speed_mps) \
             SELECT * FROM UNNEST($1::text[], $2::timestamptz[], $3::text[], $4::float8[], $5::float8[], $6::real[], $7::real[]) \
             ON CONFLICT (member_id, at) DO NOTHING",
        )
        .bind(&self.member_ids)
        .bind(&self.ats)
        .bind(&self.device_ids)
        .bind(&self.lats)
        .bind(&self.lngs)
        .bind(&self.accuracies)
        .bind(&self.speeds)
        .execute(tx)
        .await?
        .rows_affected())
    }
}

/// One stored fix.
#[derive(Debug, Clone, FromRow)]
pub struct PositionRow {
    pub member_id: String,
    pub at: DateTime<Utc>,
    pub lat: f64,
    pub lng: f64,
}

/// The last fix since `since` of each of `members` (the engine's state at start): one index
/// probe per member, whatever the table holds.
pub async fn last_fixes<'c>(
    ex: impl PgExecutor<'c>,
    members: &[String],
    since: DateTime<Utc>,
) -> Result<Vec<PositionRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT m.member_id, p.at, p.lat, p.lng FROM unnest($1::text[]) AS m(member_id) \
         CROSS JOIN LATERAL (SELECT at, lat, lng FROM positions WHERE member_id = m.member_id AND at >= $2 \
           ORDER BY at DESC LIMIT 1) p",
    )
    .bind(members)
    .bind(since)
    .fetch_all(ex)
    .await?)
}

/// The fixes of `members` in `[from, to]`, by member and time.
pub async fn of_members<'c>(
    ex: impl PgExecutor<'c>,
    members: &[String],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<PositionRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT member_id, at, lat, lng FROM positions WHERE member_id = ANY($1) AND at >= $2 AND at <= $3 \
         ORDER BY member_id, at",
    )
    .bind(members)
    .bind(from)
    .bind(to)
    .fetch_all(ex)
    .await?)
}

/// The fix times of `members` in `[from, to]`, by member and time (presence needs no more).
pub async fn times_of<'c>(
    ex: impl PgExecutor<'c>,
    members: &[String],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT member_id, at FROM positions WHERE member_id = ANY($1) AND at >= $2 AND at <= $3 ORDER BY member_id, at",
    )
    .bind(members)
    .bind(from)
    .bind(to)
    .fetch_all(ex)
    .await?)
}

/// Deletes up to `limit` fixes older than `before`; returns how many.
pub async fn delete_older<'c>(ex: impl PgExecutor<'c>, before: DateTime<Utc>, limit: i64) -> Result<u64, StoreError> {
    Ok(sqlx::query("DELETE FROM positions WHERE ctid = ANY(ARRAY(SELECT ctid FROM positions WHERE at < $1 LIMIT $2))")
        .bind(before)
        .bind(limit)
        .execute(ex)
        .await?
        .rows_affected())
}
