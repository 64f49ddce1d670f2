//! Raw baselines measured in the same run: the disk's fsync rate, PostgreSQL committing one
//! small row per transaction, and JetStream acknowledging published messages.

use std::{
    io::{Seek, SeekFrom, Write},
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use async_nats::jetstream::{self, message::PublishMessage, stream};
use hdrhistogram::Histogram;
use sqlx::{Connection, Executor, PgConnection};
use uuid::Uuid;

use crate::stats::{self, Errors};

/// What a closed-loop phase produced.
pub struct Closed {
    /// Operations that succeeded.
    pub ok: u64,
    /// Seconds from the first start to the deadline (or the last completion, if later).
    pub secs: f64,
    /// Latency of each successful operation.
    pub hist: Histogram<u64>,
    /// Failures.
    pub errors: Errors,
}

impl Closed {
    /// Successful operations per second.
    pub fn rate(&self) -> f64 {
        stats::per_sec(self.ok, self.secs)
    }
}

/// Bytes that do not compress, so the payload costs what its length says.
pub fn payload(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// One thread writing 4 KiB at the same offset of a file in `dir` and `fdatasync`ing it, for
/// `duration`: the rate at which the disk makes a write durable, the ceiling of any commit that
/// waits for its own flush.
pub fn disk_fsync(dir: &Path, duration: Duration) -> Result<Closed> {
    let path = dir.join("civicgrid-bench-fsync.probe");
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    let block = payload(4096, 7);
    file.write_all(&block)?;
    file.sync_all()?;
    let mut hist = stats::histogram();
    let start = Instant::now();
    let mut ok = 0u64;
    while start.elapsed() < duration {
        let t = Instant::now();
        file.seek(SeekFrom::Start(0))?;
        file.write_all(&block)?;
        file.sync_data()?;
        stats::record(&mut hist, t.elapsed());
        ok += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    drop(file);
    let _ = std::fs::remove_file(&path);
    Ok(Closed { ok, secs, hist, errors: Errors::default() })
}

/// `threads` threads, each doing what [`disk_fsync`] does on a file of its own: whether the
/// disk completes flushes in parallel (then several independent logs, e.g. several streams,
/// would each get the single-thread rate).
pub fn disk_fsync_parallel(dir: &Path, threads: usize, duration: Duration) -> Result<Closed> {
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            let dir = dir.join(format!("civicgrid-bench-fsync-{i}"));
            std::thread::spawn(move || -> Result<Closed> {
                std::fs::create_dir_all(&dir)?;
                let r = disk_fsync(&dir, duration);
                let _ = std::fs::remove_dir_all(&dir);
                r
            })
        })
        .collect();
    let mut total = Closed { ok: 0, secs: 0.0, hist: stats::histogram(), errors: Errors::default() };
    for h in handles {
        let r = h.join().map_err(|_| anyhow::anyhow!("an fsync thread panicked"))??;
        total.ok += r.ok;
        total.secs = total.secs.max(r.secs);
        total.hist.add(&r.hist).ok();
    }
    Ok(total)
}

/// `concurrency` connections, each looping `BEGIN; INSERT one row with a 500-byte payload;
/// COMMIT` for `duration`.
pub async fn raw_postgres(db_url: &str, concurrency: usize, duration: Duration) -> Result<Closed> {
    raw_postgres_rows(db_url, concurrency, duration, 1).await
}

/// As [`raw_postgres`] with `rows` inserts per transaction, each into a table of its own
/// (`bench_rows`, `bench_rows_2`, …): two rows are what a service's state change plus its
/// outbox row cost, the ceiling of a transactional-outbox write.
pub async fn raw_postgres_rows(db_url: &str, concurrency: usize, duration: Duration, rows: usize) -> Result<Closed> {
    let rows = rows.max(1);
    let table = |r: usize| if r == 0 { "bench_rows".to_string() } else { format!("bench_rows_{}", r + 1) };
    let mut setup = PgConnection::connect(db_url).await.context("connecting to the bench database")?;
    for r in 0..rows {
        let sql = format!("CREATE TABLE IF NOT EXISTS {} (id uuid PRIMARY KEY, payload bytea NOT NULL)", table(r));
        setup.execute(sqlx::AssertSqlSafe(sql)).await.with_context(|| format!("creating {}", table(r)))?;
    }
    setup.close().await.ok();
    let inserts: Vec<String> =
        (0..rows).map(|r| format!("INSERT INTO {} (id, payload) VALUES ($1, $2)", table(r))).collect();
    let mut conns = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        conns.push(PgConnection::connect(db_url).await.context("opening a baseline connection")?);
    }
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::with_capacity(concurrency);
    for (w, mut conn) in conns.into_iter().enumerate() {
        let inserts = inserts.clone();
        tasks.push(tokio::spawn(async move {
            let body = payload(500, w as u64 + 1);
            let mut hist = stats::histogram();
            let mut errors = Errors::default();
            let mut ok = 0u64;
            while Instant::now() < deadline {
                let t = Instant::now();
                let result = async {
                    let mut tx = conn.begin().await?;
                    for insert in &inserts {
                        sqlx::query(sqlx::AssertSqlSafe(insert.as_str()))
                            .bind(Uuid::now_v7())
                            .bind(&body[..])
                            .execute(&mut *tx)
                            .await?;
                    }
                    tx.commit().await
                }
                .await;
                match result {
                    Ok(()) => {
                        ok += 1;
                        stats::record(&mut hist, t.elapsed());
                    }
                    Err(e) => errors.add("database", e),
                }
            }
            conn.close().await.ok();
            (ok, hist, errors, Instant::now())
        }));
    }
    collect(tasks, start, duration).await
}

/// What a worker hands back: successes, their latencies, failures, when it finished.
pub type WorkerResult = (u64, Histogram<u64>, Errors, Instant);

/// Sums the workers of a closed loop that started at `start` and ran for `duration`.
pub async fn collect(
    tasks: Vec<tokio::task::JoinHandle<WorkerResult>>,
    start: Instant,
    duration: Duration,
) -> Result<Closed> {
    let mut total = Closed { ok: 0, secs: duration.as_secs_f64(), hist: stats::histogram(), errors: Errors::default() };
    let mut last = start + duration;
    for t in tasks {
        let (ok, hist, errors, done) = t.await.context("a worker panicked")?;
        total.ok += ok;
        total.hist.add(&hist).ok();
        total.errors.merge(errors);
        last = last.max(done);
    }
    // Operations that started before the deadline and finished after it count in full.
    total.secs = last.duration_since(start).as_secs_f64();
    Ok(total)
}

/// JetStream baseline streams: file storage, the duplicate window intake's stream has, each on
/// a subject of its own. Deleted by [`BenchStreams::delete`].
pub struct BenchStreams {
    js: jetstream::Context,
    /// (name, subject) of each stream.
    streams: Vec<(String, String)>,
}

impl BenchStreams {
    /// Creates `count` streams.
    pub async fn create(
        nats_url: &str,
        count: usize,
        duplicate_window: Duration,
        max_age: Duration,
    ) -> Result<BenchStreams> {
        let client = async_nats::connect(nats_url).await.context("connecting to NATS")?;
        BenchStreams::create_on(jetstream::new(client), count, duplicate_window, max_age).await
    }

    /// Creates `count` streams through `js` (a connection logged in as a user who may create
    /// streams, such as `civicgrid up`'s operator).
    pub async fn create_on(
        js: jetstream::Context,
        count: usize,
        duplicate_window: Duration,
        max_age: Duration,
    ) -> Result<BenchStreams> {
        let mut streams = Vec::with_capacity(count);
        for _ in 0..count.max(1) {
            let suffix = Uuid::now_v7().simple().to_string()[20..].to_string();
            let name = format!("CIVICGRID_BENCH_{}", suffix.to_ascii_uppercase());
            js.create_stream(stream::Config {
                name: name.clone(),
                subjects: vec![format!("civicgrid.bench.{suffix}.>")],
                description: Some("civicgrid-bench raw JetStream baseline (deleted after the run)".into()),
                storage: stream::StorageType::File,
                retention: stream::RetentionPolicy::Limits,
                max_age,
                duplicate_window,
                num_replicas: 1,
                ..Default::default()
            })
            .await
            .map_err(|e| anyhow::anyhow!("creating stream {name}: {e}"))?;
            streams.push((name, format!("civicgrid.bench.{suffix}.raw")));
        }
        Ok(BenchStreams { js, streams })
    }

    /// `window` publishers on one connection, spread over the streams, each publishing a
    /// 500-byte message with a `Nats-Msg-Id` and awaiting its ack, for `duration`: `window`
    /// publishes are in flight.
    pub async fn publish_loop(&self, window: usize, duration: Duration) -> Result<Closed> {
        let start = Instant::now();
        let deadline = start + duration;
        let mut tasks = Vec::with_capacity(window);
        for w in 0..window {
            let js = self.js.clone();
            let subject = self.streams[w % self.streams.len()].1.clone();
            tasks.push(tokio::spawn(async move {
                let body = bytes::Bytes::from(payload(500, 1000 + w as u64));
                let mut hist = stats::histogram();
                let mut errors = Errors::default();
                let mut ok = 0u64;
                while Instant::now() < deadline {
                    let t = Instant::now();
                    let message = PublishMessage::build().payload(body.clone()).message_id(Uuid::now_v7().to_string());
                    match js.send_publish(subject.clone(), message).await {
                        Ok(ack) => match ack.await {
                            Ok(ack) if !ack.duplicate => {
                                ok += 1;
                                stats::record(&mut hist, t.elapsed());
                            }
                            Ok(_) => errors.add("duplicate", "a unique message id was taken for a duplicate"),
                            Err(e) => errors.add("ack", e),
                        },
                        Err(e) => errors.add("publish", e),
                    }
                }
                (ok, hist, errors, Instant::now())
            }));
        }
        collect(tasks, start, duration).await
    }

    /// Average stored size of the messages, in bytes.
    pub async fn average_size(&self) -> Option<f64> {
        let (mut messages, mut bytes) = (0u64, 0u64);
        for (name, _) in &self.streams {
            let mut s = self.js.get_stream(name).await.ok()?;
            let info = s.info().await.ok()?;
            messages += info.state.messages;
            bytes += info.state.bytes;
        }
        (messages > 0).then(|| bytes as f64 / messages as f64)
    }

    /// Deletes the streams.
    pub async fn delete(self) {
        for (name, _) in &self.streams {
            let _ = self.js.delete_stream(name).await;
        }
    }
}
