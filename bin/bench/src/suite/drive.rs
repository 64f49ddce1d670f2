//! The load: reports submitted to intake over gRPC, at a fixed rate (open loop, for latency)
//! or by workers one after another (closed loop, for saturation).

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use civicgrid_proto::v1::{
    EventSource, GeoPoint, Location, Reporter, SubmitEventRequest, intake_service_client::IntakeServiceClient,
};
use tokio::sync::Semaphore;
use tonic::transport::{Channel, Endpoint};

use super::timeline::{Answer, Timeline};
use crate::stats::Errors;

/// The catalog item of every report: 垃圾桶满溢 (环境卫生).
pub const ITEM: &str = "03.01.002";
/// The grid every report is filed in: 人和街道 人和社区 第1网格 of the shipped demo city.
pub const GRID: &str = "411602002001001";
/// The department the shipped routing rules give that item in that grid's township.
pub const DEPARTMENT: &str = "411602002-chengguan";

/// Lattice of the reports' places, as `civicgrid-bench intake`'s: 0.001° of latitude ≈ 111 m,
/// 0.0012° of longitude ≈ 111 m at 33.6° N, 200 columns. intake merges reports of one item in
/// one county within 50 m, so none of these merge, and its duplicate search does its full
/// work for each.
const LAT_STEP: f64 = 0.001;
const LNG_STEP: f64 = 0.0012;
const COLUMNS: u64 = 200;
const ORIGIN: (f64, f64) = (33.58, 114.58);

/// Hands out reports, each at a place of its own and with a request id of its own.
pub struct Reports {
    run: String,
    next: AtomicU64,
}

impl Reports {
    /// Reports whose request ids carry `run`.
    pub fn new(run: &str) -> Reports {
        Reports { run: run.to_string(), next: AtomicU64::new(0) }
    }

    /// The next report.
    pub fn next(&self) -> SubmitEventRequest {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        SubmitEventRequest {
            request_id: format!("loop-{}-{n}", self.run),
            source: EventSource::GridWorker as i32,
            item_code: ITEM.into(),
            location: Some(Location {
                point: Some(GeoPoint {
                    latitude: ORIGIN.0 + (n / COLUMNS) as f64 * LAT_STEP,
                    longitude: ORIGIN.1 + (n % COLUMNS) as f64 * LNG_STEP,
                }),
                grid_code: GRID.into(),
                ..Default::default()
            }),
            description: "垃圾桶满溢未及时清运".into(),
            reporter: Some(Reporter {
                name: "网格员".into(),
                phone: format!("139{:08}", n % 100_000_000),
                account_id: format!("bench-gw-{}", n % 100),
            }),
            ..Default::default()
        }
    }
}

/// gRPC clients of intake: one HTTP/2 connection per 8 callers.
pub async fn clients(url: &str, callers: usize) -> Result<Vec<IntakeServiceClient<Channel>>> {
    let mut out = Vec::new();
    for _ in 0..callers.div_ceil(8).max(1) {
        let channel = Endpoint::from_shared(url.to_string())?
            .tcp_nodelay(true)
            .connect()
            .await
            .with_context(|| format!("connecting to intake at {url}"))?;
        out.push(IntakeServiceClient::new(channel));
    }
    Ok(out)
}

/// What a load sent.
#[derive(Debug, Default)]
pub struct Sent {
    /// Reports sent.
    pub sent: u64,
    /// Accepted.
    pub ok: u64,
    /// Answered `merged` (should be none: every report is at a place of its own).
    pub merged: u64,
    /// Refused or failed.
    pub errors: Errors,
    /// Seconds from the first send to the last answer.
    pub secs: f64,
    /// The scheduler's largest delay behind its timetable, in ms (open loop).
    pub max_slip_ms: f64,
    /// Most calls in flight at once.
    pub max_in_flight: usize,
}

/// Records one call's outcome.
fn outcome(
    result: Result<tonic::Response<civicgrid_proto::v1::SubmitEventResponse>, tonic::Status>,
    timeline: &Timeline,
    phase: usize,
    sent: Instant,
) -> Result<bool, (String, String)> {
    let answered = Instant::now();
    match result {
        Ok(answer) => {
            let answer = answer.into_inner();
            timeline.answered(&answer.event_id, Answer { phase, sent, answered });
            Ok(answer.merged)
        }
        Err(status) => Err((format!("{:?}", status.code()), status.message().to_string())),
    }
}

/// `rate` reports per second on a fixed timetable for `duration`, each on its own task (at most
/// `cap` in flight), so a slow answer never delays the next send; each report's times count
/// from its scheduled send (no coordinated omission).
pub async fn open_loop(
    clients: &[IntakeServiceClient<Channel>],
    reports: &Arc<Reports>,
    timeline: &Arc<Timeline>,
    phase: usize,
    rate: f64,
    duration: Duration,
    cap: usize,
) -> Result<Sent> {
    let period = Duration::from_secs_f64(1.0 / rate.max(0.001));
    let total = (rate * duration.as_secs_f64()).round().max(1.0) as u64;
    let semaphore = Arc::new(Semaphore::new(cap.max(1)));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let max_in_flight = Arc::new(AtomicUsize::new(0));
    let t0 = Instant::now() + Duration::from_millis(20);
    let mut max_slip = Duration::ZERO;
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let at = t0 + period.mul_f64(i as f64);
        tokio::time::sleep_until(at.into()).await;
        let permit = semaphore.clone().acquire_owned().await.context("semaphore")?;
        max_slip = max_slip.max(Instant::now().saturating_duration_since(at));
        let mut client = clients[i as usize % clients.len()].clone();
        let request = reports.next();
        let (timeline, in_flight, max_in_flight) = (timeline.clone(), in_flight.clone(), max_in_flight.clone());
        tasks.push(tokio::spawn(async move {
            max_in_flight.fetch_max(in_flight.fetch_add(1, Ordering::Relaxed) + 1, Ordering::Relaxed);
            let result = client.submit_event(request).await;
            in_flight.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
            (outcome(result, &timeline, phase, at), Instant::now())
        }));
    }
    let mut sent = Sent { sent: total, ..Default::default() };
    let mut last = t0;
    for t in tasks {
        let (result, done) = t.await.context("a report task panicked")?;
        last = last.max(done);
        match result {
            Ok(merged) => {
                sent.ok += 1;
                sent.merged += u64::from(merged);
            }
            Err((kind, message)) => sent.errors.add(kind, message),
        }
    }
    sent.secs = last.saturating_duration_since(t0).as_secs_f64();
    sent.max_slip_ms = max_slip.as_secs_f64() * 1000.0;
    sent.max_in_flight = max_in_flight.load(Ordering::Relaxed);
    Ok(sent)
}

/// `workers` workers, each submitting its next report when the last is answered, for `duration`.
pub async fn closed_loop(
    clients: &[IntakeServiceClient<Channel>],
    reports: &Arc<Reports>,
    timeline: &Arc<Timeline>,
    phase: usize,
    workers: usize,
    duration: Duration,
) -> Result<Sent> {
    closed(clients, reports, timeline, phase, workers, Limit::Until(Instant::now() + duration)).await
}

/// `workers` workers, each submitting its next report when the last is answered, until `count`
/// reports have been sent (a backlog submitted as fast as intake answers).
pub async fn closed_loop_count(
    clients: &[IntakeServiceClient<Channel>],
    reports: &Arc<Reports>,
    timeline: &Arc<Timeline>,
    phase: usize,
    workers: usize,
    count: u64,
) -> Result<Sent> {
    let limit = Limit::Count { claimed: AtomicU64::new(0), total: count };
    closed(clients, reports, timeline, phase, workers, limit).await
}

/// When the workers of a closed loop stop.
enum Limit {
    /// At this instant (the last calls still finish).
    Until(Instant),
    /// After this many reports in all, claimed one at a time by whichever worker is free.
    Count { claimed: AtomicU64, total: u64 },
}

impl Limit {
    /// Whether a worker may send one more report (claims it).
    fn another(&self) -> bool {
        match self {
            Limit::Until(deadline) => Instant::now() < *deadline,
            Limit::Count { claimed, total } => claimed.fetch_add(1, Ordering::Relaxed) < *total,
        }
    }
}

async fn closed(
    clients: &[IntakeServiceClient<Channel>],
    reports: &Arc<Reports>,
    timeline: &Arc<Timeline>,
    phase: usize,
    workers: usize,
    limit: Limit,
) -> Result<Sent> {
    let started = Instant::now();
    let limit = Arc::new(limit);
    let tasks: Vec<_> = (0..workers)
        .map(|w| {
            let mut client = clients[w / 8 % clients.len()].clone();
            let (reports, timeline, limit) = (reports.clone(), timeline.clone(), limit.clone());
            tokio::spawn(async move {
                let (mut sent, mut ok, mut merged, mut errors) = (0u64, 0u64, 0u64, Errors::default());
                while limit.another() {
                    let request = reports.next();
                    let at = Instant::now();
                    sent += 1;
                    match outcome(client.submit_event(request).await, &timeline, phase, at) {
                        Ok(m) => {
                            ok += 1;
                            merged += u64::from(m);
                        }
                        Err((kind, message)) => errors.add(kind, message),
                    }
                }
                (sent, ok, merged, errors, Instant::now())
            })
        })
        .collect();
    let mut total = Sent { max_in_flight: workers, ..Default::default() };
    let mut last = started;
    for t in tasks {
        let (sent, ok, merged, errors, done) = t.await.context("a worker panicked")?;
        total.sent += sent;
        total.ok += ok;
        total.merged += merged;
        total.errors.merge(errors);
        last = last.max(done);
    }
    total.secs = last.duration_since(started).as_secs_f64();
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_are_far_apart_and_unique() {
        let r = Reports::new("t");
        let all: Vec<_> = (0..1000).map(|_| r.next()).collect();
        let point = |q: &SubmitEventRequest| {
            let p = q.location.as_ref().and_then(|l| l.point.as_ref()).map(|p| (p.latitude, p.longitude));
            p.unwrap_or_default()
        };
        for (i, a) in all.iter().enumerate().step_by(13) {
            for b in &all[i + 1..] {
                let ((la, ga), (lb, gb)) = (point(a), point(b));
                let d =
                    (((la - lb) * 111_195.0).powi(2) + ((ga - gb) * 111_195.0 * la.to_radians().cos()).powi(2)).sqrt();
                assert!(d > 100.0, "{} and {} are {d:.0} m apart", a.request_id, b.request_id);
            }
        }
        let ids: std::collections::HashSet<_> = all.iter().map(|q| q.request_id.clone()).collect();
        assert_eq!(ids.len(), all.len());
    }
}
