//! Deliveries (`deliveries`) and their attempts (`delivery_attempts`): writing a new
//! notification's deliveries, the queue (claims under a lease, outcomes recorded only by the
//! claim that holds them), the inbox deliveries an acknowledgement settles, the deliveries a
//! removed endpoint fails, and the listing. An inbox delivery has no row: it is read from its
//! notification (`domain/notices.rs`). Digest deliveries are formed in `store/digests.rs`.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use civicgrid_kit::time::{from_proto, to_proto};
use civicgrid_proto::v1::{self as pb, Channel, DeliveryStatus, NotifyEvent, RegionPath};
use sqlx::{PgConnection, PgPool, Row, postgres::PgRow};
use uuid::Uuid;

use super::{Store, StoreError, channel_of, endpoints::Endpoint, region_of, status_of};
use crate::{
    domain::{
        facts::Fact,
        notices::{INBOX_ATTEMPTS, NOT_ACKNOWLEDGED, NewDelivery},
    },
    handoff::Held,
};

/// A claimed delivery, with what is needed to send it.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// The delivery id.
    pub id: Uuid,
    /// The recipient.
    pub recipient: String,
    /// The channel.
    pub channel: Channel,
    /// The webhook endpoint.
    pub endpoint: Option<Endpoint>,
    /// Attempts made before this one.
    pub attempts: i32,
    /// The notifications it carries: one, or a digest's members.
    pub notifications: Vec<pb::Notification>,
    /// True for a digest delivery.
    pub digest: bool,
    /// The fact (for the published event).
    pub fact: String,
    /// The region (for the published event's subject).
    pub region: RegionPath,
    /// For SMS: the recipient's phone, unsealed.
    pub phone: Option<String>,
    /// Why it cannot be sent at all (a secret or phone that does not unseal): given up at once
    /// instead of holding up the queue.
    pub problem: Option<String>,
    /// The trace of the fact behind it: the call is made in a span that is its child.
    pub traceparent: Option<String>,
}

/// What happened to a claimed delivery.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The delivery.
    pub id: Uuid,
    /// Its new status.
    pub status: DeliveryStatus,
    /// The attempt count after this attempt.
    pub attempts: i32,
    /// The next attempt, when pending.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The attempt to record; `None` when nothing was sent (held by an open circuit).
    pub attempt: Option<pb::DeliveryAttempt>,
    /// The last error; empty on success.
    pub error: String,
    /// The notify fact to publish, for delivered and failed deliveries.
    pub publish: Option<NotifyEvent>,
    /// The region of the published fact.
    pub region: RegionPath,
    /// The span of the attempt, if one was made: the published fact is made in it.
    pub span: tracing::Span,
}

/// A delivery's own row: what the queue claims (before what it carries is read), and what a
/// `notify-delivered` or `notify-failed` fact about it names.
#[derive(Debug, Clone)]
pub(crate) struct DeliveryRow {
    pub id: Uuid,
    /// `None` for a digest.
    pub notification_id: Option<Uuid>,
    pub recipient: String,
    pub channel: Channel,
    pub endpoint_id: Option<Uuid>,
    /// Attempts made so far.
    pub attempts: i32,
    /// True for a digest delivery (its members point at it).
    pub digest: bool,
    /// The fact name behind it (`digest` for a digest).
    pub fact: String,
    /// The ce-id of the fact behind its notification; empty for a digest, and for a claim (the
    /// worker reads it from the notification).
    pub source_event_id: String,
    pub region: RegionPath,
    /// The trace of the fact behind it (`Fact::traceparent`), read by a claim only.
    pub traceparent: Option<String>,
}

impl DeliveryRow {
    /// The row of `d`, a new delivery of a notification about `fact`, as written.
    pub(crate) fn written(d: &NewDelivery, fact: &Fact) -> Self {
        DeliveryRow {
            id: d.id,
            notification_id: Some(d.notification_id),
            recipient: d.recipient.clone(),
            channel: d.channel,
            endpoint_id: d.endpoint_id,
            attempts: 0,
            digest: false,
            fact: fact.fact.clone(),
            source_event_id: String::new(),
            region: fact.region.clone(),
            traceparent: fact.traceparent.clone(),
        }
    }
}

/// Writes the pushed `deliveries` (of notifications about `facts`, by index) created at `now`;
/// those in `held` are written claimed for the worker, as [`claim`] would leave them
/// (`crate::handoff`). No statement for none (a notification only in the inbox).
pub(crate) async fn insert(
    tx: &mut PgConnection,
    deliveries: &[NewDelivery],
    facts: &[Fact],
    now: DateTime<Utc>,
    held: &Held,
) -> Result<(), StoreError> {
    if deliveries.is_empty() {
        return Ok(());
    }
    let fact_of = |d: &NewDelivery| &facts[d.fact];
    let claim = held.claim();
    let held: std::collections::HashSet<Uuid> = held.ids().collect();
    sqlx::query(
        "INSERT INTO deliveries (id, notification_id, recipient, channel, endpoint_id, status, next_attempt_at, \
           fact, created_at, city, county, township, village, traceparent, claim, claimed_until) \
         SELECT d.id, d.notification_id, d.recipient, d.channel, d.endpoint_id, d.status, d.next_at, d.fact, $8, \
           d.city, d.county, d.township, d.village, d.traceparent, \
           CASE WHEN d.held THEN $16::uuid END, \
           CASE WHEN d.held THEN clock_timestamp() + make_interval(secs => $17) END \
         FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::smallint[], $5::uuid[], $6::smallint[], \
                     $7::timestamptz[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], \
                     $15::bool[]) \
              AS d(id, notification_id, recipient, channel, endpoint_id, status, next_at, fact, \
                   city, county, township, village, traceparent, held)",
    )
    .bind(deliveries.iter().map(|d| d.id).collect::<Vec<_>>())
    .bind(deliveries.iter().map(|d| d.notification_id).collect::<Vec<_>>())
    .bind(deliveries.iter().map(|d| d.recipient.clone()).collect::<Vec<_>>())
    .bind(deliveries.iter().map(|d| d.channel as i16).collect::<Vec<_>>())
    .bind(deliveries.iter().map(|d| d.endpoint_id).collect::<Vec<_>>())
    .bind(deliveries.iter().map(|d| d.status as i16).collect::<Vec<_>>())
    .bind(deliveries.iter().map(|d| d.next_attempt_at).collect::<Vec<_>>())
    .bind(now)
    .bind(deliveries.iter().map(|d| fact_of(d).fact.clone()).collect::<Vec<_>>())
    .bind(deliveries.iter().map(|d| fact_of(d).region.city.clone()).collect::<Vec<_>>())
    .bind(deliveries.iter().map(|d| fact_of(d).region.county.clone()).collect::<Vec<_>>())
    .bind(deliveries.iter().map(|d| fact_of(d).region.township.clone()).collect::<Vec<_>>())
    .bind(deliveries.iter().map(|d| fact_of(d).region.village.clone()).collect::<Vec<_>>())
    .bind(deliveries.iter().map(|d| fact_of(d).traceparent.clone()).collect::<Vec<_>>())
    .bind(deliveries.iter().map(|d| held.contains(&d.id)).collect::<Vec<_>>())
    .bind(claim.map(|(c, _)| c))
    .bind(claim.map(|(_, lease)| lease.num_seconds() as f64).unwrap_or(0.0))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Claims up to `limit` deliveries due at `now` (pending or deferred), earliest due first, as
/// `claim` for `lease`: until the lease runs out (by the database's clock) other claims skip
/// them.
pub(crate) async fn claim(
    tx: &mut PgConnection,
    now: DateTime<Utc>,
    limit: i64,
    lease: Duration,
    claim: Uuid,
) -> Result<Vec<DeliveryRow>, StoreError> {
    let rows = sqlx::query(
        "WITH due AS ( \
           SELECT id FROM deliveries \
           WHERE status IN (1, 2) AND next_attempt_at <= $1 AND (claimed_until IS NULL OR claimed_until < now()) \
           ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED) \
         UPDATE deliveries d SET claimed_until = now() + make_interval(secs => $3), claim = $4 \
         FROM due WHERE d.id = due.id \
         RETURNING d.id, d.notification_id, d.recipient, d.channel, d.endpoint_id, d.attempt_count, d.digest_size, \
           d.fact, d.city, d.county, d.township, d.village, d.traceparent",
    )
    .bind(now)
    .bind(limit)
    .bind(lease.num_seconds() as f64)
    .bind(claim)
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows
        .iter()
        .map(|row| DeliveryRow {
            id: row.get("id"),
            notification_id: row.get("notification_id"),
            recipient: row.get("recipient"),
            channel: channel_of(row.get("channel")),
            endpoint_id: row.get("endpoint_id"),
            attempts: row.get("attempt_count"),
            digest: row.get::<i32, _>("digest_size") > 0,
            fact: row.get("fact"),
            source_event_id: String::new(),
            region: region_of(row),
            traceparent: row.get("traceparent"),
        })
        .collect())
}

/// Releases the deliveries held by `claim` at once, for the next round to claim.
pub(crate) async fn release(pool: &PgPool, claim: Uuid) -> Result<(), StoreError> {
    sqlx::query("UPDATE deliveries SET claimed_until = NULL, claim = NULL WHERE claim = $1")
        .bind(claim)
        .execute(pool)
        .await?;
    Ok(())
}

/// Releases the deliveries `ids` that `claim` still holds, for the next round to claim.
pub(crate) async fn release_ids(pool: &PgPool, claim: Uuid, ids: &[Uuid]) -> Result<(), StoreError> {
    sqlx::query("UPDATE deliveries SET claimed_until = NULL, claim = NULL WHERE id = ANY($1) AND claim = $2")
        .bind(ids)
        .bind(claim)
        .execute(pool)
        .await?;
    Ok(())
}

/// Writes `outcomes` to the deliveries still held by `claim`, releasing them; returns the ids
/// written (a delivery another claim took over is left alone).
///
/// A round is at most `notify.worker_batch` ids, so a primary-key probe for each is the right
/// plan at every size of `deliveries`. The planner cannot be told so for an `UPDATE … FROM`:
/// before the table's first ANALYZE it guessed a hash join over the whole table, kept in a
/// connection's cached plan (docs/performance.md, "The whole loop" and "The fourth round").
/// So the statement is planned with sequential scans, hash and merge joins switched off, for it
/// alone.
pub async fn record_outcomes(
    tx: &mut PgConnection,
    claim: Uuid,
    outcomes: &[Outcome],
) -> Result<Vec<Uuid>, StoreError> {
    sqlx::raw_sql("SET LOCAL enable_seqscan = off; SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off")
        .execute(&mut *tx)
        .await?;
    let written = sqlx::query_scalar(
        "UPDATE deliveries d SET status = u.status, attempt_count = u.attempts, next_attempt_at = u.next_at, \
           delivered_at = CASE WHEN u.status = 4 THEN u.at ELSE d.delivered_at END, last_error = u.error, \
           claimed_until = NULL, claim = NULL \
         FROM unnest($1::uuid[], $2::smallint[], $3::int[], $4::timestamptz[], $5::text[], $6::timestamptz[]) \
           AS u(id, status, attempts, next_at, error, at) \
         WHERE d.id = u.id AND d.claim = $7 \
         RETURNING d.id",
    )
    .bind(outcomes.iter().map(|o| o.id).collect::<Vec<_>>())
    .bind(outcomes.iter().map(|o| o.status as i16).collect::<Vec<_>>())
    .bind(outcomes.iter().map(|o| o.attempts).collect::<Vec<_>>())
    .bind(outcomes.iter().map(|o| o.next_attempt_at).collect::<Vec<_>>())
    .bind(outcomes.iter().map(|o| o.error.clone()).collect::<Vec<_>>())
    .bind(
        outcomes
            .iter()
            .map(|o| o.attempt.as_ref().and_then(|a| a.at.as_ref()).and_then(from_proto))
            .collect::<Vec<_>>(),
    )
    .bind(claim)
    .fetch_all(&mut *tx)
    .await?;
    sqlx::raw_sql(
        "SET LOCAL enable_seqscan TO DEFAULT; SET LOCAL enable_hashjoin TO DEFAULT; \
         SET LOCAL enable_mergejoin TO DEFAULT",
    )
    .execute(&mut *tx)
    .await?;
    Ok(written)
}

/// Records `attempts`, by delivery id; an attempt recorded already stays as it is. No
/// statement for none.
pub(crate) async fn insert_attempts(
    tx: &mut PgConnection,
    attempts: &[(Uuid, &pb::DeliveryAttempt)],
) -> Result<(), StoreError> {
    if attempts.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO delivery_attempts (delivery_id, number, at, outcome, http_status, error, duration_ms) \
         SELECT * FROM unnest($1::uuid[], $2::int[], $3::timestamptz[], $4::text[], $5::int[], $6::text[], $7::bigint[]) \
         ON CONFLICT DO NOTHING",
    )
    .bind(attempts.iter().map(|(id, _)| *id).collect::<Vec<_>>())
    .bind(attempts.iter().map(|(_, a)| a.number).collect::<Vec<_>>())
    .bind(attempts.iter().map(|(_, a)| a.at.as_ref().and_then(from_proto).unwrap_or_default()).collect::<Vec<_>>())
    .bind(attempts.iter().map(|(_, a)| a.outcome.clone()).collect::<Vec<_>>())
    .bind(attempts.iter().map(|(_, a)| a.http_status).collect::<Vec<_>>())
    .bind(attempts.iter().map(|(_, a)| a.error.clone()).collect::<Vec<_>>())
    .bind(attempts.iter().map(|(_, a)| a.duration_ms).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The inbox deliveries of `notifications`: the notifications themselves (`domain/notices.rs`).
pub(crate) async fn inbox_of(tx: &mut PgConnection, notifications: &[Uuid]) -> Result<Vec<DeliveryRow>, StoreError> {
    let rows = sqlx::query(
        // One primary-key probe per id, as `notifications::by_ids`.
        "SELECT n.* FROM unnest($1::uuid[]) k(id) CROSS JOIN LATERAL ( \
           SELECT id, recipient, fact, source_event_id, city, county, township, village \
           FROM notifications WHERE id = k.id OFFSET 0) n",
    )
    .bind(notifications)
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows
        .iter()
        .map(|r| DeliveryRow {
            id: r.get("id"),
            notification_id: Some(r.get("id")),
            recipient: r.get("recipient"),
            channel: Channel::Inbox,
            endpoint_id: None,
            attempts: INBOX_ATTEMPTS,
            digest: false,
            fact: r.get("fact"),
            source_event_id: r.get("source_event_id"),
            region: region_of(r),
            traceparent: None,
        })
        .collect())
}

/// Fails, with `why`, the deliveries to `endpoint` still waiting (pending, deferred or in a
/// digest) that no round holds; returns them. A claimed one is left to its round.
pub(crate) async fn fail_waiting_for(
    tx: &mut PgConnection,
    endpoint: Uuid,
    why: &str,
) -> Result<Vec<DeliveryRow>, StoreError> {
    let failed = sqlx::query(
        "UPDATE deliveries d SET status = 5, last_error = $2, next_attempt_at = NULL, claimed_until = NULL \
         WHERE endpoint_id = $1 AND status IN (1, 2, 3) AND (claimed_until IS NULL OR claimed_until < now()) \
         RETURNING d.id, d.notification_id, d.recipient, d.channel, d.attempt_count, d.fact, d.city, d.county, \
           d.township, d.village, \
           (SELECT n.source_event_id FROM notifications n WHERE n.id = d.notification_id) AS source_event_id",
    )
    .bind(endpoint)
    .bind(why)
    .fetch_all(&mut *tx)
    .await?;
    Ok(failed
        .iter()
        .map(|r| {
            let notification_id: Option<Uuid> = r.get("notification_id");
            DeliveryRow {
                id: r.get("id"),
                notification_id,
                recipient: r.get("recipient"),
                channel: channel_of(r.get("channel")),
                endpoint_id: Some(endpoint),
                attempts: r.get("attempt_count"),
                digest: notification_id.is_none(),
                fact: r.get("fact"),
                source_event_id: r.get::<Option<String>, _>("source_event_id").unwrap_or_default(),
                region: region_of(r),
                traceparent: None,
            }
        })
        .collect())
}

impl Store {
    /// A page of deliveries (newest first) of one notification or one recipient, before `before`.
    pub async fn deliveries(
        &self,
        notification: Option<Uuid>,
        recipient: Option<&str>,
        status: Option<DeliveryStatus>,
        before: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<pb::Delivery>, StoreError> {
        // A notification's digests are found first, so the listing is two index lookups rather
        // than an OR over a subquery.
        let digests: Vec<Uuid> = match notification {
            Some(n) => {
                sqlx::query_scalar(
                    "SELECT digest_id FROM deliveries WHERE notification_id = $1 AND digest_id IS NOT NULL",
                )
                .bind(n)
                .fetch_all(&self.pool)
                .await?
            }
            None => Vec::new(),
        };
        // The inbox deliveries are the notifications themselves, under their ids (rows an older
        // notify wrote for them, channel 1, are left out): each branch reads its newest `limit`
        // by index, and the merge keeps the newest of both. A notice that asks for
        // acknowledgement is pending until acknowledged, delivered then, failed once re-escalated
        // (the verdicts `Acknowledge` and re-escalation publish).
        let rows = sqlx::query(
            "(SELECT id, notification_id, recipient, channel, endpoint_id, status, attempt_count, next_attempt_at, \
               delivered_at, last_error, digest_id, created_at, fact, digest_size \
             FROM deliveries \
             WHERE ($1::uuid IS NULL OR notification_id = $1 OR id = ANY($6)) \
               AND ($2::text IS NULL OR recipient = $2) AND ($3::smallint IS NULL OR status = $3) \
               AND ($4::uuid IS NULL OR id < $4) AND channel <> $7 \
             ORDER BY id DESC LIMIT $5) \
             UNION ALL \
             (SELECT * FROM ( \
               SELECT id, id AS notification_id, recipient, $7::smallint AS channel, NULL::uuid AS endpoint_id, \
                 CASE WHEN reescalated_at IS NOT NULL THEN $10::smallint \
                      WHEN ack_required AND acked_at IS NULL THEN $11::smallint ELSE $8::smallint END AS status, \
                 $9::int AS attempt_count, NULL::timestamptz AS next_attempt_at, \
                 CASE WHEN reescalated_at IS NOT NULL THEN NULL \
                      WHEN ack_required THEN acked_at ELSE created_at END AS delivered_at, \
                 CASE WHEN reescalated_at IS NOT NULL THEN $12::text ELSE '' END AS last_error, \
                 NULL::uuid AS digest_id, created_at, fact, 0 AS digest_size \
               FROM notifications \
               WHERE ($1::uuid IS NULL OR id = $1) AND ($2::text IS NULL OR recipient = $2) \
                 AND ($4::uuid IS NULL OR id < $4)) inbox \
             WHERE ($3::smallint IS NULL OR status = $3) \
             ORDER BY id DESC LIMIT $5) \
             ORDER BY id DESC LIMIT $5",
        )
        .bind(notification)
        .bind(recipient)
        .bind(status.map(|s| s as i16))
        .bind(before)
        .bind(limit)
        .bind(&digests)
        .bind(Channel::Inbox as i16)
        .bind(DeliveryStatus::Delivered as i16)
        .bind(INBOX_ATTEMPTS)
        .bind(DeliveryStatus::Failed as i16)
        .bind(DeliveryStatus::Pending as i16)
        .bind(NOT_ACKNOWLEDGED)
        .fetch_all(&self.pool)
        .await?;
        let ids: Vec<Uuid> = rows.iter().map(|r| r.get("id")).collect();
        let mut attempts: HashMap<Uuid, Vec<pb::DeliveryAttempt>> = HashMap::new();
        for a in sqlx::query(
            "SELECT delivery_id, number, at, outcome, http_status, error, duration_ms FROM delivery_attempts \
             WHERE delivery_id = ANY($1) ORDER BY delivery_id, number",
        )
        .bind(&ids)
        .fetch_all(&self.pool)
        .await?
        {
            attempts.entry(a.get("delivery_id")).or_default().push(pb::DeliveryAttempt {
                number: a.get("number"),
                at: Some(to_proto(a.get("at"))),
                outcome: a.get("outcome"),
                http_status: a.get("http_status"),
                error: a.get("error"),
                duration_ms: a.get("duration_ms"),
            });
        }
        let ts = |r: &PgRow, name: &str| r.get::<Option<DateTime<Utc>>, _>(name).map(to_proto);
        let id_text = |r: &PgRow, name: &str| r.get::<Option<Uuid>, _>(name).map(|u| u.to_string()).unwrap_or_default();
        Ok(rows
            .iter()
            .map(|r| {
                let id: Uuid = r.get("id");
                pb::Delivery {
                    id: id.to_string(),
                    notification_id: id_text(r, "notification_id"),
                    recipient: r.get("recipient"),
                    channel: channel_of(r.get("channel")) as i32,
                    endpoint_id: id_text(r, "endpoint_id"),
                    status: status_of(r.get("status")) as i32,
                    attempt_count: r.get("attempt_count"),
                    next_attempt_at: ts(r, "next_attempt_at"),
                    delivered_at: ts(r, "delivered_at"),
                    last_error: r.get("last_error"),
                    attempts: attempts.remove(&id).unwrap_or_default(),
                    digest_id: id_text(r, "digest_id"),
                    created_at: ts(r, "created_at"),
                    fact: r.get("fact"),
                    digest_size: r.get("digest_size"),
                }
            })
            .collect())
    }
}
