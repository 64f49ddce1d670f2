//! The warning job: every `mediation.ticker_interval_ms` it gives the warnings that fell due
//! (rounds repeat at once while they come back full, so a burst drains), and every few seconds
//! it brings into force a reference set another replica loaded.

use std::{sync::Arc, time::Duration};

use civicgrid_kit::{Shutdown, clock::Clock};

use crate::store::Store;

/// Cases per round.
pub const BATCH: i64 = 200;

/// Runs until `stop`.
pub async fn run(store: Arc<Store>, clock: Clock, every: Duration, stop: Shutdown) {
    let mut last_reference_check = tokio::time::Instant::now();
    loop {
        if last_reference_check.elapsed() > Duration::from_secs(5) {
            last_reference_check = tokio::time::Instant::now();
            if let Err(e) = store.reload_reference_if_newer().await {
                tracing::warn!(error = %e, "checking for newer mediation reference data failed");
            }
        }
        loop {
            match store.warn_due(clock.now(), BATCH).await {
                Ok(n) if n as i64 >= BATCH => continue,
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "warning round failed");
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
