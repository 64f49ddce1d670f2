//! Feeds: streams of inputs a service takes in at a high rate (patrol's positions), kept apart
//! from the facts in a stream of their own with a short age limit.
//!
//! [`run_feed`] ensures the feed's stream (limits retention, file storage, `max_age` given by
//! the service) and its durable pull consumer, then fetches batches of whatever is ready (up to
//! the service's batch size) and hands each whole batch to [`FeedHandler::apply`], which
//! applies and **commits** it itself, then names the messages that can never apply (they do
//! not decode). Those go to the consumer's dead-letter subject with their reason; the rest are
//! acked, only after the handler returned. Unlike the inbox consumer there is no inbox table:
//! a feed's handler must make a redelivered message change nothing by itself (patrol's fixes
//! are keyed by member and time), which is what lets it take tens of thousands a second.
//!
//! A batch that fails is retried message by message (so one bad message cannot hold the rest
//! back); a message that still fails on its last delivery (`bus.max_deliver`) is dead-lettered.
//! While the database is unreachable the batch is held (its ack deadline extended) and retried
//! with backoff for as long as it takes, taking nothing newer meanwhile, so its messages are
//! applied in order.

use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer::pull, stream};
use civicgrid_contracts::Feed;
use futures::StreamExt;
use tokio::task::JoinHandle;

use super::{BusError, HandleError, Incoming, deadletter::DeadLetter, inbox::BoxFuture};
use crate::{
    Shutdown,
    config::{BusSettings, NatsSettings},
    metrics::Metrics,
};

/// A message of a batch that can never apply, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Poison {
    /// Its position in the batch.
    pub index: usize,
    /// Why (the dead letter's `civicgrid-dlq-reason`).
    pub reason: String,
}

/// How a service reads its feed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FeedOptions {
    /// How long the feed's stream keeps a message (older ones are of no use to the service).
    pub max_age: Duration,
    /// The most messages handed to the handler at once (one transaction).
    pub batch: usize,
}

/// Applies a feed's batches.
pub trait FeedHandler: Send + Sync + 'static {
    /// Applies `msgs` (in delivery order) and commits them; returns the messages that can
    /// never apply. An error rolls the whole batch back: it is then retried message by message.
    /// Applying a message again (a redelivery after a crash before the ack) must change nothing.
    fn apply<'a>(&'a self, msgs: &'a [Incoming]) -> BoxFuture<'a, Result<Vec<Poison>, HandleError>>;
}

/// Creates or updates the feed's stream: limits retention, file storage, messages kept for
/// `max_age` (older ones are of no use to the service).
pub async fn ensure_feed(
    js: &jetstream::Context,
    feed: &Feed,
    max_age: Duration,
    settings: &NatsSettings,
) -> Result<(), BusError> {
    let config = stream::Config {
        name: feed.name.to_string(),
        subjects: vec![feed.subjects()],
        description: Some(format!("inputs civicgrid {} takes in ({})", feed.service, (feed.message)())),
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::Limits,
        max_age,
        duplicate_window: Duration::from_secs(settings.duplicate_window_secs).min(max_age.max(Duration::from_secs(1))),
        num_replicas: settings.stream_replicas.max(1),
        ..Default::default()
    };
    js.create_or_update_stream(config).await.map_err(|e| BusError::JetStream(format!("stream {}: {e}", feed.name)))?;
    Ok(())
}

/// Ensures the feed's stream and durable consumer, then applies its batches of up to
/// `options.batch` messages with `handler` until `shutdown` (the batch in hand is finished
/// first).
pub async fn run_feed<H: FeedHandler>(
    js: jetstream::Context,
    feed: Feed,
    options: FeedOptions,
    handler: H,
    settings: (&BusSettings, &NatsSettings),
    metrics: Metrics,
    shutdown: Shutdown,
) -> Result<JoinHandle<()>, BusError> {
    let (bus, nats) = settings;
    ensure_feed(&js, &feed, options.max_age, nats).await?;
    metrics.bus().declare_consumer(feed.durable);
    {
        let (js, m) = (js.clone(), metrics.clone());
        metrics
            .on_scrape(move || {
                let (js, metrics) = (js.clone(), m.clone());
                async move {
                    if let Ok(mut consumer) =
                        js.get_consumer_from_stream::<pull::Config, _, _>(feed.durable, feed.name).await
                        && let Ok(info) = consumer.info().await
                    {
                        metrics.bus().set_lag(feed.durable, info.num_pending);
                    }
                }
            })
            .await;
    }
    let batch = options.batch.max(1);
    let config = pull::Config {
        durable_name: Some(feed.durable.to_string()),
        ack_policy: jetstream::consumer::AckPolicy::Explicit,
        ack_wait: Duration::from_secs(bus.ack_wait_secs.max(1)),
        max_deliver: -1,
        max_ack_pending: (batch as i64 * 4).max(10_000),
        ..Default::default()
    };
    let stream =
        js.get_stream(feed.name).await.map_err(|e| BusError::JetStream(format!("stream {}: {e}", feed.name)))?;
    let consumer: jetstream::consumer::Consumer<pull::Config> = stream
        .get_or_create_consumer(feed.durable, config)
        .await
        .map_err(|e| BusError::JetStream(format!("consumer {}: {e}", feed.durable)))?;
    let runner = FeedRunner { js, feed, handler, settings: bus.clone(), metrics };
    Ok(tokio::spawn(async move { runner.run(consumer, batch, shutdown).await }))
}

/// How long a batch waits for more messages once it has one: at most this much latency added
/// to a fix under light load, and full batches under heavy load.
const LINGER: Duration = Duration::from_millis(5);

struct FeedRunner<H> {
    js: jetstream::Context,
    feed: Feed,
    handler: H,
    settings: BusSettings,
    metrics: Metrics,
}

impl<H: FeedHandler> FeedRunner<H> {
    async fn run(&self, consumer: jetstream::consumer::Consumer<pull::Config>, batch: usize, shutdown: Shutdown) {
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
                    tracing::warn!(error = %e, durable = %self.feed.durable, "feed stream failed; retrying");
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
                // A batch costs a commit whatever its size, and what is ready at one poll is
                // cut short by tokio's cooperative budget (a few dozen messages), which would
                // make the commits, not the work, set the rate: wait up to LINGER for more.
                let (msgs, ended) = super::inbox::gather(first, &mut messages, batch, LINGER).await;
                if !msgs.is_empty() {
                    self.process(msgs, &shutdown).await;
                }
                if ended {
                    continue 'outer;
                }
            }
        }
        tracing::info!(durable = %self.feed.durable, "feed consumer stopped");
    }

    async fn process(&self, msgs: Vec<jetstream::Message>, shutdown: &Shutdown) {
        let incoming: Vec<Incoming> = msgs.iter().map(Incoming::from_jetstream).collect();
        let again = incoming.iter().filter(|i| i.delivered > 1).count() as u64;
        self.metrics.bus().delivered_many(self.feed.durable, incoming.len() as u64, again);
        let mut result = self.handler.apply(&incoming).await;
        let mut attempt = 1;
        while let Err(HandleError::Unavailable(reason)) = &result {
            // Kept in hand and retried in order: a nak would let JetStream redeliver these after
            // newer messages, and a feed's handler may refuse what arrives out of order (a
            // position older than the member's last). Progress acks keep them from timing out.
            let keep_alive = Duration::from_secs((self.settings.ack_wait_secs / 2).max(1));
            let delay = self.retry_delay(attempt).min(keep_alive);
            tracing::warn!(%reason, ?delay, "database unavailable; feed batch held and retried");
            futures::future::join_all(msgs.iter().map(|m| m.ack_with(AckKind::Progress))).await;
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                // Left unacknowledged: JetStream redelivers them, in order, after ack_wait.
                _ = shutdown.cancelled() => return,
            }
            attempt += 1;
            result = self.handler.apply(&incoming).await;
        }
        match result {
            Ok(poison) => self.settle(&msgs, &incoming, &poison).await,
            Err(e) if msgs.len() > 1 => {
                tracing::debug!(error = %e, "feed batch failed; applying its messages one by one");
                for (m, inc) in msgs.iter().zip(&incoming) {
                    self.process_one(m, inc).await;
                }
            }
            Err(e) => {
                if let (Some(m), Some(inc)) = (msgs.first(), incoming.first()) {
                    self.failed(m, inc, e).await;
                }
            }
        }
    }

    async fn process_one(&self, m: &jetstream::Message, inc: &Incoming) {
        match self.handler.apply(std::slice::from_ref(inc)).await {
            Ok(poison) => self.settle(std::slice::from_ref(m), std::slice::from_ref(inc), &poison).await,
            Err(e) => self.failed(m, inc, e).await,
        }
    }

    /// Dead-letters the poison, acks the rest.
    async fn settle(&self, msgs: &[jetstream::Message], incoming: &[Incoming], poison: &[Poison]) {
        for p in poison {
            if let (Some(m), Some(inc)) = (msgs.get(p.index), incoming.get(p.index)) {
                self.dead_letter(inc.delivered).send(m, inc, &p.reason).await;
            }
        }
        let acks = msgs.iter().enumerate().filter(|(i, _)| !poison.iter().any(|p| p.index == *i)).map(|(_, m)| m.ack());
        for r in futures::future::join_all(acks).await {
            if let Err(e) = r {
                tracing::warn!(error = %e, "feed ack failed; the message will be redelivered and change nothing");
            }
        }
    }

    async fn failed(&self, m: &jetstream::Message, inc: &Incoming, e: HandleError) {
        match e {
            HandleError::Permanent(reason) => self.dead_letter(inc.delivered).send(m, inc, &reason).await,
            HandleError::Transient(reason) if inc.delivered >= self.settings.max_deliver => {
                let reason = format!("gave up after {} deliveries: {reason}", inc.delivered);
                self.dead_letter(inc.delivered).send(m, inc, &reason).await
            }
            HandleError::Transient(reason) | HandleError::Unavailable(reason) => {
                let delay = self.retry_delay(inc.delivered);
                tracing::warn!(%reason, delivered = inc.delivered, ?delay, "feed message failed; will retry");
                let _ = m.ack_with(AckKind::Nak(Some(delay))).await;
            }
        }
    }

    fn dead_letter(&self, delivered: i64) -> DeadLetter<'_> {
        DeadLetter {
            js: &self.js,
            metrics: &self.metrics,
            durable: self.feed.durable,
            subject: self.feed.deadletter_subject(),
            retry: self.retry_delay(delivered),
        }
    }

    fn retry_delay(&self, delivered: i64) -> Duration {
        let base = Duration::from_millis(self.settings.retry_backoff_ms.max(1));
        (base * 2u32.saturating_pow((delivered.max(1) - 1).min(10) as u32)).min(Duration::from_secs(60))
    }
}
