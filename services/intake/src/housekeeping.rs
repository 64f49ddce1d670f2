//! The housekeeping job: forgets old idempotency answers and drops old tracking sequences.

use std::{sync::Arc, time::Duration};

use civicgrid_kit::{Shutdown, clock::Clock};

use crate::store::Store;

/// Runs [`Store::housekeeping`] at start and every ten minutes until `stop`.
pub async fn run(store: Arc<Store>, clock: Clock, keep_answers: chrono::Duration, stop: Shutdown) {
    loop {
        match store.housekeeping(clock.now(), keep_answers).await {
            Ok((answers, sequences)) if answers + sequences as u64 > 0 => {
                tracing::info!(answers, sequences, "housekeeping: forgot old answers, dropped old tracking sequences")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "housekeeping failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(600)) => {}
            _ = stop.cancelled() => return,
        }
    }
}
