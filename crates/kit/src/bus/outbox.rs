//! The transactional outbox and its relay.
//!
//! A service writes its state change and the outgoing message in one transaction ([`enqueue`]),
//! then wakes the relay ([`OutboxSignal::wake`]). The relay claims a batch of unpublished rows
//! (`FOR UPDATE SKIP LOCKED`, so several replicas share the work), publishes them (a long claim
//! as atomic batches, one ack and a few `fsync` calls in JetStream each; a short one, or a batch
//! the server refuses, one message at a time: `publish`), records the acknowledged rows in the
//! audit trail ([`crate::audit::seal`]) and deletes them in one statement, so the outbox holds
//! only what is not yet published and nothing leaves it unrecorded (the database refuses a
//! removal that does not record). Claims in flight together record in claim order. With a backlog it claims
//! and sends the next batch while the previous one's acks come back (sent one by one) or its
//! delete commits (`bus.relay_batches_in_flight`). A crash
//! before that commit republishes the rows, and JetStream drops the repeat by `Nats-Msg-Id`
//! (within `nats.duplicate_window_secs`); a crash before the publish loses nothing because the
//! rows stay. The fault tests crash the relay at both places (kill points `relay.after_publish`
//! and `relay.before_publish`, [`crate::faults`]). The relay also forgets inbox ids after
//! `bus.inbox_retention_days`, and audit records after `bus.audit_retention_days`
//! (crates/kit/src/audit), and vacuums the outbox after every `bus.outbox_vacuum_rows` rows it
//! removed (`bus/vacuum.rs`).
//!
//! A row keeps the trace context of the span that wrote it (its `traceparent` header, one per
//! row even when a group commit writes many requests' rows together); the relay publishes each
//! row in a `publish <fact>` span that is that context's child, and the message carries the
//! publish span's context to its consumers.

use std::{collections::HashMap, sync::Arc, time::Duration};

use async_nats::jetstream;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool, types::Json};
use tokio::{
    sync::{Notify, oneshot},
    task::JoinHandle,
};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use uuid::Uuid;

use super::{
    envelope::{Envelope, to_header_map},
    publish::{self, Group, Message},
    vacuum::OutboxVacuum,
};
use crate::{Shutdown, audit::Sealed, config::BusSettings, metrics::Metrics};

/// Wakes the relay after a commit that wrote outbox rows.
#[derive(Clone, Default)]
pub struct OutboxSignal(Arc<Notify>);

impl OutboxSignal {
    /// Tells the relay there is work. Cheap; call it after every commit with outbox rows.
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// An outbox row ready to insert: for services that fold the insert into a larger statement
/// (`INSERT INTO outbox (id, subject, headers, payload)` with these four values).
#[derive(Debug, Clone)]
pub struct OutboxRow {
    /// The message's `ce-id` (and `Nats-Msg-Id`).
    pub id: Uuid,
    /// The subject.
    pub subject: String,
    /// The headers, as the `jsonb` column holds them.
    pub headers: Json<HashMap<String, String>>,
    /// The payload.
    pub payload: Vec<u8>,
}

impl OutboxRow {
    /// The row for `envelope` sent by `service` at `at`, with a fresh id and the current
    /// trace context.
    pub fn new(service: &str, envelope: &Envelope, at: DateTime<Utc>) -> Self {
        let id = Uuid::now_v7();
        OutboxRow {
            id,
            subject: envelope.subject.clone(),
            headers: Json(envelope.headers(service, id, at)),
            payload: envelope.payload.clone(),
        }
    }
}

/// Writes `envelope` to the outbox inside the caller's transaction and returns its `ce-id`.
pub async fn enqueue(
    conn: &mut PgConnection,
    service: &str,
    envelope: &Envelope,
    at: DateTime<Utc>,
) -> Result<Uuid, sqlx::Error> {
    let row = OutboxRow::new(service, envelope, at);
    sqlx::query("INSERT INTO outbox (id, subject, headers, payload) VALUES ($1, $2, $3, $4)")
        .bind(row.id)
        .bind(&row.subject)
        .bind(&row.headers)
        .bind(&row.payload)
        .execute(conn)
        .await?;
    Ok(row.id)
}

/// Outbox rows collected during a transaction and written together by [`OutboxBatch::insert`]:
/// one multi-row statement instead of a round trip per message. The relay publishes them in the
/// order they were added.
#[derive(Debug, Default)]
pub struct OutboxBatch {
    ids: Vec<Uuid>,
    subjects: Vec<String>,
    headers: Vec<Json<HashMap<String, String>>>,
    payloads: Vec<Vec<u8>>,
}

impl OutboxBatch {
    /// Adds `envelope` sent by `service` at `at`; returns its `ce-id`.
    pub fn add(&mut self, service: &str, envelope: &Envelope, at: DateTime<Utc>) -> Uuid {
        self.push(OutboxRow::new(service, envelope, at))
    }

    /// Adds a prepared row; returns its `ce-id`.
    pub fn push(&mut self, row: OutboxRow) -> Uuid {
        self.ids.push(row.id);
        self.subjects.push(row.subject);
        self.headers.push(row.headers);
        self.payloads.push(row.payload);
        row.id
    }

    /// Rows not yet written.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether nothing waits to be written.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Writes the collected rows inside the caller's transaction, in order, and empties the batch.
    pub async fn insert(&mut self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        if self.is_empty() {
            return Ok(());
        }
        // WITH ORDINALITY … ORDER BY: `seq` (the relay's publishing order) follows the order added.
        sqlx::query(
            "INSERT INTO outbox (id, subject, headers, payload) SELECT id, subject, headers, payload \
             FROM unnest($1::uuid[], $2::text[], $3::jsonb[], $4::bytea[]) WITH ORDINALITY AS r(id, subject, headers, payload, n) \
             ORDER BY n",
        )
        .bind(&self.ids)
        .bind(&self.subjects)
        .bind(&self.headers)
        .bind(&self.payloads)
        .execute(conn)
        .await?;
        *self = OutboxBatch::default();
        Ok(())
    }
}

impl FromIterator<OutboxRow> for OutboxBatch {
    fn from_iter<I: IntoIterator<Item = OutboxRow>>(rows: I) -> Self {
        let mut batch = OutboxBatch::default();
        for row in rows {
            batch.push(row);
        }
        batch
    }
}

#[derive(sqlx::FromRow)]
struct Row {
    seq: i64,
    id: Uuid,
    subject: String,
    /// As the `jsonb` column prints it: the audit trail's hash covers that text.
    headers: String,
    payload: Vec<u8>,
}

/// A claimed batch whose messages are sent and whose acks are awaited: the claiming
/// transaction (it holds the rows' locks), the messages and the groups they were sent in.
struct Sent {
    tx: sqlx::Transaction<'static, sqlx::Postgres>,
    /// Each claimed row: what the audit trail records of it, its fact (the subject's third
    /// token) and its publish span (ended when the ack is settled).
    rows: Vec<(Sealed, String, tracing::Span)>,
    /// The groups sent, covering the first rows ([`publish::send`]).
    groups: Vec<Group>,
    /// Why sending stopped early.
    send_error: Option<String>,
}

/// Claims up to `batch` unpublished rows and sends them, in order, without waiting for the acks
/// of those sent one by one (an atomic batch is settled before anything after it is sent:
/// `publish::send`). `None` when nothing is pending. `service` names the relay's kill points.
async fn claim_and_send(
    pool: &PgPool,
    js: &jetstream::Context,
    batch: i64,
    service: &str,
) -> Result<Option<Sent>, RelayError> {
    let mut tx = pool.begin().await?;
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT seq, id, subject, headers::text AS headers, payload FROM outbox WHERE published_at IS NULL \
         ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED",
    )
    .bind(batch)
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        return Ok(None);
    }
    // The rows are committed and not yet on the bus: a crash here must lose none of them.
    crate::faults::point(service, "relay.before_publish");
    // Send in order over one connection; the acks are awaited later.
    let mut claimed = Vec::with_capacity(rows.len());
    let mut messages = Vec::with_capacity(rows.len());
    for row in rows {
        let headers: HashMap<String, String> =
            serde_json::from_str(&row.headers).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
        let fact = row.subject.split('.').nth(2).unwrap_or("").to_string();
        let span = publish_span(&row, &headers, &fact);
        let sealed = Sealed::new(Some(row.seq), row.id, row.subject, &headers, row.headers, row.payload);
        let mut sent_headers = headers;
        // Without an OpenTelemetry layer there is no context: the row's own stays.
        sent_headers.extend(crate::telemetry::trace_headers_of(&span));
        messages.push(Message {
            subject: sealed.subject.clone(),
            headers: to_header_map(&sent_headers),
            payload: sealed.payload.clone().into(),
        });
        claimed.push((sealed, fact, span));
    }
    let (groups, send_error) = publish::send(js, &messages).await;
    if let Some(e) = &send_error {
        // The rows never sent: their spans end with the error that stopped the sending.
        let sent: usize = groups.iter().map(Group::len).sum();
        claimed[sent..].iter().for_each(|(_, _, span)| span.set_status(opentelemetry::trace::Status::error(e.clone())));
    }
    Ok(Some(Sent { tx, rows: claimed, groups, send_error }))
}

/// The span of one row's publish (`publish <fact>`, kind producer). The row's `headers` hold
/// the trace context of the span that wrote it (a gRPC call, a consumed message:
/// [`OutboxRow::new`]), so the span is that context's child although the relay runs later in a
/// task of its own, and the message carries the span's context on to its consumers.
fn publish_span(row: &Row, headers: &HashMap<String, String>, fact: &str) -> tracing::Span {
    let span =
        tracing::info_span!(parent: None, "publish", otel.name = %format!("publish {fact}"), otel.kind = %"producer");
    crate::telemetry::set_parent_from(&span, headers);
    span.set_attribute("messaging.system", "nats");
    span.set_attribute("messaging.destination.name", row.subject.clone());
    span.set_attribute("messaging.message.id", row.id.to_string());
    span
}

/// Whose turn it is to seal: a claim seals after the claim before it has committed or failed
/// (its sender dropped), so the audit trail records a relay's claims in outbox order even with
/// several in flight.
struct Turn {
    /// Closed when the claim before is done.
    after: Option<oneshot::Receiver<()>>,
    /// Dropped when this one is done.
    _done: oneshot::Sender<()>,
}

/// Awaits the acks of a sent batch, records the acknowledged rows in the audit trail, deletes
/// them and commits; returns how many were published. Each published fact is counted in
/// `metrics` once committed.
async fn settle(sent: Sent, turn: Turn, metrics: Option<Metrics>) -> Result<usize, RelayError> {
    let Sent { mut tx, rows, groups, send_error } = sent;
    let mut first_error = send_error;
    let results = publish::settle(groups).await;
    let mut acked = Vec::with_capacity(results.len());
    let mut acked_facts = Vec::with_capacity(results.len());
    for ((sealed, fact, span), result) in rows.iter().zip(results) {
        match result {
            Ok(()) => {
                acked.push(sealed);
                acked_facts.push(fact.clone());
            }
            Err(e) => {
                span.set_status(opentelemetry::trace::Status::error(e.clone()));
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(after) = turn.after {
        // Nothing is sent on it: it closes when the claim before is done, committed or not
        // (a failed claim's rows are claimed again later and recorded after these). Awaited
        // even when nothing here was acknowledged, so the order holds past this claim.
        let _ = after.await;
    }
    if !acked.is_empty() {
        // On the bus and still in the outbox: a crash here republishes them, and JetStream
        // must drop the repeats.
        if let Some(m) = &metrics {
            crate::faults::point(m.service(), "relay.after_publish");
        }
        // Recorded as they leave the outbox (crates/kit/src/audit): one statement for the claim.
        crate::audit::seal(&mut tx, &acked, crate::audit::Removal::Allowed).await?;
        // Deleted, not marked: one write per message instead of an update now and a delete
        // later (measured: the outbox's updates were a visible share of PostgreSQL's work).
        let ids: Vec<Uuid> = acked.iter().map(|s| s.id).collect();
        sqlx::query("DELETE FROM outbox WHERE id = ANY($1)").bind(&ids).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    let published = acked.len();
    // The publish spans end here, with the ack and the row's delete.
    drop(rows);
    if let Some(m) = &metrics {
        m.bus().published(&acked_facts);
    }
    match first_error {
        Some(e) => Err(RelayError::Publish { published, reason: e }),
        None => Ok(published),
    }
}

/// Publishes everything pending, keeping up to `in_flight` batches between send and commit:
/// while one batch's acks come back or its delete commits, the next is already claimed and sent. The claims are
/// made one after another and each skips the rows the earlier ones hold, so messages still
/// reach JetStream in outbox order. Returns how many rows were published, or the first error
/// (after the batches in flight are settled).
pub async fn relay_pending(
    pool: &PgPool,
    js: &jetstream::Context,
    batch: i64,
    in_flight: usize,
    metrics: Option<&Metrics>,
) -> Result<usize, RelayError> {
    let mut settling: std::collections::VecDeque<JoinHandle<Result<usize, RelayError>>> =
        std::collections::VecDeque::new();
    let mut previous: Option<oneshot::Receiver<()>> = None;
    let mut published = 0;
    let mut first_error = None;
    loop {
        let sent = match claim_and_send(pool, js, batch, metrics.map(Metrics::service).unwrap_or_default()).await {
            Ok(Some(sent)) => sent,
            Ok(None) => break,
            Err(e) => {
                first_error = Some(e);
                break;
            }
        };
        let more = sent.rows.len() as i64 >= batch && sent.send_error.is_none();
        let (done, next) = oneshot::channel();
        let turn = Turn { after: previous.replace(next), _done: done };
        settling.push_back(tokio::spawn(settle(sent, turn, metrics.cloned())));
        if !more {
            break;
        }
        while settling.len() >= in_flight.max(1) {
            if let Some(oldest) = settling.pop_front() {
                match joined(oldest).await {
                    Ok(n) => published += n,
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                }
            }
        }
        if first_error.is_some() {
            break;
        }
    }
    for handle in settling {
        match joined(handle).await {
            Ok(n) => published += n,
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(published),
    }
}

/// The result of a settling task (a panic counts as a failed round: its rows stay pending).
async fn joined(handle: JoinHandle<Result<usize, RelayError>>) -> Result<usize, RelayError> {
    handle.await.unwrap_or_else(|e| Err(RelayError::Publish { published: 0, reason: format!("relay task: {e}") }))
}

/// Why a relay round stopped.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// NATS did not take or acknowledge a message.
    #[error("publish failed after {published} acknowledged: {reason}")]
    Publish {
        /// Rows acknowledged and marked before the failure.
        published: usize,
        /// The first error.
        reason: String,
    },
}

/// Forgets applied message ids older than the retention period.
pub async fn purge_inbox(pool: &PgPool, retention: Duration) -> Result<u64, sqlx::Error> {
    let cutoff = Utc::now() - chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::days(14));
    let done = sqlx::query("DELETE FROM inbox WHERE applied_at < $1").bind(cutoff).execute(pool).await?;
    Ok(done.rows_affected())
}

/// Rows not yet published (for health and metrics).
pub async fn pending_count(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM outbox").fetch_one(pool).await
}

/// The outbox's backlog: rows pending and the age in seconds of the oldest (0 when none).
pub async fn backlog(pool: &PgPool) -> Result<(i64, f64), sqlx::Error> {
    sqlx::query_as("SELECT count(*), COALESCE(EXTRACT(EPOCH FROM now() - min(created_at))::float8, 0) FROM outbox")
        .fetch_one(pool)
        .await
}

/// Starts the relay. It runs until `shutdown`, then drains what is pending once more.
/// Published rows are counted in `metrics`.
pub fn spawn_relay(
    pool: PgPool,
    js: jetstream::Context,
    signal: OutboxSignal,
    settings: &BusSettings,
    metrics: Metrics,
    shutdown: Shutdown,
) -> JoinHandle<()> {
    let batch = settings.relay_batch_size.max(1);
    let in_flight = settings.relay_batches_in_flight.max(1);
    let poll = Duration::from_millis(settings.relay_poll_ms.max(10));
    let linger = Duration::from_millis(settings.linger_ms);
    let inbox_retention = Duration::from_secs(settings.inbox_retention_days * 86_400);
    let audit_retention_days = settings.audit_retention_days;
    let mut vacuum = OutboxVacuum::new(settings.outbox_vacuum_rows);
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(100);
        let mut last_purge = tokio::time::Instant::now();
        loop {
            let stopping = shutdown.is_cancelled();
            // Drain: keep going while full batches come back.
            let failed = match relay_pending(&pool, &js, batch, in_flight, Some(&metrics)).await {
                Ok(published) => {
                    // Not while stopping: the pool closes next, and would wait for the vacuum.
                    if !stopping {
                        vacuum.removed(&pool, published);
                    }
                    backoff = Duration::from_millis(100);
                    false
                }
                Err(e) => {
                    if let RelayError::Publish { published, .. } = &e {
                        vacuum.removed(&pool, *published);
                    }
                    tracing::warn!(error = %e, "outbox relay round failed; retrying");
                    true
                }
            };
            if stopping {
                break;
            }
            if last_purge.elapsed() > Duration::from_secs(60) {
                last_purge = tokio::time::Instant::now();
                if let Err(e) = purge_inbox(&pool, inbox_retention).await {
                    tracing::warn!(error = %e, "inbox purge failed");
                }
                if let Err(e) = crate::audit::purge(&pool, audit_retention_days).await {
                    tracing::warn!(error = %e, "audit trail purge failed");
                }
            }
            let wait = if failed {
                backoff = (backoff * 2).min(Duration::from_secs(5));
                backoff
            } else {
                poll
            };
            tokio::select! {
                // Woken by a commit: let the commits of the next moment join it (one relay
                // transaction and one round of acks for all), as the consumers do.
                _ = signal.0.notified(), if !failed => tokio::time::sleep(linger).await,
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.cancelled() => {}
            }
        }
        tracing::info!("outbox relay stopped");
    })
}
