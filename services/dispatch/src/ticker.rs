//! The warning ticker job: every `dispatch.ticker_interval_ms` it handles the tasks whose next
//! colour change is due, and every few seconds it brings into force a reference set another
//! replica loaded.

use std::{sync::Arc, time::Duration};

use civicgrid_kit::{Shutdown, clock::Clock};

use crate::store::Store;

/// Runs until `stop`. Rounds repeat at once while they come back full, so a burst drains.
pub async fn run(store: Arc<Store>, clock: Clock, every: Duration, batch: i64, stop: Shutdown) {
    let mut last_reference_check = tokio::time::Instant::now();
    loop {
        if last_reference_check.elapsed() > Duration::from_secs(5) {
            last_reference_check = tokio::time::Instant::now();
            if let Err(e) = store.reload_reference_if_newer().await {
                tracing::warn!(error = %e, "checking for newer reference data failed");
            }
        }
        loop {
            match store.tick(clock.now(), batch).await {
                Ok(n) if n as i64 >= batch => continue,
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "ticker round failed");
                    break;
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.cancelled() => return,
        }
    }
}
