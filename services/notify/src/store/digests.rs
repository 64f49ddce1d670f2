//! Digest deliveries: the due digest members grouped by recipient, channel and endpoint, the
//! digest delivery of a group, and taking the group's members into it (`deliveries.digest_id`).

use chrono::{DateTime, Utc};
use civicgrid_proto::v1::RegionPath;
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

use super::{StoreError, region_of};

/// A group of due digest members: one recipient, channel and endpoint.
#[derive(Debug, Clone)]
pub(crate) struct DigestGroup {
    pub recipient: String,
    pub channel: i16,
    pub endpoint: Option<Uuid>,
    /// The region of its first member.
    pub region: RegionPath,
}

/// Up to 200 groups of digest members due at `now`.
pub(crate) async fn due_groups(pool: &PgPool, now: DateTime<Utc>) -> Result<Vec<DigestGroup>, StoreError> {
    let groups = sqlx::query(
        "SELECT recipient, channel, endpoint_id, (array_agg(city ORDER BY id))[1] AS city, \
           (array_agg(county ORDER BY id))[1] AS county, (array_agg(township ORDER BY id))[1] AS township, \
           (array_agg(village ORDER BY id))[1] AS village \
         FROM deliveries WHERE status = 3 AND next_attempt_at <= $1 \
         GROUP BY recipient, channel, endpoint_id LIMIT 200",
    )
    .bind(now)
    .fetch_all(pool)
    .await?;
    Ok(groups
        .iter()
        .map(|g| DigestGroup {
            recipient: g.get("recipient"),
            channel: g.get("channel"),
            endpoint: g.get("endpoint_id"),
            region: region_of(g),
        })
        .collect())
}

/// Writes digest delivery `digest` for `group`, due at once (`now`), with no members yet.
pub(crate) async fn insert(
    tx: &mut PgConnection,
    digest: Uuid,
    group: &DigestGroup,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO deliveries (id, recipient, channel, endpoint_id, status, fact, next_attempt_at, created_at, \
           digest_size, city, county, township, village) \
         VALUES ($1, $2, $3, $4, 1, 'digest', $5, $5, 0, $6, $7, $8, $9)",
    )
    .bind(digest)
    .bind(&group.recipient)
    .bind(group.channel)
    .bind(group.endpoint)
    .bind(now)
    .bind(&group.region.city)
    .bind(&group.region.county)
    .bind(&group.region.township)
    .bind(&group.region.village)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Makes the members of `group` due at `now` members of `digest`; returns how many it took (0
/// when another replica took them first).
pub(crate) async fn take_members(
    tx: &mut PgConnection,
    digest: Uuid,
    group: &DigestGroup,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    Ok(sqlx::query(
        "UPDATE deliveries SET status = 6, digest_id = $1 \
         WHERE status = 3 AND next_attempt_at <= $2 AND recipient = $3 AND channel = $4 \
           AND endpoint_id IS NOT DISTINCT FROM $5",
    )
    .bind(digest)
    .bind(now)
    .bind(&group.recipient)
    .bind(group.channel)
    .bind(group.endpoint)
    .execute(&mut *tx)
    .await?
    .rows_affected())
}

/// Sets the member count of digest delivery `digest`.
pub(crate) async fn set_size(tx: &mut PgConnection, digest: Uuid, size: i32) -> Result<(), StoreError> {
    sqlx::query("UPDATE deliveries SET digest_size = $2 WHERE id = $1")
        .bind(digest)
        .bind(size)
        .execute(&mut *tx)
        .await?;
    Ok(())
}
