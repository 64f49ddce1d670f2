//! The bus side of the console bench: the four streams as the services create them, the facts
//! published with a window of acks, and the raw baselines — an ordered consumer alone draining
//! dispatch's stream (nothing else; then decoding each `TaskEvent`; then folding it into the
//! console's own read model, without its lock, feed or HTTP server).

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use async_nats::jetstream::{
    self,
    consumer::{DeliverPolicy, pull::OrderedConfig},
};
use civicgrid_console::{follow, projection::State};
use civicgrid_contracts::{dispatch, stream_name, stream_of};
use futures::StreamExt;

use super::facts::Plan;

/// Creates the services' four streams as each service does at start (`bus::ensure_streams`:
/// `CIVICGRID_<SERVICE>` on `civicgrid.<service>.>`, file storage, limits, the configured age).
pub async fn create_streams(js: &jetstream::Context, nats: &civicgrid_kit::config::NatsSettings) -> Result<()> {
    for service in follow::SERVICES {
        let stream = stream_of(service).with_context(|| format!("no stream for {service}"))?;
        civicgrid_kit::bus::ensure_streams(js, stream, nats)
            .await
            .with_context(|| format!("creating {service}'s stream"))?;
    }
    Ok(())
}

/// Publishes every fact of `plan` in order with `window` acks outstanding; returns the seconds
/// it took, every ack in.
pub async fn publish(js: &jetstream::Context, plan: &Plan, window: usize) -> Result<f64> {
    let started = Instant::now();
    let mut acks = futures::stream::FuturesUnordered::new();
    for n in 0..plan.facts() {
        let (subject, payload) = plan.fact(n);
        acks.push(js.publish(subject, payload).await.context("publish")?.into_future());
        if acks.len() >= window
            && let Some(ack) = acks.next().await
        {
            ack.context("publish ack")?;
        }
    }
    while let Some(ack) = acks.next().await {
        ack.context("publish ack")?;
    }
    Ok(started.elapsed().as_secs_f64())
}

/// What a baseline drain does with each message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// Nothing: the ordered consumer alone.
    Nothing,
    /// Decodes the `TaskEvent` (the console's `follow::decode`).
    Decode,
    /// Decodes and folds it into a `projection::State` (the console's `State::apply`).
    Fold,
}

impl Work {
    /// What the row of the table says.
    pub fn label(self) -> &'static str {
        match self {
            Work::Nothing => "raw drain",
            Work::Decode => "raw + decode",
            Work::Fold => "raw + decode + fold",
        }
    }
}

/// Drains dispatch's stream from its first message with an ordered consumer on its own
/// connection, as the console's follower does, until `count` messages arrived; returns the
/// seconds from creating the consumer.
pub async fn drain(nats_url: &str, count: usize, work: Work) -> Result<f64> {
    let client = async_nats::connect(nats_url).await.context("connecting to NATS")?;
    let js = jetstream::new(client.clone());
    let started = Instant::now();
    let stream = js.get_stream(stream_name(dispatch::SERVICE)).await.context("dispatch's stream")?;
    let mut messages = stream
        .create_consumer(OrderedConfig {
            deliver_policy: DeliverPolicy::All,
            filter_subject: format!("civicgrid.{}.>", dispatch::SERVICE),
            ..Default::default()
        })
        .await
        .context("creating the ordered consumer")?
        .messages()
        .await
        .context("consuming")?;
    let mut state = State::default();
    let mut folded = 0usize;
    for _ in 0..count {
        let m = tokio::time::timeout(Duration::from_secs(60), messages.next())
            .await
            .context("no message for 60 s")?
            .context("the consumer ended")?
            .map_err(|e| anyhow::anyhow!("consumer: {e}"))?;
        match work {
            Work::Nothing => {}
            Work::Decode => folded += follow::decode(dispatch::SERVICE, &m.subject, &m.payload).is_some() as usize,
            Work::Fold => {
                if let Some(fact) = follow::decode(dispatch::SERVICE, &m.subject, &m.payload) {
                    state.apply(fact);
                    folded += 1;
                }
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(work == Work::Nothing || folded == count, "decoded {folded} of {count} facts");
    drop(state);
    drop(messages);
    client.drain().await.ok();
    Ok(secs)
}

/// The process's resident memory in bytes (`VmRSS` of /proc/self/status).
pub fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: u64 = status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
