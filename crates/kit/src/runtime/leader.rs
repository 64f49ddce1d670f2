//! One process at a time, for a service that keeps state in memory ([`Service::SINGLETON`]:
//! patrol's engine holds every active shift and each member's last fix). Its replicas elect a
//! leader with a PostgreSQL session advisory lock: the process holding the lock runs the
//! service; the others wait as **standbys**, and take over within a poll interval of the
//! leader's death (its connection closes, PostgreSQL releases the lock).
//!
//! A standby serves what probes and load balancers need and nothing else: gRPC health says
//! NOT_SERVING for every name (so a Kubernetes readiness probe, or `up`, sends it no calls),
//! and the metrics port answers `/livez` 200 (so a liveness probe keeps it) and `/readyz` 503.
//! Once leader, it closes those listeners and starts as any service does. A leader that loses
//! its lock connection stops with an error (the supervisor restarts it, as a standby), so two
//! processes never keep running the engine side by side.

use std::{str::FromStr, time::Duration};

use sqlx::{Connection, PgConnection, postgres::PgConnectOptions};
use tonic_health::ServingStatus;

use super::{Service, StartError, bind};
use crate::{Shutdown, config::CommonSettings, metrics::Metrics};

/// How often a standby tries the lock, and a leader checks its lock connection.
const POLL: Duration = Duration::from_secs(1);

/// The lock this process holds; dropping it (or the process dying) releases it.
pub struct Leadership {
    /// Cancelled when the lock connection fails: the lock may be someone else's now.
    pub lost: Shutdown,
    keeper: tokio::task::JoinHandle<()>,
}

impl Drop for Leadership {
    fn drop(&mut self) {
        self.keeper.abort();
    }
}

/// The lock's key: one per service name, apart from sqlx's migration lock.
fn lock_name(service: &str) -> String {
    format!("civicgrid-leader:{service}")
}

/// Waits, as a standby, until this process holds `S`'s lock; `None` when `shutdown` came first.
pub(super) async fn await_turn<S: Service>(
    common: &CommonSettings,
    shutdown: &Shutdown,
) -> Result<Option<Leadership>, StartError> {
    let url = common.database.require_url()?;
    let options = PgConnectOptions::from_str(url)
        .map_err(|e| crate::config::ConfigError::Invalid { key: "database.url", reason: e.to_string() })?
        .application_name(&format!("civicgrid-{}-leader", S::NAME));
    let standby = Standby::start::<S>(common).await?;
    let mut announced = false;
    let mut conn = loop {
        if let Ok(mut conn) = PgConnection::connect_with(&options).await {
            let held: Result<bool, _> = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext($1))")
                .bind(lock_name(S::NAME))
                .fetch_one(&mut conn)
                .await;
            if matches!(held, Ok(true)) {
                break conn;
            }
        }
        if !announced {
            tracing::info!(service = S::NAME, "another process leads this service; waiting as a standby");
            announced = true;
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = shutdown.cancelled() => {
                standby.stop().await;
                return Ok(None);
            }
        }
    };
    standby.stop().await;
    tracing::info!(service = S::NAME, "this process leads the service");
    let lost = Shutdown::new();
    let keeper = {
        let lost = lost.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(POLL).await;
                if let Err(e) = sqlx::query("SELECT 1").execute(&mut conn).await {
                    tracing::error!(error = %e, "the leadership lock's connection failed; stopping");
                    lost.cancel();
                    return;
                }
            }
        })
    };
    Ok(Some(Leadership { lost, keeper }))
}

/// What a standby serves: NOT_SERVING health on the gRPC port, `/livez` and `/readyz` (503)
/// on the metrics port.
struct Standby {
    stop: Shutdown,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Standby {
    async fn start<S: Service>(common: &CommonSettings) -> Result<Self, StartError> {
        let (grpc_listener, _) = bind("grpc.listen", &common.grpc.listen).await?;
        let (metrics_listener, _) = bind("metrics.listen", &common.metrics.listen).await?;
        let stop = Shutdown::new();
        let (reporter, health) = tonic_health::server::health_reporter();
        reporter.set_service_status("", ServingStatus::NotServing).await;
        let grpc = {
            let stop = stop.clone();
            tokio::spawn(async move {
                let incoming = tonic::transport::server::TcpIncoming::from(grpc_listener).with_nodelay(Some(true));
                let served = tonic::transport::Server::builder()
                    .add_service(health)
                    .serve_with_incoming_shutdown(incoming, stop.cancelled_owned())
                    .await;
                if let Err(e) = served {
                    tracing::warn!(error = %e, "the standby's health server stopped");
                }
            })
        };
        let metrics = Metrics::new(S::NAME);
        metrics.set_ready(false);
        let probes = {
            let stop = stop.clone();
            tokio::spawn(async move {
                if let Err(e) = crate::metrics::serve(metrics_listener, metrics, stop).await {
                    tracing::warn!(error = %e, "the standby's probe server stopped");
                }
            })
        };
        Ok(Standby { stop, tasks: vec![grpc, probes] })
    }

    /// Closes the listeners, so the leader can bind them.
    async fn stop(self) {
        self.stop.cancel();
        for task in self.tasks {
            let _ = task.await;
        }
    }
}
