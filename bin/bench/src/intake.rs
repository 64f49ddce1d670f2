//! intake built and run in-process as its integration tests do, driven over real gRPC.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use anyhow::{Context, Result};
use async_nats::jetstream;
use civicgrid_intake::{Application, Settings, pii::PiiCipher};
use civicgrid_kit::{Shutdown, clock::Clock, config::DatabaseSettings, telemetry::TelemetryGuard};
use civicgrid_proto::v1::intake_service_client::IntakeServiceClient;
use futures::StreamExt;
use hdrhistogram::Histogram;
use sqlx::PgPool;
use tokio::{sync::Semaphore, task::JoinHandle};
use tonic::transport::{Channel, Endpoint};

use crate::{
    baseline::Closed,
    catalog::Catalog,
    env::Env,
    stats::{self, Errors},
};

/// A running intake and what the bench needs to watch it.
pub struct Running {
    /// Its gRPC address.
    pub addr: SocketAddr,
    /// The settings it was built with.
    pub settings: Settings,
    /// gRPC channels to it (one per 8 workers).
    pub channels: Vec<Channel>,
    /// A pool on intake's schema (outbox backlog).
    pool: PgPool,
    /// JetStream, through the bench's own connection.
    js: jetstream::Context,
    /// The bench's own NATS connection (observes the bus).
    observer: async_nats::Client,
    /// `CIVICGRID_INTAKE`.
    pub stream: String,
    shutdown: Shutdown,
    handle: JoinHandle<Result<(), civicgrid_kit::runtime::StartError>>,
    _telemetry: TelemetryGuard,
}

/// Messages in a stream and the time its last message was stored (Unix nanoseconds).
async fn stream_state(js: &jetstream::Context, name: &str) -> Result<(u64, i128)> {
    let mut s = js.get_stream(name).await.map_err(|e| anyhow::anyhow!("stream {name}: {e}"))?;
    let info = s.info().await.map_err(|e| anyhow::anyhow!("stream {name} info: {e}"))?;
    Ok((info.state.messages, info.state.last_timestamp.unix_timestamp_nanos()))
}

fn unix_nanos_now() -> i128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i128).unwrap_or(0)
}

/// Group-commit settings that differ from intake's defaults.
#[derive(Debug, Clone, Copy, Default)]
pub struct Batching {
    /// `intake.batch_max`.
    pub max: Option<u32>,
    /// `intake.batch_writers`.
    pub writers: Option<u32>,
}

impl Running {
    /// Builds intake with the settings its tests use (defaults + URLs, a free port, a fresh
    /// PII key, `warn` logs) and `batching`, starts it, and opens `channels` gRPC channels to it.
    pub async fn start(env: &Env, channels: usize, batching: Batching) -> Result<Running> {
        let mut toml = format!(
            "[nats]\nurl = \"{}\"\n[database]\nurl = \"{}\"\n[grpc]\nlisten = \"127.0.0.1:0\"\n[telemetry]\nlog = \"warn\"\n\
             [intake]\npii_key = \"{}\"\n",
            env.nats_url,
            env.db_url,
            PiiCipher::generate_key()
        );
        if let Some(max) = batching.max {
            toml.push_str(&format!("batch_max = {max}\n"));
        }
        if let Some(writers) = batching.writers {
            toml.push_str(&format!("batch_writers = {writers}\n"));
        }
        let settings: Settings =
            <Settings as civicgrid_kit::config::ServiceSettings>::from_layers(&[&toml]).context("intake settings")?;
        let telemetry = civicgrid_kit::telemetry::init("intake-bench", &settings.common.telemetry);
        let app = Application::build(settings.clone(), Clock::System).await.context("building intake")?;
        let addr = app.addr();
        let shutdown = Shutdown::new();
        let handle = tokio::spawn(app.run_until_stopped(shutdown.clone()));
        let mut chans = Vec::with_capacity(channels);
        for _ in 0..channels.max(1) {
            let channel = Endpoint::from_shared(format!("http://{addr}"))?
                .tcp_nodelay(true)
                .connect()
                .await
                .context("connecting to intake over gRPC")?;
            chans.push(channel);
        }
        let pool = civicgrid_kit::db::connect(
            &DatabaseSettings {
                url: Some(env.db_url.clone().into()),
                schema: None,
                max_connections: 2,
                acquire_timeout_secs: 10,
            },
            civicgrid_intake::SERVICE,
        )
        .await
        .context("pool on intake's schema")?;
        let observer = async_nats::connect(&env.nats_url).await.context("connecting to NATS")?;
        let js = jetstream::new(observer.clone());
        let stream = civicgrid_kit::bus::stream_name(civicgrid_intake::SERVICE);
        Ok(Running {
            addr,
            settings,
            channels: chans,
            pool,
            js,
            observer,
            stream,
            shutdown,
            handle,
            _telemetry: telemetry,
        })
    }

    fn client(&self, worker: usize) -> IntakeServiceClient<Channel> {
        IntakeServiceClient::new(self.channels[(worker / 8) % self.channels.len()].clone())
    }

    /// Messages in `CIVICGRID_INTAKE` now.
    pub async fn stream_messages(&self) -> Result<u64> {
        Ok(stream_state(&self.js, &self.stream).await?.0)
    }

    /// Average stored size of intake's messages, in bytes.
    pub async fn average_message_size(&self) -> Option<f64> {
        let mut s = self.js.get_stream(&self.stream).await.ok()?;
        let info = s.info().await.ok()?;
        (info.state.messages > 0).then(|| info.state.bytes as f64 / info.state.messages as f64)
    }

    /// Rows in intake's `events` table.
    pub async fn events(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(&self.pool).await?)
    }

    /// Outbox rows not yet published.
    async fn pending(&self) -> Result<i64> {
        Ok(civicgrid_kit::bus::outbox::pending_count(&self.pool).await?)
    }

    /// Stops intake (drains in-flight calls and the outbox) and waits for it.
    pub async fn stop(self) -> Result<()> {
        self.shutdown.cancel();
        match tokio::time::timeout(Duration::from_secs(60), self.handle).await {
            Ok(joined) => joined.context("intake task panicked")?.context("intake stopped with an error")?,
            Err(_) => anyhow::bail!("intake did not stop within 60 s"),
        }
        self.pool.close().await;
        Ok(())
    }
}

/// One reading of the relay's progress during a closed loop.
pub struct Sample {
    /// Seconds since the start.
    pub t: f64,
    /// Accepted so far.
    pub accepted: u64,
    /// Outbox rows not yet published.
    pub pending: i64,
    /// Messages published (in the stream) since the start.
    pub published: u64,
}

/// What a closed loop against intake produced.
pub struct ClosedLoop {
    /// Accepted submissions (`ok`), their latency, the failures, the submit window.
    pub calls: Closed,
    /// Submissions answered `merged` (should be none).
    pub merged: u64,
    /// When the first call was sent.
    pub started: Instant,
    started_unix: i128,
    stream_base: u64,
    /// Accepted per second of the window.
    pub per_second: Vec<u64>,
    /// The relay's progress, every 500 ms.
    pub samples: Vec<Sample>,
}

/// `concurrency` workers, each submitting reports one after another for `duration`.
pub async fn closed_loop(
    app: &Running,
    catalog: &Arc<Catalog>,
    concurrency: usize,
    duration: Duration,
    sample: bool,
) -> Result<ClosedLoop> {
    let stream_base = app.stream_messages().await?;
    let accepted = Arc::new(AtomicU64::new(0));
    let buckets: Arc<Vec<AtomicU64>> = Arc::new((0..duration.as_secs() + 3).map(|_| AtomicU64::new(0)).collect());
    let started = Instant::now();
    let started_unix = unix_nanos_now();
    let deadline = started + duration;

    let stop_sampler = Shutdown::new();
    let sampler = sample.then(|| {
        let (pool, js, stream, stop, accepted) =
            (app.pool.clone(), app.js.clone(), app.stream.clone(), stop_sampler.clone(), accepted.clone());
        tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.cancelled() => break,
                }
                let pending = civicgrid_kit::bus::outbox::pending_count(&pool).await.unwrap_or(-1);
                let published = stream_state(&js, &stream).await.map(|s| s.0.saturating_sub(stream_base)).unwrap_or(0);
                samples.push(Sample {
                    t: started.elapsed().as_secs_f64(),
                    accepted: accepted.load(Ordering::Relaxed),
                    pending,
                    published,
                });
            }
            samples
        })
    });

    let mut tasks = Vec::with_capacity(concurrency);
    for w in 0..concurrency {
        let mut client = app.client(w);
        let catalog = catalog.clone();
        let (accepted, buckets) = (accepted.clone(), buckets.clone());
        tasks.push(tokio::spawn(async move {
            let mut hist = stats::histogram();
            let mut errors = Errors::default();
            let (mut ok, mut merged) = (0u64, 0u64);
            while Instant::now() < deadline {
                let request = catalog.next();
                let t = Instant::now();
                match client.submit_event(request).await {
                    Ok(answer) => {
                        let done = Instant::now();
                        stats::record(&mut hist, done - t);
                        ok += 1;
                        merged += answer.get_ref().merged as u64;
                        accepted.fetch_add(1, Ordering::Relaxed);
                        let second = ((done - started).as_secs() as usize).min(buckets.len() - 1);
                        buckets[second].fetch_add(1, Ordering::Relaxed);
                    }
                    Err(status) => errors.add(format!("{:?}", status.code()), status.message()),
                }
            }
            (ok, merged, hist, errors, Instant::now())
        }));
    }
    let mut calls = Closed { ok: 0, secs: 0.0, hist: stats::histogram(), errors: Errors::default() };
    let mut merged = 0;
    let mut last = deadline;
    for t in tasks {
        let (ok, m, hist, errors, done) = t.await.context("a worker panicked")?;
        calls.ok += ok;
        merged += m;
        calls.hist.add(&hist).ok();
        calls.errors.merge(errors);
        last = last.max(done);
    }
    calls.secs = last.duration_since(started).as_secs_f64();
    stop_sampler.cancel();
    let samples = match sampler {
        Some(s) => s.await.unwrap_or_default(),
        None => Vec::new(),
    };
    let mut per_second: Vec<u64> = buckets.iter().map(|b| b.load(Ordering::Relaxed)).collect();
    while per_second.last() == Some(&0) {
        per_second.pop();
    }
    Ok(ClosedLoop { calls, merged, started, started_unix, stream_base, per_second, samples })
}

/// When the last accepted submission reached the bus.
pub struct Drain {
    /// Messages intake published since the phase started.
    pub published: u64,
    /// Seconds from the start of the phase until the last message was stored in the stream.
    pub last_publish_secs: f64,
    /// Seconds from the end of the submit window until then.
    pub after_window_secs: f64,
    /// Outbox rows still unpublished (0 unless timed out).
    pub pending: i64,
    /// True when the messages did not all arrive in time.
    pub timed_out: bool,
}

/// Waits until `CIVICGRID_INTAKE` holds `expected` more messages than at `stream_base` and the
/// outbox has nothing pending, polling every 5 ms. The time of the last publish is the stream's
/// `last_ts` (the server's clock, this machine's), or the moment the count was seen when that
/// looks inconsistent (a server on another host).
pub async fn wait_published(
    app: &Running,
    stream_base: u64,
    expected: u64,
    started: Instant,
    started_unix: i128,
    window_end: Instant,
    timeout: Duration,
) -> Result<Drain> {
    let give_up = Instant::now() + timeout;
    loop {
        let (messages, last_ts) = stream_state(&app.js, &app.stream).await?;
        let published = messages.saturating_sub(stream_base);
        if published >= expected {
            let seen = Instant::now();
            let pending = app.pending().await?;
            if pending == 0 || Instant::now() > give_up {
                let observed = seen.duration_since(started).as_secs_f64();
                let from_stream = (last_ts - started_unix) as f64 / 1e9;
                let last_publish_secs =
                    if from_stream > 0.0 && from_stream <= observed + 0.05 { from_stream } else { observed };
                let window_secs = window_end.duration_since(started).as_secs_f64();
                return Ok(Drain {
                    published,
                    last_publish_secs,
                    after_window_secs: (last_publish_secs - window_secs).max(0.0),
                    pending,
                    timed_out: pending != 0,
                });
            }
        }
        if Instant::now() > give_up {
            let pending = app.pending().await.unwrap_or(-1);
            let observed = started.elapsed().as_secs_f64();
            return Ok(Drain {
                published,
                last_publish_secs: observed,
                after_window_secs: window_end.elapsed().as_secs_f64(),
                pending,
                timed_out: true,
            });
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

impl ClosedLoop {
    /// Waits for this loop's accepted submissions to be published.
    pub async fn wait_published(&self, app: &Running, timeout: Duration) -> Result<Drain> {
        let window_end = self.started + Duration::from_secs_f64(self.calls.secs);
        wait_published(app, self.stream_base, self.calls.ok, self.started, self.started_unix, window_end, timeout).await
    }
}

/// What an open loop at a fixed rate produced.
pub struct OpenLoop {
    /// Requests per second asked for.
    pub rate: u32,
    /// Requests scheduled.
    pub scheduled: u64,
    /// Accepted.
    pub ok: u64,
    /// Failures.
    pub errors: Errors,
    /// Latency from the scheduled send time to the answer.
    pub hist: Histogram<u64>,
    /// Latency from the scheduled send time to the event's message on the bus.
    pub to_bus: Histogram<u64>,
    /// Accepted calls whose message was not seen on the bus.
    pub not_seen: u64,
    /// Accepted per second, from the first scheduled send to the last answer.
    pub achieved: f64,
    /// The scheduler's largest delay behind its timetable, in ms.
    pub max_slip_ms: f64,
    /// Most calls in flight at once.
    pub max_in_flight: usize,
    /// The publish drain after the last call.
    pub drain: Option<Drain>,
}

#[derive(Default)]
struct OpenShared {
    ok: u64,
    errors: Errors,
    events: Vec<(String, Instant)>,
    last_done: Option<Instant>,
}

/// Requests sent at fixed intervals for `duration`, each on its own task (at most `cap` in
/// flight), so a slow answer does not delay the next send; latency counts from the scheduled
/// send time. The bus is watched with a core subscription to `civicgrid.intake.>`.
pub async fn open_loop(
    app: &Running,
    catalog: &Arc<Catalog>,
    rate: u32,
    duration: Duration,
    cap: usize,
) -> Result<OpenLoop> {
    let stream_base = app.stream_messages().await?;
    let mut subscription =
        app.observer.subscribe("civicgrid.intake.>").await.context("subscribing to intake's subjects")?;
    app.observer.flush().await.ok();
    let seen: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let stop_watch = Shutdown::new();
    let watcher = {
        let (seen, stop) = (seen.clone(), stop_watch.clone());
        tokio::spawn(async move {
            loop {
                let message = tokio::select! {
                    m = subscription.next() => m,
                    _ = stop.cancelled() => break,
                };
                let Some(message) = message else { break };
                let at = Instant::now();
                if let Some(id) = message.headers.as_ref().and_then(|h| h.get("ce-subject")) {
                    seen.lock().expect("seen").insert(id.as_str().to_string(), at);
                }
            }
            let _ = subscription.unsubscribe().await;
        })
    };

    let hist = Arc::new(Mutex::new(stats::histogram()));
    let shared = Arc::new(Mutex::new(OpenShared::default()));
    let semaphore = Arc::new(Semaphore::new(cap.max(1)));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let max_in_flight = Arc::new(AtomicUsize::new(0));
    let period = Duration::from_secs_f64(1.0 / rate.max(1) as f64);
    let total = (rate as f64 * duration.as_secs_f64()).round() as u64;
    let clients: Vec<_> = (0..app.channels.len()).map(|c| app.client(c * 8)).collect();
    let t0 = Instant::now() + Duration::from_millis(20);
    let started_unix = unix_nanos_now() + 20_000_000;
    let mut max_slip = Duration::ZERO;
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let at = t0 + period.mul_f64(i as f64);
        tokio::time::sleep_until(at.into()).await;
        let permit = semaphore.clone().acquire_owned().await.context("semaphore")?;
        max_slip = max_slip.max(Instant::now().saturating_duration_since(at));
        let mut client = clients[i as usize % clients.len()].clone();
        let request = catalog.next();
        let (hist, shared, in_flight, max_in_flight) =
            (hist.clone(), shared.clone(), in_flight.clone(), max_in_flight.clone());
        tasks.push(tokio::spawn(async move {
            let now_in_flight = in_flight.fetch_add(1, Ordering::Relaxed) + 1;
            max_in_flight.fetch_max(now_in_flight, Ordering::Relaxed);
            let result = client.submit_event(request).await;
            let done = Instant::now();
            in_flight.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
            let mut s = shared.lock().expect("shared");
            s.last_done = Some(s.last_done.map_or(done, |d| d.max(done)));
            match result {
                Ok(answer) => {
                    stats::record(&mut hist.lock().expect("hist"), done - at);
                    s.ok += 1;
                    s.events.push((answer.into_inner().event_id, at));
                }
                Err(status) => s.errors.add(format!("{:?}", status.code()), status.message()),
            }
        }));
    }
    for t in tasks {
        t.await.context("a request task panicked")?;
    }
    let shared = std::mem::take(&mut *shared.lock().expect("shared"));
    let window_end = shared.last_done.unwrap_or_else(Instant::now);
    let drain =
        wait_published(app, stream_base, shared.ok, t0, started_unix, window_end, Duration::from_secs(120)).await?;
    // Core delivery to the watcher and the stream's store happen together; allow a moment.
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop_watch.cancel();
    let _ = watcher.await;
    let seen = seen.lock().expect("seen");
    let mut to_bus = stats::histogram();
    let mut not_seen = 0;
    for (id, at) in &shared.events {
        match seen.get(id) {
            Some(arrived) => stats::record(&mut to_bus, arrived.saturating_duration_since(*at)),
            None => not_seen += 1,
        }
    }
    let hist = std::mem::replace(&mut *hist.lock().expect("hist"), stats::histogram());
    let secs = window_end.saturating_duration_since(t0).as_secs_f64();
    Ok(OpenLoop {
        rate,
        scheduled: total,
        ok: shared.ok,
        errors: shared.errors,
        hist,
        to_bus,
        not_seen,
        achieved: stats::per_sec(shared.ok, secs),
        max_slip_ms: max_slip.as_secs_f64() * 1000.0,
        max_in_flight: max_in_flight.load(Ordering::Relaxed),
        drain: Some(drain),
    })
}
