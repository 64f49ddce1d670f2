//! `GET /metrics` over HTTP, and plain HTTP probes for orchestrators that cannot speak to a TLS
//! gRPC port (Kubernetes' native gRPC probes are plaintext): `GET /livez` (the process answers)
//! and `GET /readyz` (200 while gRPC health says SERVING, 503 while not).

use axum::{
    Router,
    extract::State,
    http::{StatusCode, header},
    response::IntoResponse,
    routing::get,
};
use tokio::net::TcpListener;

use super::Metrics;
use crate::Shutdown;

/// The content type of the OpenMetrics text exposition.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

async fn scrape(State(metrics): State<Metrics>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], metrics.render().await)
}

async fn ready(State(metrics): State<Metrics>) -> (StatusCode, &'static str) {
    if metrics.is_ready() { (StatusCode::OK, "ready\n") } else { (StatusCode::SERVICE_UNAVAILABLE, "not ready\n") }
}

/// Serves `GET /metrics`, `/livez` and `/readyz` on `listener` until `stop`.
pub async fn serve(listener: TcpListener, metrics: Metrics, stop: Shutdown) -> std::io::Result<()> {
    let app = Router::new()
        .route("/metrics", get(scrape))
        .route("/livez", get(|| async { "live\n" }))
        .route("/readyz", get(ready))
        .with_state(metrics);
    axum::serve(listener, app).with_graceful_shutdown(stop.cancelled_owned()).await
}
