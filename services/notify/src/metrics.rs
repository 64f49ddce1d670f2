//! notify's own metrics: deliveries by channel and outcome and the worker's rounds (counted by
//! the worker), and the webhook endpoints whose circuit is open (counted at every scrape).

use civicgrid_kit::metrics::{CounterFamily, Metrics};
use prometheus_client::metrics::gauge::Gauge;
use sqlx::PgPool;

/// Registers `civicgrid_notify_deliveries_total{channel, outcome}` and returns it for the
/// worker.
pub fn deliveries(metrics: &Metrics) -> CounterFamily {
    let deliveries = CounterFamily::default();
    metrics.register(
        "notify_deliveries",
        "Delivery attempts by channel (webhook, sms) and outcome (delivered, retry, failed for good, held by an open circuit)",
        deliveries.clone(),
    );
    deliveries
}

/// Registers `civicgrid_notify_worker_rounds_total{found}` and returns it for the worker: its
/// rounds of deliveries handed over at their creation (`handed`), and its claim rounds, by
/// whether the claim found deliveries due (`some`) or not (`none`). Claim rounds that find
/// nothing are the worker's timed look and wake-ups for nothing.
pub fn rounds(metrics: &Metrics) -> CounterFamily {
    let rounds = CounterFamily::default();
    metrics.register(
        "notify_worker_rounds",
        "Rounds of the delivery worker: of deliveries handed over at their creation (handed), or claims that found deliveries due (some) or none",
        rounds.clone(),
    );
    rounds
}

/// Registers `civicgrid_notify_circuits_open`.
pub async fn register(metrics: &Metrics, pool: PgPool) {
    let open = Gauge::<i64>::default();
    metrics.register("notify_circuits_open", "Webhook endpoints whose circuit breaker is open now", open.clone());
    metrics
        .on_scrape(move || {
            let (pool, open) = (pool.clone(), open.clone());
            async move {
                match crate::store::open_circuits(&pool).await {
                    Ok(n) => {
                        open.set(n);
                    }
                    Err(e) => tracing::debug!(error = %e, "counting open circuits for metrics"),
                }
            }
        })
        .await;
}
