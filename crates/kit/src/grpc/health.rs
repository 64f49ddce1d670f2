//! Health that follows the dependencies: `grpc.health.v1.Health` answers SERVING only while
//! PostgreSQL answers `SELECT 1` and the NATS client is connected, and NOT_SERVING from the
//! moment the service starts to stop.

use std::time::Duration;

use tonic_health::{ServingStatus, server::HealthReporter};

use super::edge::Readiness;
use crate::{Shutdown, metrics::Metrics};

/// Something whose readiness the health service reports.
pub enum Dependency {
    /// A PostgreSQL pool: ready when `SELECT 1` answers in time.
    Postgres(sqlx::PgPool),
    /// A NATS client: ready while connected.
    Nats(async_nats::Client),
}

impl Dependency {
    fn is_database(&self) -> bool {
        matches!(self, Dependency::Postgres(_))
    }

    async fn ready(&self, within: Duration) -> bool {
        match self {
            Dependency::Postgres(pool) => tokio::time::timeout(within, sqlx::query("SELECT 1").execute(pool))
                .await
                .map(|r| r.is_ok())
                .unwrap_or(false),
            Dependency::Nats(client) => client.connection_state() == async_nats::connection::State::Connected,
        }
    }
}

/// What the health loop keeps in step.
pub struct HealthLoop {
    /// The health service's reporter.
    pub reporter: HealthReporter,
    /// The gRPC services whose status it sets (and the server as a whole, `""`).
    pub services: Vec<&'static str>,
    /// What must answer.
    pub dependencies: Vec<Dependency>,
    /// The flag the edge refuses calls by: whether the database answers.
    pub readiness: Readiness,
    /// `civicgrid_ready`.
    pub metrics: Metrics,
    /// How often to check.
    pub every: Duration,
}

impl HealthLoop {
    /// Runs until `stopping`: then says NOT_SERVING and ends.
    pub fn spawn(self, stopping: Shutdown) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let HealthLoop { reporter, services, dependencies, readiness, metrics, every } = self;
            let mut last = None;
            loop {
                let (mut ready, mut database) = (true, true);
                for d in &dependencies {
                    let up = d.ready(every.max(Duration::from_millis(200))).await;
                    ready &= up;
                    if d.is_database() {
                        database &= up;
                    }
                }
                if stopping.is_cancelled() {
                    ready = false;
                }
                readiness.set(database);
                metrics.set_ready(ready);
                if last != Some(ready) {
                    let status = if ready { ServingStatus::Serving } else { ServingStatus::NotServing };
                    tracing::info!(?status, "health");
                    reporter.set_service_status("", status).await;
                    for s in &services {
                        reporter.set_service_status(*s, status).await;
                    }
                    last = Some(ready);
                }
                if stopping.is_cancelled() {
                    break;
                }
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = stopping.cancelled() => {}
                }
            }
        })
    }
}
