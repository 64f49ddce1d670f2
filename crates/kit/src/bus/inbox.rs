//! The idempotent inbox consumer.
//!
//! [`run_consumer`] pulls from a durable JetStream consumer in batches. Each batch is applied in
//! one transaction: it records every message's `(consumer, ce-id)` in the `inbox` table with one
//! multi-row insert, hands the messages whose row is new to [`Handler::apply_batch`] (by default
//! [`Handler::apply`] on each, in order); one commit, then the batch is acked (a crash between
//! the two is kill point `inbox.before_ack`, [`crate::faults`]: the redelivered batch is
//! skipped by the inbox, or, for an idempotent handler, applied again and changes nothing). If the batch fails, its messages are retried one by one (each in its own transaction, through
//! [`Handler::apply`]) so a single bad message cannot block the rest. A message that is [`HandleError::Permanent`] (it cannot be decoded or can never apply),
//! or that has failed on its last delivery (`bus.max_deliver`), is published to the consumer's
//! dead-letter subject with the reason and then terminated; it is never dropped silently.
//! A message the handler says does not concern the service ([`Handler::concerns`]: a fact
//! about something it does not keep) is acknowledged at once, without a transaction or an
//! inbox row; a handler whose writes guard themselves against a repeat ([`Handler::idempotent`]:
//! keyed by the message, or by a version it carries) gets its batches without inbox rows.
//!
//! Every message gets a span of its own when it is received (`process <fact>`, the child of its
//! `traceparent`): [`Handler::apply`] runs in it, and a batch handler makes each message's
//! outbox rows in it ([`Incoming::in_span`]), so the facts a message causes carry its trace.

use std::{collections::HashSet, future::Future, pin::Pin, time::Duration};

use async_nats::jetstream::{self, AckKind, consumer::pull};
use futures::StreamExt;
use sqlx::{PgConnection, PgPool};
use tokio::task::JoinHandle;

use civicgrid_contracts::Consumer;

use super::{BusError, deadletter::DeadLetter, envelope::Incoming};
use crate::{Shutdown, config::BusSettings, metrics::Metrics};

/// Why a handler could not apply a message.
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// Will never succeed (undecodable, unknown type, impossible content): dead-letter now.
    #[error("permanent: {0}")]
    Permanent(String),
    /// May succeed later (a dependency missing, a conflict): retried with backoff, and
    /// dead-lettered after `bus.max_deliver` deliveries.
    #[error("transient: {0}")]
    Transient(String),
    /// The consumer's own infrastructure is down (the database unreachable): retried with
    /// backoff for as long as it takes, never dead-lettered, since the message itself is fine.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

impl From<sqlx::Error> for HandleError {
    fn from(e: sqlx::Error) -> Self {
        if crate::storage::is_unavailable(&e) {
            HandleError::Unavailable(e.to_string())
        } else {
            HandleError::Transient(e.to_string())
        }
    }
}

impl From<prost::DecodeError> for HandleError {
    fn from(e: prost::DecodeError) -> Self {
        HandleError::Permanent(format!("undecodable payload: {e}"))
    }
}

/// A boxed future, as handlers return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Applies messages' effects inside the consumer's transaction.
pub trait Handler: Send + Sync + 'static {
    /// Applies `msg`. Runs inside a transaction that also records the message id; return an
    /// error to roll both back.
    fn apply<'a>(&'a self, tx: &'a mut PgConnection, msg: &'a Incoming) -> BoxFuture<'a, Result<(), HandleError>>;

    /// Applies a batch of new messages, in delivery order, inside one transaction that also
    /// records their ids; return an error to roll it all back (the runner then retries the
    /// messages one by one through [`apply`](Self::apply)). Override it to write a batch with
    /// multi-row statements; the effect must be the same as applying each message in turn, and
    /// each message's outbox rows are made in its span ([`Incoming::in_span`]).
    fn apply_batch<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        msgs: &'a [&'a Incoming],
    ) -> BoxFuture<'a, Result<(), HandleError>> {
        Box::pin(async move {
            for msg in msgs {
                // Each in its own message's span, so what it publishes continues that trace.
                tracing::Instrument::instrument(self.apply(tx, msg), msg.span().clone()).await?;
            }
            Ok(())
        })
    }

    /// Whether `msg` may change anything this service keeps. A message that cannot (a fact of a
    /// kind the service ignores, or about something it does not handle) is acknowledged without
    /// a transaction and leaves no inbox row: there is no effect to apply once, so none to
    /// guard. Decide from the message alone (no I/O); when unsure — it does not decode — say
    /// `true`, so that [`apply`](Self::apply) rejects it and it is dead-lettered with its
    /// reason. Counted in `civicgrid_consumer_passed_over_total`.
    fn concerns(&self, _msg: &Incoming) -> bool {
        true
    }

    /// Whether the handler's writes guard themselves against a repeat, so that applying a
    /// message again changes nothing: each is keyed by the message (a unique key derived from its
    /// `ce-id`, written with `ON CONFLICT DO NOTHING`, on which a concurrent second application
    /// waits), or applied only when a version the message carries is newer than the stored one,
    /// read under a row lock. Then the runner writes no inbox row: a redelivered message is
    /// applied again and finds its effects there. Default `false`: the inbox row is the guard.
    fn idempotent(&self) -> bool {
        false
    }

    /// Called after a transaction that applied messages has committed (e.g. to wake a relay).
    fn committed(&self) {}

    /// Called after an attempt to apply messages did not commit — its transaction rolled back,
    /// its commit failed, or it never began (the database unreachable, a message without an
    /// id): nothing the handler wrote may be taken as written (a handler that keeps what its
    /// transaction wrote, to act on at [`committed`](Self::committed), forgets it here). A
    /// failed commit may still have committed; what the handler kept must then be found again
    /// from the database, as after a crash.
    fn discarded(&self) {}
}

/// Creates (or binds to) the durable consumer of contract `spec` and applies its messages
/// until `shutdown`. Waits for the stream to exist, so a consumer may start before the
/// producing service. Deliveries, redeliveries and dead letters are counted in `metrics`, and
/// the consumer's lag is read from JetStream at every scrape.
pub async fn run_consumer<H: Handler>(
    pool: PgPool,
    js: jetstream::Context,
    spec: Consumer,
    handler: H,
    settings: &BusSettings,
    metrics: Metrics,
    shutdown: Shutdown,
) -> Result<JoinHandle<()>, BusError> {
    metrics.bus().declare_consumer(spec.durable);
    {
        let (js, metrics_for_lag) = (js.clone(), metrics.clone());
        metrics
            .on_scrape(move || {
                let (js, metrics) = (js.clone(), metrics_for_lag.clone());
                async move {
                    if let Ok(mut consumer) =
                        js.get_consumer_from_stream::<pull::Config, _, _>(spec.durable, spec.stream()).await
                        && let Ok(info) = consumer.info().await
                    {
                        metrics.bus().set_lag(spec.durable, info.num_pending);
                    }
                }
            })
            .await;
    }
    let config = pull::Config {
        durable_name: Some(spec.durable.to_string()),
        filter_subjects: spec.filter_subjects(),
        ack_policy: jetstream::consumer::AckPolicy::Explicit,
        ack_wait: Duration::from_secs(settings.ack_wait_secs.max(1)),
        // Unlimited at the server: this runner decides when to dead-letter, so a message
        // whose dead-letter copy could not be published is retried, never dropped.
        max_deliver: -1,
        max_ack_pending: (settings.consumer_batch_size as i64 * 4).max(1000),
        ..Default::default()
    };
    let settings = settings.clone();
    Ok(tokio::spawn(async move {
        let mut waited = false;
        let consumer = loop {
            let attempt = async {
                let stream = js.get_stream(spec.stream()).await.map_err(|e| e.to_string())?;
                let mut consumer: jetstream::consumer::Consumer<pull::Config> =
                    stream.get_or_create_consumer(spec.durable, config.clone()).await.map_err(|e| e.to_string())?;
                // A durable made by an older release keeps its old filters: when the contract
                // changed (a fact added to the source's stream), follow it.
                if filters_of(&consumer.cached_info().config) != sorted(&config.filter_subjects) {
                    tracing::info!(durable = spec.durable, filters = ?config.filter_subjects, "updating the consumer's filters");
                    consumer = stream.update_consumer(config.clone()).await.map_err(|e| e.to_string())?;
                }
                Ok::<_, String>(consumer)
            };
            match attempt.await {
                Ok(c) => break c,
                Err(e) => {
                    // Said once at info (the producer may simply not be deployed yet), then quietly.
                    if waited {
                        tracing::debug!(stream = %spec.stream(), error = %e, "still waiting for stream");
                    } else {
                        tracing::info!(stream = %spec.stream(), error = %e, "waiting for stream to consume from");
                        waited = true;
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                        _ = shutdown.cancelled() => return,
                    }
                }
            }
        };
        let runner = Runner { pool, js, spec, handler, settings, metrics };
        runner.run(consumer, shutdown).await;
    }))
}

/// A consumer's filter subjects, however they were set, sorted.
fn filters_of(config: &jetstream::consumer::Config) -> Vec<String> {
    let mut filters = config.filter_subjects.clone();
    if !config.filter_subject.is_empty() {
        filters.push(config.filter_subject.clone());
    }
    sorted(&filters)
}

fn sorted(filters: &[String]) -> Vec<String> {
    let mut filters = filters.to_vec();
    filters.sort();
    filters
}

/// A batch: `first` and what follows it within `linger` (at most `batch` in all), and whether
/// the message stream ended. Under light load each message would otherwise be a transaction
/// of its own — its commit, WAL flush and wake-ups cost more than applying it — so a short wait
/// lets a few share one; under heavy load the batch fills at once and nothing waits.
pub(super) async fn gather<S, E>(
    first: Result<jetstream::Message, E>,
    messages: &mut Pin<&mut S>,
    batch: usize,
    linger: Duration,
) -> (Vec<jetstream::Message>, bool)
where
    S: futures::Stream<Item = Result<jetstream::Message, E>>,
    E: std::fmt::Display,
{
    let mut msgs = Vec::with_capacity(batch.min(64));
    let keep = |m: Result<jetstream::Message, E>, msgs: &mut Vec<jetstream::Message>| match m {
        Ok(m) => msgs.push(m),
        // Missing heartbeats and the like are transient: log and go on.
        Err(e) => tracing::debug!(error = %e, "consumer stream error"),
    };
    keep(first, &mut msgs);
    let deadline = tokio::time::Instant::now() + linger;
    while msgs.len() < batch {
        match tokio::time::timeout_at(deadline, messages.next()).await {
            Ok(Some(m)) => keep(m, &mut msgs),
            Ok(None) => return (msgs, true),
            Err(_) => break,
        }
    }
    (msgs, false)
}

struct Runner<H> {
    pool: PgPool,
    js: jetstream::Context,
    spec: Consumer,
    handler: H,
    settings: BusSettings,
    metrics: Metrics,
}

impl<H: Handler> Runner<H> {
    async fn run(&self, consumer: jetstream::consumer::Consumer<pull::Config>, shutdown: Shutdown) {
        let batch = self.settings.consumer_batch_size.max(1);
        let linger = Duration::from_millis(self.settings.linger_ms);
        'outer: loop {
            let messages = match consumer
                .stream()
                .max_messages_per_batch(batch)
                .heartbeat(Duration::from_secs(5))
                .messages()
                .await
            {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(error = %e, durable = %self.spec.durable, "consumer stream failed; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                        _ = shutdown.cancelled() => break,
                    }
                }
            };
            let mut messages = std::pin::pin!(messages);
            loop {
                let first = tokio::select! {
                    m = messages.next() => m,
                    _ = shutdown.cancelled() => break 'outer,
                };
                let Some(first) = first else { continue 'outer };
                let (msgs, ended) = gather(first, &mut messages, batch, linger).await;
                if !msgs.is_empty() {
                    self.process(msgs).await;
                }
                if ended {
                    continue 'outer;
                }
            }
        }
        tracing::info!(durable = %self.spec.durable, "consumer stopped");
    }

    /// Acknowledges the messages that concern nothing here ([`Handler::concerns`]), then
    /// applies the others in one transaction; on failure, one by one.
    async fn process(&self, received: Vec<jetstream::Message>) {
        let mut msgs = Vec::with_capacity(received.len());
        let mut incoming = Vec::with_capacity(received.len());
        let mut passed = 0;
        for m in received {
            let inc = Incoming::from_jetstream(&m).received_by(self.spec.durable);
            self.metrics.bus().delivered(self.spec.durable, inc.delivered);
            // A message without an id is poison whatever it says: it goes on to be dead-lettered.
            if message_id(&inc).is_err() || self.handler.concerns(&inc) {
                msgs.push(m);
                incoming.push(inc);
            } else {
                if let Err(e) = m.ack().await {
                    tracing::warn!(error = %e, "ack failed; the message will be redelivered and passed over again");
                }
                passed += 1;
            }
        }
        if passed > 0 {
            self.metrics.bus().passed_over(self.spec.durable, passed);
        }
        if msgs.is_empty() {
            return;
        }
        if msgs.len() > 1 {
            match self.apply_batch(&incoming).await {
                Ok(()) => {
                    self.handler.committed();
                    // Applied and committed, not acked: after a crash here JetStream redelivers
                    // the batch, and the inbox (or the idempotent handler's keys) must make every
                    // message of it change nothing.
                    crate::faults::point(self.spec.service, "inbox.before_ack");
                    for m in &msgs {
                        if let Err(e) = m.ack().await {
                            tracing::warn!(error = %e, "ack failed; the message will be redelivered and skipped by the inbox");
                        }
                    }
                    return;
                }
                Err(e) => {
                    self.handler.discarded();
                    tracing::debug!(error = %e, "batch failed; applying its messages one by one")
                }
            }
        }
        for (m, inc) in msgs.iter().zip(&incoming) {
            self.process_one(m, inc).await;
        }
    }

    /// Records the batch's ids in one statement and applies the new messages with
    /// [`Handler::apply_batch`], all in one transaction.
    async fn apply_batch(&self, incoming: &[Incoming]) -> Result<(), HandleError> {
        let ids = incoming.iter().map(message_id).collect::<Result<Vec<_>, _>>()?;
        let mut unique: Vec<&str> = Vec::with_capacity(ids.len());
        let mut seen = HashSet::with_capacity(ids.len());
        for id in &ids {
            if seen.insert(*id) {
                unique.push(*id);
            }
        }
        let mut tx = self.pool.begin().await?;
        let fresh: HashSet<String> = if self.handler.idempotent() {
            unique.iter().map(|id| id.to_string()).collect()
        } else {
            sqlx::query_scalar(
                "INSERT INTO inbox (consumer, message_id) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING RETURNING message_id",
            )
            .bind(self.spec.durable)
            .bind(&unique)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .collect()
        };
        // The first copy of each new id, in delivery order; a repeat (a publisher's retry with
        // the same ce-id) is skipped as if it came later.
        let mut todo = Vec::with_capacity(fresh.len());
        let mut taken = HashSet::with_capacity(fresh.len());
        for (inc, id) in incoming.iter().zip(&ids) {
            if fresh.contains(*id) && taken.insert(*id) {
                todo.push(inc);
            } else {
                tracing::debug!(message_id = id, "already applied; skipping");
            }
        }
        if !todo.is_empty() {
            self.handler.apply_batch(&mut tx, &todo).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records the message id and applies the handler if the id is new.
    async fn apply_in(&self, tx: &mut PgConnection, inc: &Incoming) -> Result<(), HandleError> {
        let id = message_id(inc)?;
        let fresh = self.handler.idempotent()
            || sqlx::query("INSERT INTO inbox (consumer, message_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(self.spec.durable)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                == 1;
        if fresh {
            self.handler.apply(tx, inc).await?;
        } else {
            tracing::debug!(message_id = id, "already applied; skipping");
        }
        Ok(())
    }

    async fn process_one(&self, m: &jetstream::Message, inc: &Incoming) {
        // Instrumented, not entered: a guard held across an await would leak into other tasks.
        let result = tracing::Instrument::instrument(
            async {
                let mut tx = self.pool.begin().await?;
                self.apply_in(&mut tx, inc).await?;
                tx.commit().await?;
                Ok::<_, HandleError>(())
            },
            inc.span().clone(),
        )
        .await;
        if result.is_err() {
            self.handler.discarded();
        }
        match result {
            Ok(()) => {
                self.handler.committed();
                crate::faults::point(self.spec.service, "inbox.before_ack");
                let _ = m.ack().await;
            }
            Err(HandleError::Permanent(reason)) => self.dead_letter(m, inc, &reason).await,
            Err(HandleError::Transient(reason)) if inc.delivered >= self.settings.max_deliver => {
                self.dead_letter(m, inc, &format!("gave up after {} deliveries: {reason}", inc.delivered)).await
            }
            Err(HandleError::Transient(reason)) => {
                let delay = self.retry_delay(inc.delivered);
                tracing::warn!(%reason, delivered = inc.delivered, ?delay, "message failed; will retry");
                let _ = m.ack_with(AckKind::Nak(Some(delay))).await;
            }
            Err(HandleError::Unavailable(reason)) => {
                let delay = self.retry_delay(inc.delivered).min(Duration::from_secs(30));
                tracing::warn!(%reason, ?delay, "database unavailable; message kept for redelivery");
                let _ = m.ack_with(AckKind::Nak(Some(delay))).await;
            }
        }
    }

    fn retry_delay(&self, delivered: i64) -> Duration {
        let base = Duration::from_millis(self.settings.retry_backoff_ms.max(1));
        base * 2u32.saturating_pow((delivered.max(1) - 1).min(10) as u32)
    }

    /// Publishes a copy with the reason to the dead-letter subject, then terminates the
    /// original. If the copy is not acknowledged, the original is nak'ed instead, not lost.
    async fn dead_letter(&self, m: &jetstream::Message, inc: &Incoming, reason: &str) {
        let to = DeadLetter {
            js: &self.js,
            metrics: &self.metrics,
            durable: self.spec.durable,
            subject: self.spec.deadletter_subject(),
            retry: self.retry_delay(inc.delivered),
        };
        to.send(m, inc, reason).await;
    }
}

/// The id the inbox de-duplicates by; a message without one is poison.
fn message_id(inc: &Incoming) -> Result<&str, HandleError> {
    inc.message_id().ok_or_else(|| HandleError::Permanent("no ce-id or Nats-Msg-Id header: cannot de-duplicate".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_database_is_never_a_reason_to_dead_letter() {
        assert!(matches!(HandleError::from(sqlx::Error::PoolTimedOut), HandleError::Unavailable(_)));
        assert!(matches!(HandleError::from(sqlx::Error::PoolClosed), HandleError::Unavailable(_)));
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert!(matches!(HandleError::from(sqlx::Error::Io(io)), HandleError::Unavailable(_)));
        assert!(matches!(HandleError::from(sqlx::Error::RowNotFound), HandleError::Transient(_)));
    }
}
