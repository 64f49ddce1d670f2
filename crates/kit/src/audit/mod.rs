//! The audit trail: who changed what, when, from what to what, kept append-only and
//! hash-chained in each service's schema.
//!
//! Every state change a service makes public leaves through its transactional outbox, so the
//! trail records what leaves the outbox: the relay, when it removes the messages JetStream has
//! acknowledged, appends them to `audit_log` in the transaction of that removal ([`seal`]; kit
//! migrations 900–902, applied by the runtime to every service). A change that commits is
//! therefore recorded (its message waits in the outbox until then) and one that rolls back is
//! not. A record holds the fact's subject, its aggregate (`ce-subject`: the task, event or case),
//! the headers (`ce-type`, `ce-time`, `traceparent`: the request), the payload (the actor and the
//! state after) and `previous`, the aggregate's record before this one (the state before). Each
//! row carries the hash of the one before it; [`verify`] recomputes the chain and names the first
//! broken link. Rows cannot be changed, and are removed only past 180 days, oldest first
//! ([`purge`]), so what remains is still a chain.
//!
//! What must be on the record but not on the bus (a reveal of personal data) goes in with
//! [`record`], sealed at once in the caller's transaction; the relay never sees it.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::{Acquire, PgConnection, PgPool, migrate::Migration};
use uuid::Uuid;

use crate::bus::Envelope;

mod seal;

pub use seal::{Removal, Sealed, seal};

/// The SQL of the trail: tables, the outbox trigger, the append-only guard.
pub const AUDIT_SQL: &str = include_str!("audit.sql");

/// The trail's second version: the outbox trigger records a statement's messages at once.
pub const STATEMENT_SQL: &str = include_str!("statement.sql");

/// The trail's third version: the relay seals the chain ([`seal`]); the trigger is gone, and
/// outbox rows are removed only by a transaction that seals them.
pub const SEALED_SQL: &str = include_str!("sealed.sql");

/// The trail's first migration version in every service: past any service's own numbering, so
/// the runtime can add the trail's after them (900, 901, 902).
pub const MIGRATION_VERSION: i64 = 900;

/// The shortest retention the database allows (`audit_guard` refuses younger deletions).
pub const MIN_RETENTION_DAYS: u64 = 180;

/// The trail's migrations, which the runtime appends to every service's own: the tables and the
/// row trigger (900), the statement trigger that replaced it (901), then the relay's sealing
/// that replaced the trigger (902).
pub fn migrations() -> Vec<Migration> {
    vec![
        crate::db::migration(MIGRATION_VERSION, "audit trail (kit)", AUDIT_SQL),
        crate::db::migration(MIGRATION_VERSION + 1, "audit trail: one chain step per statement (kit)", STATEMENT_SQL),
        crate::db::migration(MIGRATION_VERSION + 2, "audit trail: sealed by the relay (kit)", SEALED_SQL),
    ]
}

/// Why the trail could not be read.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// The schema has no audit trail.
    #[error("schema `{0}` has no audit trail")]
    NoTrail(String),
}

/// One record of the trail, as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Record {
    /// Its place in the chain (1, 2, 3 …).
    pub seq: i64,
    /// When it was recorded.
    pub at: DateTime<Utc>,
    /// The fact's `ce-id`.
    pub message_id: Uuid,
    /// The fact's subject.
    pub subject: String,
    /// The fact's `ce-subject`: the aggregate it changed.
    pub aggregate: String,
    /// The aggregate's record before this one.
    pub previous: Option<i64>,
    /// The headers, as the jsonb column prints them.
    pub headers: String,
    /// The fact.
    pub payload: Vec<u8>,
    /// The hash of the record before.
    pub prev_hash: Vec<u8>,
    /// This record's hash.
    pub hash: Vec<u8>,
}

/// Records `envelope`, sent by `service` at `at`, in the trail of the schema `conn` works in,
/// without publishing it; returns its `ce-id`. Call it inside the transaction whose commit
/// makes the recorded act final (or before answering, for a read): it commits or rolls back
/// with it (a savepoint when `conn` is in a transaction already). It holds the chain's head
/// until then, as the relay does while it seals.
pub async fn record(
    conn: &mut PgConnection,
    service: &str,
    envelope: &Envelope,
    at: DateTime<Utc>,
) -> Result<Uuid, sqlx::Error> {
    let row = crate::bus::outbox::OutboxRow::new(service, envelope, at);
    let mut tx = conn.begin().await?;
    // The hash covers the headers as the `jsonb` column prints them.
    let headers: String = sqlx::query_scalar("SELECT $1::jsonb::text").bind(&row.headers).fetch_one(&mut *tx).await?;
    let sealed = Sealed::new(None, row.id, row.subject, &row.headers.0, headers, row.payload);
    seal(&mut tx, &[&sealed], Removal::Refused).await?;
    tx.commit().await?;
    Ok(sealed.id)
}

/// The hash of a record after `prev_hash`: what [`seal`] stores (and the triggers of kit
/// migrations 900 and 901 computed in the database before).
pub fn row_hash(prev_hash: &[u8], r: &Record) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(prev_hash);
    h.update(r.seq.to_be_bytes());
    h.update(r.message_id.as_bytes());
    for text in [
        r.subject.as_str(),
        r.aggregate.as_str(),
        &r.at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        r.headers.as_str(),
    ] {
        h.update(text.as_bytes());
        h.update([0u8]);
    }
    h.update(&r.payload);
    h.finalize().to_vec()
}

/// Where a chain broke.
#[derive(Debug, Clone, PartialEq)]
pub struct BrokenLink {
    /// The first record that does not follow from the one before.
    pub seq: i64,
    /// What is wrong with it.
    pub reason: String,
}

/// The outcome of [`verify`] for one schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Verification {
    /// Records checked.
    pub records: u64,
    /// The first and last sequence numbers kept (retention removes the oldest).
    pub first: Option<i64>,
    /// The last.
    pub last: Option<i64>,
    /// The first broken link, if any.
    pub broken: Option<BrokenLink>,
}

/// Checks records one by one, in order: each is numbered one past the record before, carries
/// that record's hash, and has the hash of its own content.
#[derive(Debug)]
pub struct Checker {
    v: Verification,
    before: Option<(i64, Vec<u8>)>,
}

impl Default for Checker {
    fn default() -> Self {
        Checker { v: Verification { records: 0, first: None, last: None, broken: None }, before: None }
    }
}

impl Checker {
    /// Checks the next record.
    pub fn push(&mut self, r: &Record) {
        let v = &mut self.v;
        v.records += 1;
        v.first.get_or_insert(r.seq);
        if v.broken.is_none() {
            let problem = match &self.before {
                Some((seq, _)) if r.seq != seq + 1 => Some(format!("follows record {seq}: a record is missing")),
                Some((seq, hash)) if &r.prev_hash != hash => {
                    Some(format!("does not carry the hash of record {seq}: it was changed or inserted"))
                }
                _ if row_hash(&r.prev_hash, r) != r.hash => Some("its content does not match its hash".to_string()),
                _ => None,
            };
            if let Some(reason) = problem {
                v.broken = Some(BrokenLink { seq: r.seq, reason });
            }
        }
        self.before = Some((r.seq, r.hash.clone()));
        v.last = Some(r.seq);
    }

    /// The outcome, given the chain's `head` (its last sequence number and hash): a head past
    /// the last record means records were removed from the end.
    pub fn finish(self, head: Option<(i64, Vec<u8>)>) -> Verification {
        let mut v = self.v;
        if v.broken.is_none()
            && let Some((seq, hash)) = head
            && self.before.as_ref().is_some_and(|(s, h)| *s != seq || *h != hash)
        {
            v.broken = Some(BrokenLink { seq, reason: "the chain's head does not match its last record".into() });
        }
        v
    }
}

/// [`Checker`] over `records`.
pub fn check_chain(records: impl IntoIterator<Item = Record>, head: Option<(i64, Vec<u8>)>) -> Verification {
    let mut checker = Checker::default();
    for r in records {
        checker.push(&r);
    }
    checker.finish(head)
}

const COLUMNS: &str =
    "seq, at, message_id, subject, aggregate, previous, headers::text AS headers, payload, prev_hash, hash";

/// Verifies the trail of `schema` (read in pages, so a long trail needs little memory).
pub async fn verify(pool: &PgPool, schema: &str) -> Result<Verification, AuditError> {
    if !has_trail(pool, schema).await? {
        return Err(AuditError::NoTrail(schema.to_string()));
    }
    // One snapshot for the head and every page: records sealed meanwhile are neither read nor
    // taken for a cut-off end, and records past the head (written behind the guard's back)
    // are still read and reported.
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *tx).await?;
    let head: Option<(i64, Vec<u8>)> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT seq, hash FROM \"{schema}\".audit_head")))
            .fetch_optional(&mut *tx)
            .await?;
    let mut checker = Checker::default();
    let mut after = 0i64;
    loop {
        let page: Vec<Record> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM \"{schema}\".audit_log WHERE seq > $1 ORDER BY seq LIMIT 5000"
        )))
        .bind(after)
        .fetch_all(&mut *tx)
        .await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        page.iter().for_each(|r| checker.push(r));
    }
    tx.commit().await?;
    // The head as it is, 0 included: records forged into an empty chain are past it.
    Ok(checker.finish(head))
}

/// Which records [`export`] reads; every set field narrows it (AND).
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Only this aggregate's records (a task, event or case id).
    pub aggregate: Option<String>,
    /// Only this fact's records (the subject's third token, e.g. `pii-revealed`).
    pub fact: Option<String>,
    /// Only records from this time on.
    pub from: Option<DateTime<Utc>>,
    /// Only records before this time.
    pub to: Option<DateTime<Utc>>,
}

/// The records of `schema` that `selection` picks, in chain order.
pub async fn export(pool: &PgPool, schema: &str, selection: &Selection) -> Result<Vec<Record>, AuditError> {
    if !has_trail(pool, schema).await? {
        return Err(AuditError::NoTrail(schema.to_string()));
    }
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM \"{schema}\".audit_log WHERE ($1::text IS NULL OR aggregate = $1) \
         AND ($2::text IS NULL OR split_part(subject, '.', 3) = $2) \
         AND ($3::timestamptz IS NULL OR at >= $3) AND ($4::timestamptz IS NULL OR at < $4) ORDER BY seq"
    )))
    .bind(&selection.aggregate)
    .bind(&selection.fact)
    .bind(selection.from)
    .bind(selection.to)
    .fetch_all(pool)
    .await?)
}

/// Removes the records older than `keep_days` (at least [`MIN_RETENTION_DAYS`]) of the schema
/// the pool works in; returns how many.
pub async fn purge(pool: &PgPool, keep_days: u64) -> Result<u64, AuditError> {
    let days = keep_days.max(MIN_RETENTION_DAYS) as f64;
    let done = sqlx::query(
        "DELETE FROM audit_log WHERE seq IN \
           (SELECT seq FROM audit_log WHERE at < now() - make_interval(days => $1::int) ORDER BY seq LIMIT 10000)",
    )
    .bind(days as i32)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// The schemas of the database that hold an audit trail.
pub async fn schemas(pool: &PgPool) -> Result<Vec<String>, AuditError> {
    Ok(sqlx::query_scalar(
        "SELECT table_schema::text FROM information_schema.tables WHERE table_name = 'audit_log' ORDER BY 1",
    )
    .fetch_all(pool)
    .await?)
}

async fn has_trail(pool: &PgPool, schema: &str) -> Result<bool, AuditError> {
    Ok(schemas(pool).await?.iter().any(|s| s == schema))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<Record> {
        let mut prev = vec![0u8; 32];
        (1..=n)
            .map(|seq| {
                let mut r = Record {
                    seq,
                    at: DateTime::from_timestamp_micros(1_765_000_000_000_000 + seq).unwrap_or_default(),
                    message_id: Uuid::from_u128(seq as u128),
                    subject: format!("civicgrid.dispatch.task-assigned.411600.411602.411602001._{seq}"),
                    aggregate: "task-1".into(),
                    previous: (seq > 1).then_some(seq - 1),
                    headers: r#"{"ce-type": "civicgrid.v1.TaskEvent"}"#.into(),
                    payload: vec![seq as u8; 8],
                    prev_hash: prev.clone(),
                    hash: vec![],
                };
                r.hash = row_hash(&prev, &r);
                prev = r.hash.clone();
                r
            })
            .collect()
    }

    #[test]
    fn an_intact_chain_verifies() {
        let records = chain(5);
        let head = Some((5, records[4].hash.clone()));
        let v = check_chain(records, head);
        assert_eq!((v.records, v.first, v.last, v.broken), (5, Some(1), Some(5), None));
    }

    #[test]
    fn the_first_broken_link_is_named() {
        let mut changed = chain(5);
        changed[2].payload[0] ^= 1;
        let broken = check_chain(changed, None).broken.unwrap();
        assert_eq!(broken.seq, 3);
        assert!(broken.reason.contains("content"), "{}", broken.reason);

        let mut removed = chain(5);
        removed.remove(1);
        assert_eq!(check_chain(removed, None).broken.unwrap().seq, 3);

        // Changed and re-hashed: the next record no longer carries its hash.
        let mut rehashed = chain(5);
        rehashed[1].payload[0] ^= 1;
        rehashed[1].hash = row_hash(&rehashed[1].prev_hash.clone(), &rehashed[1]);
        let broken = check_chain(rehashed, None).broken.unwrap();
        assert_eq!(broken.seq, 3);
        assert!(broken.reason.contains("hash of record 2"), "{}", broken.reason);

        // The last record removed: the head says there was one more.
        let mut cut = chain(5);
        let head = Some((5, cut[4].hash.clone()));
        cut.pop();
        assert_eq!(check_chain(cut, head).broken.unwrap().seq, 5);
    }

    #[test]
    fn a_trail_cut_by_retention_still_verifies_from_its_first_record() {
        let records: Vec<Record> = chain(6).into_iter().skip(3).collect();
        let v = check_chain(records, None);
        assert_eq!((v.first, v.broken), (Some(4), None));
    }
}
