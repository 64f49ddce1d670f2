//! The housekeeping job: forgets old idempotency answers, drops old tracking sequences, and
//! erases the personal data of reporters of events closed longer than `intake.pii_retention_days`.

use std::{sync::Arc, time::Duration};

use civicgrid_kit::{Shutdown, clock::Clock};

use crate::store::Store;

/// How long things are kept, and how often the job runs.
pub struct Retention {
    /// Idempotency answers.
    pub answers: chrono::Duration,
    /// Reporters' personal data after their event closed.
    pub personal_data: chrono::Duration,
    /// Between two runs.
    pub every: Duration,
}

/// Runs [`Store::housekeeping`] and [`Store::erase_closed_reporters`] at start and every
/// `retention.every` until `stop`.
pub async fn run(store: Arc<Store>, clock: Clock, retention: Retention, stop: Shutdown) {
    let keep_answers = retention.answers;
    loop {
        match store.housekeeping(clock.now(), keep_answers).await {
            Ok((answers, sequences)) if answers + sequences as u64 > 0 => {
                tracing::info!(answers, sequences, "housekeeping: forgot old answers, dropped old tracking sequences")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "housekeeping failed"),
        }
        match store.erase_closed_reporters(clock.now(), retention.personal_data).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(reporters = n, "housekeeping: erased the personal data of long-closed events"),
            Err(e) => tracing::warn!(error = %e, "erasing personal data failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(retention.every) => {}
            _ = stop.cancelled() => return,
        }
    }
}
