//! Sealing: appending messages to the chain. The relay seals each claim it removes from the
//! outbox after JetStream's ack, in the transaction of that removal; [`super::record`] seals a
//! record that is never published, in the caller's transaction (kit migration 902,
//! `sealed.sql`).
//!
//! The hashes are computed here ([`super::row_hash`], as `verify` recomputes them) and the
//! claim's records are written by one statement, which also moves the chain's head; the head is
//! locked from the first statement to the commit, so the chain has one order. The database's
//! clock gives the records' time, so it never runs backwards along the chain whichever replica
//! seals.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{Record, row_hash};

/// One message to record.
#[derive(Debug, Clone)]
pub struct Sealed {
    /// Its outbox row's `seq`, or `None` for a record that never was in the outbox. Rows at or
    /// below the head's `recorded_through` were recorded when written (by the trigger of an
    /// earlier release) and are not recorded again.
    pub outbox_seq: Option<i64>,
    /// The fact's `ce-id`.
    pub id: Uuid,
    /// The subject.
    pub subject: String,
    /// The headers exactly as PostgreSQL prints their `jsonb` (`headers::text`): the hash covers
    /// that text, and `verify` reads it back the same way.
    pub headers: String,
    /// The fact's `ce-subject` header: the aggregate (empty for none).
    pub aggregate: String,
    /// The payload.
    pub payload: Vec<u8>,
}

impl Sealed {
    /// The record of a message with these `headers`, which PostgreSQL prints as
    /// `headers_text`; the aggregate is its `ce-subject`.
    pub fn new(
        outbox_seq: Option<i64>,
        id: Uuid,
        subject: String,
        headers: &HashMap<String, String>,
        headers_text: String,
        payload: Vec<u8>,
    ) -> Sealed {
        let aggregate = headers.get("ce-subject").cloned().unwrap_or_default();
        Sealed { outbox_seq, id, subject, headers: headers_text, aggregate, payload }
    }
}

/// Whether the transaction that seals may then remove outbox rows: the relay's may (it removes
/// what it recorded); a record's may not, so a caller's transaction around it cannot remove
/// unrecorded rows afterwards (the setting outlives a savepoint).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Removal {
    /// The relay: it removes the rows it has just recorded.
    Allowed,
    /// [`super::record`]: nothing to remove.
    Refused,
}

/// The chain's head, locked for this transaction.
#[derive(sqlx::FromRow)]
struct Head {
    seq: i64,
    hash: Vec<u8>,
    recorded_through: i64,
    now: DateTime<Utc>,
}

/// Locks the chain's head and allows this transaction to remove outbox rows (the guard of
/// migration 902 refuses removals by releases that do not seal). For the relay it also makes
/// the rest of the transaction (the append, the outbox's delete) keep generic plans ($2; NULL:
/// as it was).
const TAKE_HEAD: &str = "SELECT seq, hash, recorded_through, date_trunc('microseconds', clock_timestamp()) AS now, \
       set_config('civicgrid.audit_sealing', $1, true) AS sealing, \
       set_config('plan_cache_mode', coalesce($2, current_setting('plan_cache_mode')), true) AS plans \
     FROM audit_head FOR UPDATE";

/// The plans the relay's append and delete keep. Under `auto` both were planned again at most
/// executions (custom plans for their short arrays: at 300 reports/s the append's planning cost
/// each service more than running it). A generic plan is made again whenever the outbox is
/// vacuumed (`bus/vacuum.rs`, every thousand rows) or a table it reads is analysed, so one made
/// on young tables (where a scan may be cheapest) lasts a thousand rows at most while the relay
/// vacuums. The claim before them keeps `auto`: its generic plan made on an empty outbox is a
/// scan and sort of the whole table, which a backlog (nothing removed, no vacuum) would keep.
const RELAY_PLANS: &str = "force_generic_plan";

/// Writes the records and moves the head. `previous` is the aggregate's record before: an
/// earlier one of the same statement, else the last one already in the trail. Once no row the
/// triggers recorded is left in the outbox, `recorded_through` is cleared, so a sequence that
/// ever starts again low (a restore, `RESTART IDENTITY`) cannot hide new rows from the trail.
const APPEND: &str = "\
WITH head AS (UPDATE audit_head SET seq = $10, hash = $11, \
                recorded_through = CASE WHEN recorded_through > 0 AND NOT EXISTS \
                    (SELECT 1 FROM outbox o WHERE o.seq <= audit_head.recorded_through) THEN 0 ELSE recorded_through END) \
INSERT INTO audit_log (seq, at, message_id, subject, aggregate, previous, headers, payload, prev_hash, hash) \
SELECT r.seq, $9, r.id, r.subject, r.aggregate, \
       CASE WHEN r.aggregate <> '' THEN coalesce( \
           lag(r.seq) OVER (PARTITION BY r.aggregate ORDER BY r.seq), \
           (SELECT max(a.seq) FROM audit_log a WHERE a.aggregate = r.aggregate)) END, \
       r.headers::jsonb, r.payload, r.prev_hash, r.hash \
FROM unnest($1::int8[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::bytea[], $7::bytea[], $8::bytea[]) \
     AS r (seq, id, subject, aggregate, headers, payload, prev_hash, hash)";

/// Appends `messages` to the chain of the schema `conn` works in, in their order, inside the
/// caller's transaction; returns how many were recorded. Takes the chain's head (held until the
/// transaction ends) even when nothing is new; with [`Removal::Allowed`] the transaction may
/// then remove outbox rows.
pub async fn seal(conn: &mut PgConnection, messages: &[&Sealed], removal: Removal) -> Result<usize, sqlx::Error> {
    let sealing = if removal == Removal::Allowed { "on" } else { "off" };
    let plans = (removal == Removal::Allowed).then_some(RELAY_PLANS);
    let head: Head = sqlx::query_as(TAKE_HEAD).bind(sealing).bind(plans).fetch_one(&mut *conn).await?;
    let fresh: Vec<&Sealed> =
        messages.iter().copied().filter(|m| m.outbox_seq.is_none_or(|seq| seq > head.recorded_through)).collect();
    if fresh.is_empty() {
        return Ok(0);
    }
    let records = chain(&head.hash, head.seq, head.now, &fresh);
    let (last_seq, last_hash) = records.last().map(|r| (r.seq, r.hash.clone())).unwrap_or((head.seq, head.hash));
    let bytes = |f: fn(&Record) -> &[u8]| records.iter().map(f).collect::<Vec<_>>();
    sqlx::query(APPEND)
        .bind(records.iter().map(|r| r.seq).collect::<Vec<_>>())
        .bind(records.iter().map(|r| r.message_id).collect::<Vec<_>>())
        .bind(records.iter().map(|r| r.subject.as_str()).collect::<Vec<_>>())
        .bind(records.iter().map(|r| r.aggregate.as_str()).collect::<Vec<_>>())
        .bind(records.iter().map(|r| r.headers.as_str()).collect::<Vec<_>>())
        .bind(bytes(|r| &r.payload))
        .bind(bytes(|r| &r.prev_hash))
        .bind(bytes(|r| &r.hash))
        .bind(head.now)
        .bind(last_seq)
        .bind(last_hash)
        .execute(&mut *conn)
        .await?;
    Ok(records.len())
}

/// The records of `messages` after the head (`seq`, `hash`), all recorded at `at`: numbered on
/// from the head, each carrying the hash of the one before. `previous` is left to the database.
fn chain(hash: &[u8], seq: i64, at: DateTime<Utc>, messages: &[&Sealed]) -> Vec<Record> {
    let mut prev_hash = hash.to_vec();
    messages
        .iter()
        .zip(seq + 1..)
        .map(|(m, seq)| {
            let mut r = Record {
                seq,
                at,
                message_id: m.id,
                subject: m.subject.clone(),
                aggregate: m.aggregate.clone(),
                previous: None,
                headers: m.headers.clone(),
                payload: m.payload.clone(),
                prev_hash: std::mem::take(&mut prev_hash),
                hash: vec![],
            };
            r.hash = row_hash(&r.prev_hash, &r);
            prev_hash = r.hash.clone();
            r
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(n: u8) -> Sealed {
        Sealed {
            outbox_seq: Some(n.into()),
            id: Uuid::from_u128(n.into()),
            subject: format!("civicgrid.dispatch.task-assigned.411600.411602._._{n}"),
            headers: format!(r#"{{"ce-subject": "task-{n}"}}"#),
            aggregate: format!("task-{n}"),
            payload: vec![n; 4],
        }
    }

    #[test]
    fn a_claim_continues_the_chain_from_the_head() {
        let at = DateTime::from_timestamp_micros(1_765_000_000_123_456).unwrap_or_default();
        let (a, b) = (message(1), message(2));
        let records = chain(&[7u8; 32], 41, at, &[&a, &b]);
        assert_eq!(records.iter().map(|r| r.seq).collect::<Vec<_>>(), [42, 43]);
        assert_eq!(records[0].prev_hash, vec![7u8; 32]);
        assert_eq!(records[1].prev_hash, records[0].hash);
        // What `verify` checks: the records follow from the head and from each other.
        let v = super::super::check_chain(records.clone(), Some((43, records[1].hash.clone())));
        assert_eq!((v.records, v.broken), (2, None));
    }
}
