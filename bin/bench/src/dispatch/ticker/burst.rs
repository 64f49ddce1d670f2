//! The ticker's burst: the first instant at which many tasks change colour together, drained
//! by one or more ticker loops while kit's relay publishes what they write to JetStream.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use civicgrid_dispatch::store::{Store, facts, inspect};
use civicgrid_kit::{bus::OutboxSignal, config::BusSettings};
use sqlx::PgPool;

use super::{
    Burst, TickerParams,
    phases::{drain, fact_delta},
};
use crate::{
    probe::Probe,
    stats::{self, Latency, int},
};

/// `t` in the calendar's time zone (UTC+08:00).
pub fn local(t: DateTime<Utc>) -> String {
    t.with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("+08"))
        .format("%a %Y-%m-%d %H:%M:%S%.3f +08")
        .to_string()
}

/// Publishes the whole outbox as dispatch's relay does; returns how many.
async fn relay_all(pool: &PgPool, js: &async_nats::jetstream::Context, bus: &BusSettings) -> Result<u64> {
    let n =
        civicgrid_kit::bus::outbox::relay_pending(pool, js, bus.relay_batch_size, bus.relay_batches_in_flight, None)
            .await
            .context("relaying the outbox")?;
    Ok(n as u64)
}

/// Messages in dispatch's stream.
async fn stream_messages(js: &async_nats::jetstream::Context) -> Result<u64> {
    let name = civicgrid_kit::bus::stream_name(civicgrid_dispatch::SERVICE);
    let mut stream = js.get_stream(&name).await.map_err(|e| anyhow::anyhow!("stream {name}: {e}"))?;
    Ok(stream.info().await.map_err(|e| anyhow::anyhow!("stream {name} info: {e}"))?.state.messages)
}

/// The first instant at which at least `min_size` tasks change colour together: everything
/// due before it is drained untimed (and its messages published), then `params.replicas`
/// ticker loops drain the instant together, timed, while kit's relay (woken by the store after
/// each commit, as in dispatch) publishes what they write to JetStream.
pub(super) async fn burst(
    store: &Arc<Store>,
    pool: &PgPool,
    probe: &Probe,
    params: &TickerParams,
    min_size: i64,
    js: &async_nats::jetstream::Context,
    signal: &OutboxSignal,
) -> Result<Option<Burst>> {
    let batch = params.batch;
    let found = inspect::first_shared_change(pool, min_size).await?;
    let Some((at, size)) = found else {
        crate::field("burst", format!("no instant with {min_size} or more tasks"));
        return Ok(None);
    };
    let before = inspect::count_due_before(pool, at).await?;
    if before > 300_000 {
        crate::field("burst", format!("{size} tasks at {}, but {before} are due before it: skipped", local(at)));
        return Ok(None);
    }
    drain(store, at - chrono::Duration::milliseconds(1), batch, Duration::from_secs(1800)).await?;
    let earlier = relay_all(pool, js, &params.bus).await?;
    crate::field("burst", format!("{} earlier messages published to JetStream first (untimed)", int(earlier)));
    let facts0 = facts::counts_by_fact(pool).await?;
    let cpu0 = probe.snapshot();
    let cap = Duration::from_secs(180);
    let start = Instant::now();
    // The relay runs alongside, as in dispatch: woken by each committed round.
    let messages0 = stream_messages(js).await?;
    let stop = civicgrid_kit::Shutdown::new();
    let relay = civicgrid_kit::bus::spawn_relay(
        pool.clone(),
        js.clone(),
        signal.clone(),
        &params.bus,
        civicgrid_kit::metrics::Metrics::new("dispatch"),
        stop.clone(),
    );
    let loops = (0..params.replicas.max(1)).map(|_| drain(store, at, batch, cap));
    let drains = futures::future::join_all(loops).await;
    let secs = start.elapsed().as_secs_f64();
    let cpu1 = probe.snapshot();
    let (mut visited, mut rounds) = (0u64, Vec::new());
    for d in drains {
        let (v, r) = d?;
        visited += v;
        rounds.extend(r);
    }
    // The last warning is on the bus when the relay has deleted the last row (after its ack).
    let mut relayed: Result<(u64, std::time::Duration)> = Err(anyhow::anyhow!("the outbox was not emptied in 180 s"));
    while start.elapsed() < cap {
        if civicgrid_kit::bus::outbox::pending_count(pool).await? == 0 {
            let elapsed = start.elapsed();
            relayed = Ok((stream_messages(js).await?.saturating_sub(messages0), elapsed));
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    stop.cancel();
    relay.await.context("relay task")?;
    if let Err(e) = &relayed {
        crate::field("burst", format!("the relay failed: {e:#}"));
    }
    let mut hist = stats::histogram();
    for r in &rounds {
        stats::record(&mut hist, *r);
    }
    let b = Burst {
        at,
        size,
        before,
        visited,
        secs,
        rounds: rounds.len(),
        hist,
        facts: fact_delta(&facts0, facts::counts_by_fact(pool).await?),
        usage: probe.usage(&cpu0, &cpu1),
        capped: start.elapsed() > cap,
        replicas: params.replicas.max(1),
        batch,
        published: relayed.as_ref().map(|r| r.0).unwrap_or(0),
        published_secs: relayed.as_ref().ok().map(|r| r.1.as_secs_f64()),
    };
    crate::field(
        "burst",
        format!(
            "{} tasks change colour at {} ({} due before it, drained first); {} ticker loop(s) took {:.2} s over {} rounds ({}); {} messages on JetStream after {}{}",
            int(size as u64),
            local(at),
            int(before as u64),
            b.replicas,
            b.secs,
            b.rounds,
            Latency::of(&b.hist).line(),
            int(b.published),
            b.published_secs.map(|s| format!("{s:.2} s")).unwrap_or_else(|| "— (relay failed)".into()),
            if b.capped { " — STOPPED at the time cap" } else { "" }
        ),
    );
    Ok(Some(b))
}
