//! The console seen from a client: waiting for the replay through `/api/tasks`, the latency
//! and size of each view, the same view timed by `curl` from another process, and the live
//! feed's delay from a publish to the line on `/api/live`.

use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use async_nats::jetstream;
use civicgrid_proto::v1::{TaskEvent, TaskStatus};
use hdrhistogram::Histogram;
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde_json::Value;

use super::facts::{self, Plan};
use crate::stats::{self, ms};

/// Percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Pcts {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

impl Pcts {
    /// The percentiles of `h` (microseconds).
    pub fn of(h: &Histogram<u64>) -> Pcts {
        let at = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        Pcts { count: h.len(), p50: at(0.50), p95: at(0.95), p99: at(0.99), max: h.max() as f64 / 1000.0 }
    }

    /// `p50 1.20 · p95 2.00 · p99 3.10 · max 4.00 ms`
    pub fn line(&self) -> String {
        format!("p50 {} · p95 {} · p99 {} · max {} ms", ms(self.p50), ms(self.p95), ms(self.p99), ms(self.max))
    }
}

/// GETs `url`; the status must be 200. Returns the body.
pub async fn get(client: &reqwest::Client, url: &str) -> Result<bytes::Bytes> {
    let r = client.get(url).send().await.with_context(|| format!("GET {url}"))?;
    let status = r.status();
    let body = r.bytes().await.with_context(|| format!("GET {url}: body"))?;
    anyhow::ensure!(status.is_success(), "GET {url}: {status}: {}", String::from_utf8_lossy(&body));
    Ok(body)
}

/// GETs `url` and parses its JSON.
pub async fn get_json(client: &reqwest::Client, url: &str) -> Result<Value> {
    let body = get(client, url).await?;
    serde_json::from_slice(&body).with_context(|| format!("GET {url}: not JSON"))
}

/// Polls `/api/tasks?list=open&limit=1` every `every` until its newest task is `last` (the
/// stream's last message: every fact before it is folded in too) and its total is `open`.
/// Returns the seconds from `started` and how many polls it took.
pub async fn wait_replayed(
    client: &reqwest::Client,
    base: &str,
    last: &str,
    open: u64,
    started: Instant,
    every: Duration,
    deadline: Duration,
) -> Result<(f64, u64)> {
    let url = format!("{base}/api/tasks?list=open&limit=1");
    let mut polls = 0;
    let mut progress = Instant::now();
    loop {
        let page = get_json(client, &url).await?;
        polls += 1;
        let total = page["total"].as_u64().unwrap_or(0);
        if page["tasks"][0]["id"] == last && total == open {
            return Ok((started.elapsed().as_secs_f64(), polls));
        }
        if progress.elapsed() >= Duration::from_secs(1) {
            println!("   … {:>5.1} s: {} open tasks folded in", started.elapsed().as_secs_f64(), stats::int(total));
            progress = Instant::now();
        }
        anyhow::ensure!(
            started.elapsed() < deadline,
            "the console did not catch up in {deadline:?} ({total} open of {open})"
        );
        tokio::time::sleep(every).await;
    }
}

/// One view's figures.
#[derive(Debug, Clone, serde::Serialize)]
pub struct View {
    /// What it is.
    pub name: String,
    /// The path asked for.
    pub path: String,
    /// Latency of our client.
    pub latency: Pcts,
    /// Bytes of the answer.
    pub bytes: usize,
    /// Children (regions) or rows (lists) in the answer.
    pub items: usize,
    /// What the answer says it counts: a region's open tasks or a list's total.
    pub total: u64,
}

/// Times `requests` sequential GETs of `path` on one keep-alive connection, after `warmup`
/// untimed ones.
pub async fn time_view(
    client: &reqwest::Client,
    base: &str,
    name: &str,
    path: &str,
    requests: usize,
    warmup: usize,
) -> Result<View> {
    let url = format!("{base}{path}");
    for _ in 0..warmup {
        get(client, &url).await?;
    }
    let mut h = stats::histogram();
    let mut bytes = 0;
    for _ in 0..requests {
        let started = Instant::now();
        let body = get(client, &url).await?;
        stats::record(&mut h, started.elapsed());
        bytes = body.len();
    }
    let v: Value = serde_json::from_slice(&get(client, &url).await?).context("a view's JSON")?;
    let (items, total) = match (v["children"].as_array(), v["tasks"].as_array()) {
        (Some(children), _) => (children.len(), v["figures"]["open"].as_u64().unwrap_or(0)),
        (None, Some(tasks)) => (tasks.len(), v["total"].as_u64().unwrap_or(0)),
        _ => (0, 0),
    };
    Ok(View { name: name.into(), path: path.into(), latency: Pcts::of(&h), bytes, items, total })
}

/// `curl` from a separate process: `calls` calls of `url`, each in its own process and
/// connection (`per_process`), or all in one process that keeps its connection. Returns the
/// times curl reports (`%{time_total}`) and the bytes of the last answer.
pub async fn curl(url: &str, calls: usize, per_process: bool) -> Result<(Pcts, u64)> {
    let each = ["-s", "-o", "/dev/null", "-w", "%{http_code} %{time_total} %{size_download}\\n", url];
    let runs: Vec<Vec<&str>> = if per_process {
        vec![each.to_vec(); calls]
    } else {
        vec![each[..1].iter().copied().chain((0..calls).flat_map(|_| each[1..].iter().copied())).collect()]
    };
    let mut h = stats::histogram();
    let mut size = 0;
    for args in runs {
        let out = tokio::process::Command::new("curl")
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .await
            .context("running curl")?;
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        anyhow::ensure!(out.status.success(), "curl {url}: {text} {}", String::from_utf8_lossy(&out.stderr));
        for line in text.lines() {
            let mut f = line.split_whitespace();
            let (code, secs, bytes) = (f.next(), f.next().and_then(|s| s.parse::<f64>().ok()), f.next());
            anyhow::ensure!(code == Some("200"), "curl {url}: {line}");
            let secs = secs.with_context(|| format!("curl printed {line}"))?;
            stats::record(&mut h, Duration::from_secs_f64(secs));
            size = bytes.and_then(|b| b.parse().ok()).unwrap_or(0);
        }
    }
    anyhow::ensure!(h.len() == calls as u64, "curl reported {} of {calls} calls", h.len());
    Ok((Pcts::of(&h), size))
}

/// Connects to `/api/live`, then publishes `count` new reports waiting for triage (a
/// `task-awaiting-triage` fact each, in a random grid), one at a time `gap` apart, and times each
/// from the publish call until its line arrives on the feed.
pub async fn live(base: &str, js: &jetstream::Context, plan: &Plan, count: usize, gap: Duration) -> Result<Pcts> {
    let client = reqwest::Client::new();
    let mut feed = client.get(format!("{base}/api/live")).send().await.context("GET /api/live")?;
    anyhow::ensure!(feed.status().is_success(), "GET /api/live: {}", feed.status());
    let mut rng = StdRng::seed_from_u64(0x11FE);
    let mut buffer = String::new();
    let mut h = stats::histogram();
    let today = chrono::Utc::now().format("%Y%m%d").to_string();
    for i in 0..count {
        let grid = plan.grid(rng.random::<u32>() as usize);
        let number = format!("{}-{today}-L{i:05}", &grid[..6]);
        let event = TaskEvent {
            task_id: uuid::Uuid::now_v7().to_string(),
            event_id: uuid::Uuid::now_v7().to_string(),
            fact: "task-awaiting-triage".into(),
            status: TaskStatus::AwaitingTriage as i32,
            region: Some(facts::region_of(grid)),
            version: 1,
            occurred_at: Some(civicgrid_kit::time::to_proto(chrono::Utc::now())),
            lead: true,
            item_code: crate::catalog::ITEMS[i % crate::catalog::ITEMS.len()].0.into(),
            grid_code: grid.into(),
            tracking_number: number.clone(),
            ..Default::default()
        };
        let (subject, payload) = facts::encode(&event);
        let needle = format!("\"tracking_number\":\"{number}\"");
        let started = Instant::now();
        let ack = js.publish(subject, payload).await.context("publish")?;
        loop {
            if let Some(end) = buffer.find(&needle) {
                stats::record(&mut h, started.elapsed());
                buffer.drain(..end + needle.len());
                break;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), feed.chunk())
                .await
                .with_context(|| format!("{number} did not arrive on /api/live in 10 s"))?
                .context("reading /api/live")?
                .context("/api/live ended")?;
            buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
        ack.await.context("publish ack")?;
        tokio::time::sleep(gap).await;
    }
    Ok(Pcts::of(&h))
}
