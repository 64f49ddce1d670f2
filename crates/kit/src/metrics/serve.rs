//! `GET /metrics` over HTTP.

use axum::{Router, extract::State, http::header, response::IntoResponse, routing::get};
use tokio::net::TcpListener;

use super::Metrics;
use crate::Shutdown;

/// The content type of the OpenMetrics text exposition.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

async fn scrape(State(metrics): State<Metrics>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], metrics.render().await)
}

/// Serves `GET /metrics` on `listener` until `stop`.
pub async fn serve(listener: TcpListener, metrics: Metrics, stop: Shutdown) -> std::io::Result<()> {
    let app = Router::new().route("/metrics", get(scrape)).with_state(metrics);
    axum::serve(listener, app).with_graceful_shutdown(stop.cancelled_owned()).await
}
