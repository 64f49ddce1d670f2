//! How long patrol takes to decide a check-in: from the moment the fix that made it was
//! published to the moment its `checkpoint-checked-in` fact arrives on the bus (ingest,
//! transaction, outbox relay, JetStream — everything a supervisor's screen waits for).

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use civicgrid_proto::v1::PatrolEvent;
use futures::StreamExt;
use prost::Message;
use tokio::task::JoinHandle;

use super::city::{self, Shape};
use crate::stats::{self, Latency};

/// A subscription collecting check-in facts as they arrive.
pub struct Watch {
    task: JoinHandle<Vec<(Instant, PatrolEvent)>>,
    stop: civicgrid_kit::Shutdown,
}

impl Watch {
    /// Subscribes to every check-in fact before the fixes are published.
    pub async fn start(nats_url: &str) -> Result<Watch> {
        let client = async_nats::connect(nats_url).await.context("connecting to NATS")?;
        let mut sub = client.subscribe("civicgrid.patrol.checkpoint-checked-in.>").await?;
        client.flush().await?;
        let stop = civicgrid_kit::Shutdown::new();
        let s = stop.clone();
        let task = tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                tokio::select! {
                    m = sub.next() => match m {
                        Some(m) => if let Ok(e) = PatrolEvent::decode(m.payload) { got.push((Instant::now(), e)) },
                        None => break,
                    },
                    _ = s.cancelled() => break,
                }
            }
            drop(client);
            got
        });
        Ok(Watch { task, stop })
    }

    /// Waits `settle` for the last facts (the outbox relay publishes them after the commit),
    /// then returns what arrived.
    pub async fn finish(self, settle: Duration) -> Result<Vec<(Instant, PatrolEvent)>> {
        tokio::time::sleep(settle).await;
        self.stop.cancel();
        Ok(self.task.await?)
    }
}

/// The latency of each check-in: its arrival minus the publish time of the fix that made it
/// (fix `i` of the fact's member, `i` the first fix at or after the fact's `occurred_at`).
pub fn latencies(
    facts: &[(Instant, PatrolEvent)],
    shape: Shape,
    start: chrono::DateTime<chrono::Utc>,
    published: &[Instant],
) -> (Latency, usize) {
    let mut hist = stats::histogram();
    let mut unmatched = 0;
    let members = shape.members();
    for (arrived, e) in facts {
        let at = e.occurred_at.as_ref().and_then(civicgrid_kit::time::from_proto);
        let (Some(n), Some(at)) = (city::member_index(&e.member_id, shape.members_per_team), at) else {
            unmatched += 1;
            continue;
        };
        let secs = (at - start).num_milliseconds() as f64 / 1000.0 / city::FIX_EVERY_SECS as f64;
        let i = (secs - 1e-6).ceil().max(0.0) as usize;
        match published.get(i.min(shape.fixes_per_member - 1) * members + n) {
            Some(p) if arrived >= p => stats::record(&mut hist, arrived.duration_since(*p)),
            _ => unmatched += 1,
        }
    }
    (Latency::of(&hist), unmatched)
}
