//! Notifications (`notifications`), which are the inbox: writing a batch of them under their
//! recipients' inbox locks, the inbox pages and feed, reading, acknowledging, and the notices due for
//! acknowledgement.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use civicgrid_kit::time::to_proto;
use civicgrid_proto::v1 as pb;
use serde_json::Value;
use sqlx::{PgConnection, PgExecutor, Row, postgres::PgRow, types::Json};
use uuid::Uuid;

use super::{Store, StoreError, region_of};
use crate::domain::{
    facts::{Fact, Unacknowledged},
    notices::Draft,
    schedule::Priority,
};

/// Orders each recipient's inbox cursors: a transaction that creates notifications takes, just
/// before numbering them, the advisory lock `(INBOX_LOCKS, hashtext(recipient))` of every
/// recipient it writes to, held to its commit. So a recipient's cursors become visible in
/// increasing order — a watcher of that recipient that has seen cursor n never later finds a
/// committed n-1 it skipped — while transactions writing to different recipients number side by
/// side (one lock for all used to queue notify's consumers behind each other's commits). Every
/// cursor read is of one recipient. The locks are taken in key order, so two transactions never
/// wait on each other crosswise; recipients whose hashes collide merely share a lock.
const INBOX_LOCKS: i32 = 7_305_003;

/// The lock of every inbox (one key, apart from [`INBOX_LOCKS`]' pairs): taken shared before
/// the recipients' locks, and alone, exclusive, by a batch for more than [`MANY_RECIPIENTS`]
/// recipients. Exclusive, it is also the lock an older notify took for every batch: during a
/// rolling update the two kinds of replica exclude each other, as they must.
const INBOX_LOCK: i64 = 7_305_003;

/// Beyond this many recipients a batch locks every inbox at once rather than each of its own:
/// advisory locks take room in PostgreSQL's shared lock table (`max_locks_per_transaction` ×
/// connections, shared by every service on the server), and a backlog's batch can name
/// hundreds.
const MANY_RECIPIENTS: usize = 64;

const NOTIFICATION_COLUMNS: &str = "id, recipient, rule, template, priority, locale, title, body, source_type, \
     source_event_id, fact, subject_id, city, county, township, village, data, created_at, read_at, ack_required, \
     ack_due_at, acked_at, cursor";

fn notification_of(row: &PgRow) -> pb::Notification {
    let data: Json<BTreeMap<String, String>> = row.get("data");
    let ts = |name: &str| row.get::<Option<DateTime<Utc>>, _>(name).map(to_proto);
    pb::Notification {
        id: row.get::<Uuid, _>("id").to_string(),
        recipient: row.get("recipient"),
        rule: row.get("rule"),
        template: row.get("template"),
        priority: match Priority::from_i16(row.get("priority")) {
            Priority::Low => pb::Priority::Low,
            Priority::Normal => pb::Priority::Normal,
            Priority::High => pb::Priority::High,
            Priority::Critical => pb::Priority::Critical,
        } as i32,
        locale: row.get("locale"),
        title: row.get("title"),
        body: row.get("body"),
        source_type: row.get("source_type"),
        source_event_id: row.get("source_event_id"),
        fact: row.get("fact"),
        subject_id: row.get("subject_id"),
        region: Some(region_of(row)),
        created_at: ts("created_at"),
        read_at: ts("read_at"),
        ack_required: row.get("ack_required"),
        ack_due_at: ts("ack_due_at"),
        acked_at: ts("acked_at"),
        cursor: row.get("cursor"),
        data: data.0.into_iter().collect(),
    }
}

/// Takes the inbox locks of `recipients` ([`INBOX_LOCKS`], after [`INBOX_LOCK`] shared; or
/// [`INBOX_LOCK`] exclusive for more than [`MANY_RECIPIENTS`]), held by `tx` to its commit.
async fn lock_inboxes(tx: &mut PgConnection, recipients: &[&str]) -> Result<(), StoreError> {
    let distinct: std::collections::BTreeSet<&str> = recipients.iter().copied().collect();
    if distinct.len() > MANY_RECIPIENTS {
        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(INBOX_LOCK).execute(&mut *tx).await?;
        return Ok(());
    }
    // One statement. The keys sorted, without repeats, in an array (`array_agg … ORDER BY`
    // keeps its order), and locked in that order as `unnest` yields them. The shared lock is a
    // condition on no column, an uncorrelated subquery: the planner makes it a one-time filter
    // (an init plan) checked before the scan yields its first key, so it is taken once and
    // before any recipient's lock — planner behaviour (PostgreSQL 14–18), not a documented
    // guarantee, so tests/it/inbox_locks.rs checks that a writer waiting for it holds no
    // recipient's lock.
    sqlx::query(
        "SELECT count(pg_advisory_xact_lock($2, k)) FROM unnest(( \
           SELECT array_agg(DISTINCT hashtext(r) ORDER BY hashtext(r)) FROM unnest($1::text[]) AS r)) AS k \
         WHERE (SELECT pg_advisory_xact_lock_shared($3) IS NOT NULL)",
    )
    .bind(distinct.into_iter().collect::<Vec<_>>())
    .bind(INBOX_LOCKS)
    .bind(INBOX_LOCK)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Writes `drafts` (about `facts`, by index) created at `now`, numbering their cursors in
/// batch order under their recipients' inbox locks ([`INBOX_LOCKS`]), which `tx` holds from
/// then on; a draft whose dedup key is written already is left out. Returns the ids written.
pub(crate) async fn insert(
    tx: &mut PgConnection,
    drafts: &[Draft],
    facts: &[Fact],
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>, StoreError> {
    let fact_of = |d: &Draft| &facts[d.fact];
    // Numbered last, under the recipients' inbox locks, in batch order, so each recipient's
    // cursors commit in order.
    let recipients: Vec<&str> = drafts.iter().map(|d| d.recipient.as_str()).collect();
    lock_inboxes(&mut *tx, &recipients).await?;
    Ok(sqlx::query_scalar(
        "INSERT INTO notifications (id, dedup_key, recipient, rule, template, priority, locale, title, body, \
           source_type, source_event_id, fact, subject_id, city, county, township, village, data, created_at, \
           ack_required, ack_due_at, cursor) \
         SELECT d.id, d.dedup_key, d.recipient, d.rule, d.template, d.priority, d.locale, d.title, d.body, \
           d.source_type, d.source_event_id, d.fact, d.subject_id, d.city, d.county, d.township, d.village, \
           d.data, $19, d.ack_due_at IS NOT NULL, d.ack_due_at, nextval('inbox_seq') \
         FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::smallint[], $7::text[], \
                     $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], \
                     $15::text[], $16::text[], $17::text[], $18::jsonb[], $20::timestamptz[]) \
              WITH ORDINALITY AS d(id, dedup_key, recipient, rule, template, priority, locale, title, body, \
                source_type, source_event_id, fact, subject_id, city, county, township, village, data, \
                ack_due_at, n) \
         ORDER BY d.n \
         ON CONFLICT (dedup_key) DO NOTHING RETURNING id",
    )
    .bind(drafts.iter().map(|d| d.id).collect::<Vec<_>>())
    .bind(drafts.iter().map(|d| d.dedup_key.clone()).collect::<Vec<_>>())
    .bind(drafts.iter().map(|d| d.recipient.clone()).collect::<Vec<_>>())
    .bind(drafts.iter().map(|d| d.rule.clone()).collect::<Vec<_>>())
    .bind(drafts.iter().map(|d| d.template.clone()).collect::<Vec<_>>())
    .bind(drafts.iter().map(|d| d.priority as i16).collect::<Vec<_>>())
    .bind(drafts.iter().map(|d| d.locale.clone()).collect::<Vec<_>>())
    .bind(drafts.iter().map(|d| d.title.clone()).collect::<Vec<_>>())
    .bind(drafts.iter().map(|d| d.body.clone()).collect::<Vec<_>>())
    .bind(drafts.iter().map(|d| fact_of(d).source_type.clone()).collect::<Vec<_>>())
    .bind(drafts.iter().map(|d| fact_of(d).source_event_id.clone()).collect::<Vec<_>>())
    .bind(drafts.iter().map(|d| fact_of(d).fact.clone()).collect::<Vec<_>>())
    .bind(drafts.iter().map(|d| fact_of(d).subject_id.clone()).collect::<Vec<_>>())
    .bind(drafts.iter().map(|d| fact_of(d).region.city.clone()).collect::<Vec<_>>())
    .bind(drafts.iter().map(|d| fact_of(d).region.county.clone()).collect::<Vec<_>>())
    .bind(drafts.iter().map(|d| fact_of(d).region.township.clone()).collect::<Vec<_>>())
    .bind(drafts.iter().map(|d| fact_of(d).region.village.clone()).collect::<Vec<_>>())
    .bind(drafts.iter().map(|d| serde_json::to_value(&fact_of(d).data).unwrap_or(Value::Null)).collect::<Vec<_>>())
    .bind(now)
    .bind(drafts.iter().map(|d| d.ack_due_at).collect::<Vec<_>>())
    .fetch_all(&mut *tx)
    .await?)
}

/// The notifications `ids`, by id (no statement for none).
///
/// One primary-key probe per id, whatever the planner knows: with `id = ANY($1)`, before the
/// table's first ANALYZE, a batch of ids was planned as a read of the whole table (the worker
/// asks for every round's notifications). `OFFSET 0` keeps the lateral from being pulled up
/// into a hash join.
pub async fn by_ids<'e>(db: impl PgExecutor<'e>, ids: &[Uuid]) -> Result<HashMap<Uuid, pb::Notification>, StoreError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let q = format!(
        "SELECT n.* FROM unnest($1::uuid[]) k(id) \
         CROSS JOIN LATERAL (SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE id = k.id OFFSET 0) n"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(q)).bind(ids).fetch_all(db).await?;
    Ok(rows.iter().map(|row| (row.get("id"), notification_of(row))).collect())
}

/// The members of the digest deliveries `digests`, by digest, in inbox order (no statement for
/// none).
pub(crate) async fn of_digests<'e>(
    db: impl PgExecutor<'e>,
    digests: &[Uuid],
) -> Result<HashMap<Uuid, Vec<pb::Notification>>, StoreError> {
    if digests.is_empty() {
        return Ok(HashMap::new());
    }
    let q = format!(
        "SELECT m.digest_id, n.{} FROM deliveries m JOIN notifications n ON n.id = m.notification_id \
         WHERE m.digest_id = ANY($1) ORDER BY n.cursor",
        NOTIFICATION_COLUMNS.replace(", ", ", n.")
    );
    let mut members: HashMap<Uuid, Vec<pb::Notification>> = HashMap::new();
    for row in sqlx::query(sqlx::AssertSqlSafe(q)).bind(digests).fetch_all(db).await? {
        members.entry(row.get("digest_id")).or_default().push(notification_of(&row));
    }
    Ok(members)
}

/// Up to `limit` notices due for acknowledgement at `now` that nobody acknowledged and that
/// were not re-escalated yet, locked for `tx` (another replica skips them), oldest due first:
/// their ids and what their re-escalation needs.
pub(crate) async fn unacknowledged_due(
    tx: &mut PgConnection,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<(Uuid, Unacknowledged)>, StoreError> {
    let q = format!(
        "SELECT {NOTIFICATION_COLUMNS} FROM notifications \
         WHERE ack_required AND acked_at IS NULL AND reescalated_at IS NULL AND ack_due_at <= $1 \
         ORDER BY ack_due_at LIMIT $2 FOR UPDATE SKIP LOCKED"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(q)).bind(now).bind(limit).fetch_all(&mut *tx).await?;
    Ok(rows
        .iter()
        .map(|row| {
            let note = notification_of(row);
            let data: Json<BTreeMap<String, String>> = row.get("data");
            let u = Unacknowledged {
                notification_id: note.id.clone(),
                recipient: note.recipient.clone(),
                title: note.title.clone(),
                fact: note.fact.clone(),
                subject_id: note.subject_id.clone(),
                region: note.region.clone().unwrap_or_default(),
                data: data.0,
                ack_due_at: row.get::<Option<DateTime<Utc>>, _>("ack_due_at").unwrap_or(now),
            };
            (row.get::<Uuid, _>("id"), u)
        })
        .collect())
}

/// Marks notifications `ids` re-escalated at `now`: each is re-escalated once.
pub(crate) async fn mark_reescalated(
    tx: &mut PgConnection,
    ids: &[Uuid],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE notifications SET reescalated_at = $2 WHERE id = ANY($1)")
        .bind(ids)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Acknowledges notification `id` at `now` (reading it too) for `request_id`. `None` when it
/// was acknowledged before (the first acknowledgement stands) or does not exist; otherwise
/// whether it was in time (not re-escalated yet).
pub(crate) async fn set_acknowledged(
    tx: &mut PgConnection,
    id: Uuid,
    request_id: &str,
    now: DateTime<Utc>,
) -> Result<Option<bool>, StoreError> {
    let acked = sqlx::query(
        "UPDATE notifications SET acked_at = $2, ack_request_id = $3, read_at = coalesce(read_at, $2) \
         WHERE id = $1 AND acked_at IS NULL RETURNING reescalated_at IS NULL AS in_time",
    )
    .bind(id)
    .bind(now)
    .bind(request_id)
    .fetch_optional(&mut *tx)
    .await?;
    Ok(acked.map(|row| row.get::<bool, _>("in_time")))
}

impl Store {
    /// A page of `recipient`'s inbox, newest first, before cursor `before` (0: from the top).
    pub async fn inbox_page(
        &self,
        recipient: &str,
        unread_only: bool,
        before: i64,
        limit: i64,
    ) -> Result<(Vec<pb::Notification>, i64), StoreError> {
        let q = format!(
            "SELECT {NOTIFICATION_COLUMNS} FROM notifications \
             WHERE recipient = $1 AND ($2 = 0 OR cursor < $2) AND (NOT $3 OR read_at IS NULL) \
             ORDER BY cursor DESC LIMIT $4"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(q))
            .bind(recipient)
            .bind(before)
            .bind(unread_only)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        let unread = self.unread(recipient).await?;
        Ok((rows.iter().map(notification_of).collect(), unread))
    }

    async fn unread(&self, recipient: &str) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT count(*) FROM notifications WHERE recipient = $1 AND read_at IS NULL")
            .bind(recipient)
            .fetch_one(&self.pool)
            .await?)
    }

    /// `recipient`'s notifications after cursor `after`, oldest first.
    pub async fn inbox_after(
        &self,
        recipient: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<pb::Notification>, StoreError> {
        let q = format!(
            "SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE recipient = $1 AND cursor > $2 \
             ORDER BY cursor LIMIT $3"
        );
        let rows =
            sqlx::query(sqlx::AssertSqlSafe(q)).bind(recipient).bind(after).bind(limit).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(notification_of).collect())
    }

    /// The highest cursor of `recipient` (0 when the inbox is empty).
    pub async fn last_cursor(&self, recipient: &str) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT coalesce(max(cursor), 0) FROM notifications WHERE recipient = $1")
            .bind(recipient)
            .fetch_one(&self.pool)
            .await?)
    }

    /// Marks `ids` of `recipient` read at `now`; returns (marked, still unread).
    pub async fn mark_read(&self, recipient: &str, ids: &[Uuid], now: DateTime<Utc>) -> Result<(i64, i64), StoreError> {
        let marked = sqlx::query(
            "UPDATE notifications SET read_at = $3 WHERE recipient = $1 AND id = ANY($2) AND read_at IS NULL",
        )
        .bind(recipient)
        .bind(ids)
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected() as i64;
        Ok((marked, self.unread(recipient).await?))
    }

    /// One notification.
    pub async fn notification(&self, id: Uuid) -> Result<Option<pb::Notification>, StoreError> {
        let q = format!("SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE id = $1");
        Ok(sqlx::query(sqlx::AssertSqlSafe(q)).bind(id).fetch_optional(&self.pool).await?.as_ref().map(notification_of))
    }
}
