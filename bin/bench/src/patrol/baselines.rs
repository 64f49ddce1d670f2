//! What the patrol bench measures beside patrol: JetStream and PostgreSQL on their own with the
//! same messages and rows, publishing with a window of acks, waiting for a durable to drain,
//! and patrol's counters read from its metrics endpoint.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use async_nats::jetstream::{self, stream};
use civicgrid_proto::v1::PositionFix;
use futures::StreamExt;
use prost::Message;
use sqlx::{Connection, Executor, PgConnection};

/// Rows per batch in the PostgreSQL baselines.
const BATCH: usize = 1_000;

/// Publishes every (subject, payload) with `window` acks outstanding; returns the seconds it
/// took, all acks in.
pub async fn publish(js: &jetstream::Context, fixes: &[(String, bytes::Bytes)], window: usize) -> Result<f64> {
    Ok(publish_paced(js, fixes, window, 0).await?.0)
}

/// As [`publish`], at most `rate` a second (0: as fast as acks allow); also returns when each
/// fix was published.
pub async fn publish_paced(
    js: &jetstream::Context,
    fixes: &[(String, bytes::Bytes)],
    window: usize,
    rate: u32,
) -> Result<(f64, Vec<Instant>)> {
    let started = Instant::now();
    let mut published = Vec::with_capacity(fixes.len());
    let mut acks = futures::stream::FuturesUnordered::new();
    for (j, (subject, payload)) in fixes.iter().enumerate() {
        if rate > 0 && j % 100 == 0 {
            let due = started + Duration::from_secs_f64(j as f64 / f64::from(rate));
            tokio::time::sleep_until(due.into()).await;
        }
        published.push(Instant::now());
        let ack = js.publish(subject.clone(), payload.clone()).await.map_err(|e| anyhow::anyhow!("publish: {e}"))?;
        acks.push(ack.into_future());
        while acks.len() >= window {
            if let Some(r) = acks.next().await {
                r.map_err(|e| anyhow::anyhow!("publish ack: {e}"))?;
            }
        }
    }
    while let Some(r) = acks.next().await {
        r.map_err(|e| anyhow::anyhow!("publish ack: {e}"))?;
    }
    Ok((started.elapsed().as_secs_f64(), published))
}

/// The fixes published to a scratch stream shaped like patrol's feed (file storage, limits);
/// returns acked messages per second. The stream is deleted afterwards.
pub async fn jetstream(nats_url: &str, fixes: &[(String, bytes::Bytes)], window: usize) -> Result<f64> {
    let client = async_nats::connect(nats_url).await.context("connecting to NATS")?;
    let js = jetstream::new(client);
    let name = "CIVICGRID_BENCH_POSITIONS";
    let _ = js.delete_stream(name).await;
    js.create_stream(stream::Config {
        name: name.into(),
        subjects: vec!["bench.position.>".into()],
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::Limits,
        max_age: Duration::from_secs(3600),
        num_replicas: 1,
        ..Default::default()
    })
    .await
    .map_err(|e| anyhow::anyhow!("creating {name}: {e}"))?;
    let renamed: Vec<(String, bytes::Bytes)> =
        fixes.iter().map(|(s, p)| (s.replacen("civicgrid.patrol.position", "bench.position", 1), p.clone())).collect();
    let secs = publish(&js, &renamed, window).await?;
    let _ = js.delete_stream(name).await;
    Ok(fixes.len() as f64 / secs)
}

/// The fixes decoded into rows (member, time, latitude, longitude, accuracy).
struct Rows {
    member: Vec<String>,
    at: Vec<chrono::DateTime<chrono::Utc>>,
    lat: Vec<f64>,
    lng: Vec<f64>,
    accuracy: Vec<f32>,
}

fn rows(fixes: &[(String, bytes::Bytes)]) -> Rows {
    let mut r = Rows { member: vec![], at: vec![], lat: vec![], lng: vec![], accuracy: vec![] };
    for (_, payload) in fixes {
        let Ok(fix) = PositionFix::decode(payload.clone()) else { continue };
        let point = fix.point.unwrap_or_default();
        r.member.push(fix.member_id);
        r.at.push(fix.at.as_ref().and_then(civicgrid_kit::time::from_proto).unwrap_or_default());
        r.lat.push(point.latitude);
        r.lng.push(point.longitude);
        r.accuracy.push(fix.accuracy_m);
    }
    r
}

/// The rows inserted into a scratch table keyed like a track store (member, time), in batches
/// of [`BATCH`], one transaction each: first with `INSERT … SELECT FROM UNNEST(…) ON CONFLICT
/// DO NOTHING`, then with `COPY … FROM STDIN` into a fresh table; rows per second of each.
pub async fn postgres(db_url: &str, fixes: &[(String, bytes::Bytes)]) -> Result<(f64, f64)> {
    let r = rows(fixes);
    let mut conn = PgConnection::connect(db_url).await.context("connecting to the bench database")?;
    let table = "CREATE TABLE {t} (member_id text NOT NULL, at timestamptz NOT NULL, lat float8 NOT NULL, \
                 lng float8 NOT NULL, accuracy_m real NOT NULL, PRIMARY KEY (member_id, at))";
    let create = format!("DROP TABLE IF EXISTS bench_fixes_unnest; {}", table.replace("{t}", "bench_fixes_unnest"));
    sqlx::raw_sql(sqlx::AssertSqlSafe(create)).execute(&mut conn).await?;
    let started = Instant::now();
    for start in (0..r.member.len()).step_by(BATCH) {
        let end = (start + BATCH).min(r.member.len());
        let mut tx = conn.begin().await?;
        sqlx::query(
            "INSERT INTO bench_fixes_unnest (member_id, at, lat, lng, accuracy_m) \
             SELECT * FROM UNNEST($1::text[], $2::timestamptz[], $3::float8[], $4::float8[], $5::real[]) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&r.member[start..end])
        .bind(&r.at[start..end])
        .bind(&r.lat[start..end])
        .bind(&r.lng[start..end])
        .bind(&r.accuracy[start..end])
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
    }
    let unnest = r.member.len() as f64 / started.elapsed().as_secs_f64();

    let create = format!("DROP TABLE IF EXISTS bench_fixes_copy; {}", table.replace("{t}", "bench_fixes_copy"));
    sqlx::raw_sql(sqlx::AssertSqlSafe(create)).execute(&mut conn).await?;
    let started = Instant::now();
    for start in (0..r.member.len()).step_by(BATCH) {
        let end = (start + BATCH).min(r.member.len());
        let mut text = String::with_capacity((end - start) * 64);
        for i in start..end {
            text.push_str(&format!(
                "{}\t{}\t{}\t{}\t{}\n",
                r.member[i],
                r.at[i].to_rfc3339(),
                r.lat[i],
                r.lng[i],
                r.accuracy[i]
            ));
        }
        let mut tx = conn.begin().await?;
        let mut copy = tx.copy_in_raw("COPY bench_fixes_copy FROM STDIN").await?;
        copy.send(text.into_bytes()).await?;
        copy.finish().await?;
        tx.commit().await?;
    }
    let copy = r.member.len() as f64 / started.elapsed().as_secs_f64();
    conn.execute("DROP TABLE bench_fixes_unnest; DROP TABLE bench_fixes_copy").await?;
    conn.close().await.ok();
    Ok((unnest, copy))
}

/// Waits until durable `durable` on `stream` has delivered everything and has no ack pending;
/// returns the seconds waited.
pub async fn wait_drained(js: &jetstream::Context, stream: &str, durable: &str, limit: Duration) -> Result<f64> {
    let started = Instant::now();
    let s = js.get_stream(stream).await.map_err(|e| anyhow::anyhow!("stream {stream}: {e}"))?;
    loop {
        let mut consumer: jetstream::consumer::PullConsumer =
            s.get_consumer(durable).await.map_err(|e| anyhow::anyhow!("consumer {durable}: {e}"))?;
        let info = consumer.info().await.map_err(|e| anyhow::anyhow!("consumer info: {e}"))?;
        if info.num_pending == 0 && info.num_ack_pending == 0 {
            return Ok(started.elapsed().as_secs_f64());
        }
        anyhow::ensure!(
            started.elapsed() < limit,
            "{durable} still has {} pending and {} unacknowledged after {limit:?}",
            info.num_pending,
            info.num_ack_pending
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// patrol's counters, from its metrics endpoint.
#[derive(Default)]
pub struct Counts {
    /// Fixes accepted.
    pub accepted: u64,
    /// Fixes rejected, by reason.
    pub rejected: BTreeMap<String, u64>,
    /// Check-ins made.
    pub check_ins: u64,
    /// Ingest batches applied, and the seconds they took in all.
    pub batches: (u64, f64),
}

impl Counts {
    /// Reads the counters now.
    pub async fn scrape(addr: SocketAddr) -> Counts {
        let scrape = civicgrid_dev::testing::metrics::scrape(addr).await;
        let mut counts = Counts {
            accepted: scrape.value("civicgrid_patrol_fixes_accepted_total", &[]).unwrap_or(0.0) as u64,
            ..Default::default()
        };
        counts.batches = (
            scrape.value("civicgrid_patrol_ingest_batch_seconds_count", &[]).unwrap_or(0.0) as u64,
            scrape.value("civicgrid_patrol_ingest_batch_seconds_sum", &[]).unwrap_or(0.0),
        );
        for method in ["inside", "crossing", "qr_code", "photo"] {
            counts.check_ins +=
                scrape.value("civicgrid_patrol_check_ins_total", &[("method", method)]).unwrap_or(0.0) as u64;
        }
        for reason in civicgrid_patrol::metrics::REJECT_REASONS {
            let n = scrape.value("civicgrid_patrol_fixes_rejected_total", &[("reason", reason)]).unwrap_or(0.0) as u64;
            if n > 0 {
                counts.rejected.insert(reason.into(), n);
            }
        }
        counts
    }

    /// The rejections since `before`, by reason.
    pub fn rejected_line(&self, before: &Counts) -> String {
        let parts: Vec<String> = self
            .rejected
            .iter()
            .filter_map(|(reason, n)| {
                let d = n.saturating_sub(before.rejected.get(reason).copied().unwrap_or(0));
                (d > 0).then(|| format!("{reason} {d}"))
            })
            .collect();
        if parts.is_empty() { "none".into() } else { parts.join(", ") }
    }
}
