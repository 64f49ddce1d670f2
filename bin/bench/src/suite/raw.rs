//! The machine's ceilings, measured in the same run as the loop: PostgreSQL committing a
//! two-row insert transaction (what a state change plus its outbox row costs), JetStream
//! acknowledging publishes one at a time and with a window in flight, and a no-op gRPC call.
//!
//! `civicgrid-bench raw` measures them on servers of its own (started as `civicgrid up` starts
//! them, [`crate::env::Env`]) with an in-process tonic health server; `civicgrid-bench loop`
//! measures them on `up`'s very nats-server and PostgreSQL and against intake's health service.

use std::{path::PathBuf, process::ExitCode, time::Duration};

use anyhow::{Context, Result};
use async_nats::jetstream;
use clap::Args;
use serde::Serialize;
use sqlx::{Connection, Executor};
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};

use super::figures::RateFigure;
use crate::{
    baseline::{self, BenchStreams, Closed},
    env::{self, Env, Machine},
    field, heading,
    stats::{self, Errors},
};

/// Arguments of `civicgrid-bench raw`.
#[derive(Args, Clone, Debug)]
pub struct RawArgs {
    /// PostgreSQL connections, gRPC callers.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub concurrency: u32,
    /// Seconds each ceiling is measured.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub secs: u64,
    /// JetStream publishes in flight for the windowed figure.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub window: u32,
    /// Also write the figures as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// Where the no-op gRPC calls go.
pub enum GrpcTarget {
    /// A running server's `grpc.health.v1.Health` (e.g. intake under `up`).
    Remote {
        /// Its URL.
        url: String,
        /// What it is, for the printout.
        what: String,
    },
    /// A tonic server in this process serving only the health service.
    InProcess,
}

/// What the ceilings are measured on.
pub struct RawPlan {
    /// A database of its own on the PostgreSQL to measure.
    pub db_url: String,
    /// JetStream of the nats-server to measure, as a user who may create streams.
    pub js: jetstream::Context,
    /// The gRPC server.
    pub grpc: GrpcTarget,
    /// Connections and callers.
    pub concurrency: usize,
    /// Publishes in flight for the windowed JetStream figure.
    pub window: usize,
    /// How long each is measured.
    pub duration: Duration,
}

/// The ceilings.
#[derive(Debug, Clone, Serialize)]
pub struct RawFigures {
    /// PostgreSQL connections and gRPC callers.
    pub concurrency: usize,
    /// JetStream publishes in flight of the windowed figure.
    pub window: usize,
    /// `BEGIN; INSERT (uuid, 500 B) INTO a; INSERT (uuid, 500 B) INTO b; COMMIT`, `concurrency`
    /// connections.
    pub pg_two_row: RateFigure,
    /// Acked 500-byte publishes with `Nats-Msg-Id` to a file stream, one at a time.
    pub js_sync: RateFigure,
    /// The same with `window` in flight.
    pub js_windowed: RateFigure,
    /// `grpc.health.v1.Health/Check`, `concurrency` callers over one channel per 8.
    pub grpc_noop: RateFigure,
}

impl RawFigures {
    /// Prints the figures as a table.
    pub fn print_table(&self) {
        println!("| ceiling | rate | latency |");
        println!("| --- | --- | --- |");
        for f in [&self.pg_two_row, &self.js_sync, &self.js_windowed, &self.grpc_noop] {
            println!(
                "| {} | {}/s (errors {}) | {} |",
                f.what,
                stats::rate(f.per_sec),
                stats::int(f.errors),
                f.latency.line()
            );
        }
    }
}

/// Measures every ceiling in turn, printing each as it comes.
pub async fn measure(plan: RawPlan) -> Result<RawFigures> {
    let c = plan.concurrency;
    let secs = plan.duration.as_secs_f64();

    heading(&format!(
        "raw · PostgreSQL: {c} connections, each looping BEGIN; INSERT (uuid, 500 B) INTO a; INSERT … INTO b; COMMIT, {secs:.0} s"
    ));
    let pg = baseline::raw_postgres_rows(&plan.db_url, c, plan.duration, 2).await?;
    let pg_two_row = RateFigure::of(format!("PostgreSQL two-row insert transactions, {c} connections"), &pg);
    field("commits/s", pg_two_row.line());

    // Streams as every service's stream is made: file storage, the configured duplicate window.
    let common: civicgrid_kit::config::CommonSettings = civicgrid_kit::config::from_toml(&[])?;
    let dup = Duration::from_secs(common.nats.duplicate_window_secs);
    let max_age = Duration::from_secs(common.nats.stream_max_age_days * 86_400);
    let streams = BenchStreams::create_on(plan.js.clone(), 1, dup, max_age).await?;
    let mut js = Vec::new();
    for (window, label) in [(1, "one at a time".to_string()), (plan.window, format!("{} in flight", plan.window))] {
        heading(&format!(
            "raw · JetStream: acked 500-byte publishes with Nats-Msg-Id, file stream, {label}, {secs:.0} s"
        ));
        let result = streams.publish_loop(window, plan.duration).await;
        let closed = match result {
            Ok(c) => c,
            Err(e) => {
                streams.delete().await;
                return Err(e);
            }
        };
        let figure = RateFigure::of(format!("JetStream acked publishes, {label}"), &closed);
        field("acked/s", figure.line());
        js.push(figure);
    }
    streams.delete().await;
    let js_windowed = js.pop().unwrap_or_default();
    let js_sync = js.pop().unwrap_or_default();

    let (url, what, server) = match plan.grpc {
        GrpcTarget::Remote { url, what } => (url, what, None),
        GrpcTarget::InProcess => {
            let (url, stop) = in_process_health().await?;
            (url, "a tonic health server in this process".to_string(), Some(stop))
        }
    };
    heading(&format!(
        "raw · gRPC: grpc.health.v1.Health/Check on {what}, {c} callers over {} channels, {secs:.0} s",
        c.div_ceil(8)
    ));
    let grpc = health_loop(&url, c, plan.duration).await;
    if let Some(stop) = server {
        stop.cancel();
    }
    let grpc_noop = RateFigure::of(format!("gRPC Health/Check on {what}, {c} callers"), &grpc?);
    field("calls/s", grpc_noop.line());

    Ok(RawFigures { concurrency: c, window: plan.window, pg_two_row, js_sync, js_windowed, grpc_noop })
}

/// A tonic server on a free loopback port serving `grpc.health.v1.Health` (SERVING), with
/// `TCP_NODELAY` as the services bind; stopped by cancelling the token returned.
async fn in_process_health() -> Result<(String, civicgrid_kit::Shutdown)> {
    let (_reporter, service) = tonic_health::server::health_reporter();
    let incoming = tonic::transport::server::TcpIncoming::bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
        .context("binding the health server")?
        .with_nodelay(Some(true));
    let addr = incoming.local_addr().context("the health server's address")?;
    let stop = civicgrid_kit::Shutdown::new();
    let until = stop.clone();
    tokio::spawn(async move {
        // Keeps the reporter (and with it the SERVING status) alive as long as the server.
        let _reporter = _reporter;
        let _ = tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming_shutdown(incoming, async move { until.cancelled().await })
            .await;
    });
    Ok((format!("http://{addr}"), stop))
}

/// `concurrency` callers of Health/Check on `url` for `duration`; only SERVING answers count.
async fn health_loop(url: &str, concurrency: usize, duration: Duration) -> Result<Closed> {
    let mut channels: Vec<Channel> = Vec::new();
    for _ in 0..concurrency.div_ceil(8) {
        let channel = Endpoint::from_shared(url.to_string())?
            .tcp_nodelay(true)
            .connect()
            .await
            .with_context(|| format!("connecting to {url}"))?;
        channels.push(channel);
    }
    let start = std::time::Instant::now();
    let deadline = start + duration;
    let tasks = (0..concurrency)
        .map(|w| {
            let mut client = HealthClient::new(channels[w / 8 % channels.len()].clone());
            tokio::spawn(async move {
                let (mut ok, mut hist, mut errors) = (0u64, stats::histogram(), Errors::default());
                while std::time::Instant::now() < deadline {
                    let t = std::time::Instant::now();
                    match client.check(HealthCheckRequest { service: String::new() }).await {
                        Ok(r) if r.get_ref().status == ServingStatus::Serving as i32 => {
                            ok += 1;
                            stats::record(&mut hist, t.elapsed());
                        }
                        Ok(r) => errors.add("not serving", r.get_ref().status),
                        Err(status) => errors.add(format!("{:?}", status.code()), status.message()),
                    }
                }
                (ok, hist, errors, std::time::Instant::now())
            })
        })
        .collect();
    baseline::collect(tasks, start, duration).await
}

/// `civicgrid-bench raw`: the ceilings on servers of its own.
pub async fn run(args: RawArgs) -> Result<ExitCode> {
    let machine = Machine::describe();
    println!("civicgrid-bench raw");
    field("command", std::env::args().collect::<Vec<_>>().join(" "));
    field(
        "machine",
        format!("nproc {}, {} RAM, {}, Linux {}", machine.nproc, machine.memory, machine.cpu, machine.kernel),
    );
    let env = Env::start((args.concurrency + 50).max(100)).await?;
    field("nats", &env.nats_desc);
    field("postgres", &env.pg_desc);
    if let Some(b) = env::background_busy_pct(Duration::from_secs(2)).await {
        field("background load", format!("{b:.0}% of the machine busy before the run (should be near 0)"));
    }
    let result = async {
        let client = async_nats::connect(&env.nats_url).await.context("connecting to NATS")?;
        measure(RawPlan {
            db_url: env.db_url.clone(),
            js: jetstream::new(client),
            grpc: GrpcTarget::InProcess,
            concurrency: args.concurrency as usize,
            window: args.window as usize,
            duration: Duration::from_secs(args.secs),
        })
        .await
    }
    .await;
    env.stop().await;
    let figures = result?;
    heading("Summary");
    figures.print_table();
    if let Some(path) = &args.json {
        let json = serde_json::json!({ "machine": machine_json(&machine), "raw": figures });
        std::fs::write(path, serde_json::to_vec_pretty(&json)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The machine, for the JSON output.
pub fn machine_json(m: &Machine) -> serde_json::Value {
    serde_json::json!({ "nproc": m.nproc, "memory": m.memory, "cpu": m.cpu, "kernel": m.kernel })
}

/// Creates a database of its own for the raw figures on `admin_url`'s server.
pub async fn bench_database(admin_url: &str) -> Result<(String, String)> {
    let name = format!("cg_bench_raw_{}", &uuid::Uuid::now_v7().simple().to_string()[16..]);
    let url = civicgrid_dev::provision::ensure_database(admin_url, &name).await.context("creating the raw database")?;
    Ok((name, url))
}

/// Drops the database [`bench_database`] made.
pub async fn drop_database(admin_url: &str, name: &str) {
    if let Ok(mut conn) = sqlx::PgConnection::connect(admin_url).await {
        let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
        let _ = conn.execute(sqlx::AssertSqlSafe(sql)).await;
        let _ = conn.close().await;
    }
}
