//! mediation's own metrics, counted at every scrape: `civicgrid_mediation_open_cases{state}`
//! (cases not in a final state, by state) and `civicgrid_mediation_overdue_cases` (open cases
//! with a deadline passed). Facts are counted where every service counts them:
//! `civicgrid_facts_published_total{fact="case-warning"}` and so on.

use std::sync::Arc;

use civicgrid_kit::{
    clock::Clock,
    metrics::{GaugeFamily, Metrics, labels},
};
use prometheus_client::metrics::gauge::Gauge;

use crate::{
    domain::case::State,
    store::{Store, cases},
};

/// Registers the gauges and their refresh.
pub async fn register(metrics: &Metrics, store: Arc<Store>, clock: Clock) {
    let open = GaugeFamily::default();
    let overdue = Gauge::<i64>::default();
    metrics.register("mediation_open_cases", "Cases not in a final state, by state", open.clone());
    metrics.register("mediation_overdue_cases", "Open cases with a deadline passed", overdue.clone());
    metrics
        .on_scrape(move || {
            let (store, clock, open, overdue) = (store.clone(), clock.clone(), open.clone(), overdue.clone());
            async move {
                match cases::open_by_state(store.pool()).await {
                    Ok(rows) => {
                        for state in State::ALL.into_iter().filter(|s| !s.is_final()) {
                            let n = rows.iter().find(|(s, _)| s == state.as_str()).map(|(_, n)| *n).unwrap_or(0);
                            open.get_or_create(&labels([("state", state.as_str())])).set(n);
                        }
                    }
                    Err(e) => tracing::debug!(error = %e, "counting open cases for metrics"),
                }
                match cases::overdue(store.pool(), clock.now()).await {
                    Ok(n) => {
                        overdue.set(n);
                    }
                    Err(e) => tracing::debug!(error = %e, "counting overdue cases for metrics"),
                }
            }
        })
        .await;
}
