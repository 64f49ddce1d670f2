//! Prometheus metrics: one registry per running service, served as OpenMetrics text on
//! `GET /metrics` at `metrics.listen` ([`serve`]).
//!
//! The runtime registers what every service has: gRPC calls by method and code with latency
//! ([`GrpcMetrics`]), the outbox backlog and the age of its oldest row, consumer deliveries,
//! redeliveries, dead letters and lag ([`BusMetrics`]), the database pool and readiness. A
//! service adds its own with [`Metrics::register`], and refreshes gauges that are read from the
//! database or NATS at scrape time with [`Metrics::on_scrape`]. Every name starts with
//! `civicgrid_` and every sample carries the label `service`. docs/operations.md lists them.

mod bus;
mod grpc;
mod serve;

use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

use prometheus_client::{
    encoding::text::encode,
    metrics::{family::Family, gauge::Gauge},
    registry::{Metric, Registry},
};
use tokio::sync::Mutex;

pub use bus::BusMetrics;
pub use grpc::GrpcMetrics;
pub use serve::serve;

/// Labels as name/value pairs.
pub type Labels = Vec<(&'static str, String)>;

/// A counter family with free-form labels.
pub type CounterFamily = Family<Labels, prometheus_client::metrics::counter::Counter>;

/// A gauge family with free-form labels.
pub type GaugeFamily = Family<Labels, Gauge>;

type Refresh = Box<dyn Fn() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// A service's metrics registry. Cheap to clone; clones share the registry.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    service: String,
    registry: std::sync::Mutex<Registry>,
    refreshers: Mutex<Vec<Refresh>>,
    grpc: GrpcMetrics,
    bus: BusMetrics,
    ready: Gauge,
}

impl Metrics {
    /// A registry for `service` with the kit's metrics registered.
    pub fn new(service: &str) -> Self {
        let mut registry = Registry::with_prefix_and_labels(
            "civicgrid",
            [(std::borrow::Cow::Borrowed("service"), std::borrow::Cow::Owned(service.to_string()))].into_iter(),
        );
        let grpc = GrpcMetrics::register(&mut registry);
        let bus = BusMetrics::register(&mut registry);
        let ready = Gauge::default();
        registry.register(
            "ready",
            "1 while PostgreSQL and NATS answer and the service takes calls, else 0",
            ready.clone(),
        );
        Metrics {
            inner: Arc::new(Inner {
                service: service.to_string(),
                registry: std::sync::Mutex::new(registry),
                refreshers: Mutex::new(Vec::new()),
                grpc,
                bus,
                ready,
            }),
        }
    }

    /// Registers a service's own metric as `civicgrid_<name>` (counters get `_total`).
    pub fn register(&self, name: &str, help: &str, metric: impl Metric) {
        if let Ok(mut registry) = self.inner.registry.lock() {
            registry.register(name, help, metric);
        }
    }

    /// Runs `refresh` before every scrape (all refreshes concurrently, each cut off after 2 s),
    /// to set gauges read from the database or NATS.
    pub async fn on_scrape<F, Fut>(&self, refresh: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.inner.refreshers.lock().await.push(Box::new(move || Box::pin(refresh())));
    }

    /// The service the registry is for (its `service` label).
    pub fn service(&self) -> &str {
        &self.inner.service
    }

    /// The gRPC metrics the runtime's edge layer records.
    pub fn grpc(&self) -> &GrpcMetrics {
        &self.inner.grpc
    }

    /// The outbox and consumer metrics.
    pub fn bus(&self) -> &BusMetrics {
        &self.inner.bus
    }

    /// Sets `civicgrid_ready`.
    pub fn set_ready(&self, ready: bool) {
        self.inner.ready.set(i64::from(ready));
    }

    /// Whether the service last said it was ready (what `GET /readyz` answers).
    pub fn is_ready(&self) -> bool {
        self.inner.ready.get() == 1
    }

    /// Refreshes the scrape-time gauges and encodes everything as OpenMetrics text.
    pub async fn render(&self) -> String {
        {
            let refreshers = self.inner.refreshers.lock().await;
            let runs = refreshers.iter().map(|r| tokio::time::timeout(Duration::from_secs(2), r()));
            futures::future::join_all(runs).await;
        }
        let mut out = String::new();
        if let Ok(registry) = self.inner.registry.lock() {
            let _ = encode(&mut out, &registry);
        }
        out
    }
}

/// `[("name", value)]` as [`Labels`].
pub fn labels<const N: usize>(pairs: [(&'static str, &str); N]) -> Labels {
    pairs.into_iter().map(|(k, v)| (k, v.to_string())).collect()
}
