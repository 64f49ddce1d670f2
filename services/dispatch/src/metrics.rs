//! dispatch's own metrics. Warnings and escalations are counted where every service counts
//! its facts: `civicgrid_facts_published_total{fact="task-warning"}` and
//! `{fact="task-escalated"}`.

use civicgrid_kit::metrics::{GaugeFamily, Metrics, labels};
use sqlx::PgPool;

/// Registers `civicgrid_dispatch_open_tasks{colour}`: tasks not yet closed by warning colour
/// (`none` while no clock runs, e.g. awaiting triage), counted at every scrape.
pub async fn register(metrics: &Metrics, pool: PgPool) {
    let open = GaugeFamily::default();
    metrics.register(
        "dispatch_open_tasks",
        "Tasks not yet closed, by warning colour (blue, yellow, orange, red)",
        open.clone(),
    );
    metrics
        .on_scrape(move || {
            let (pool, open) = (pool.clone(), open.clone());
            async move {
                match crate::store::open_tasks_by_colour(&pool).await {
                    Ok(rows) => {
                        for (colour, name) in [(0, "none"), (1, "blue"), (2, "yellow"), (3, "orange"), (4, "red")] {
                            let n = rows.iter().find(|(c, _)| *c == colour).map(|(_, n)| *n).unwrap_or(0);
                            open.get_or_create(&labels([("colour", name)])).set(n);
                        }
                    }
                    Err(e) => tracing::debug!(error = %e, "counting open tasks for metrics"),
                }
            }
        })
        .await;
}
