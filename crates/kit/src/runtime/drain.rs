//! The ordered drain: each step waits for its tasks until the one deadline of the whole stop,
//! and abandons what is still running then.

use std::time::Duration;

use tokio::{task::JoinHandle, time::Instant};

use crate::Shutdown;

/// One group of tasks that stop together.
pub(crate) struct Step {
    pub(crate) name: String,
    pub(crate) stop: Shutdown,
    pub(crate) tasks: Vec<JoinHandle<()>>,
}

/// Stops `steps` one after another (cancel, then wait) before `deadline`. A step still running
/// at the deadline is aborted and named in the log, and the rest are aborted at once: the drain
/// never outlives its limit. Returns the names of the steps that were cut off.
pub(crate) async fn drain(steps: Vec<Step>, deadline: Instant) -> Vec<String> {
    let mut cut = Vec::new();
    for step in steps {
        step.stop.cancel();
        let started = Instant::now();
        let mut late = false;
        for mut task in step.tasks {
            if late {
                task.abort();
                continue;
            }
            match tokio::time::timeout_at(deadline, &mut task).await {
                Ok(_) => {}
                Err(_) => {
                    task.abort();
                    late = true;
                }
            }
        }
        if late {
            tracing::warn!(step = %step.name, "drain: not finished within the drain limit; abandoned");
            cut.push(step.name);
        } else {
            tracing::debug!(step = %step.name, took = ?started.elapsed(), "drain: stopped");
        }
    }
    cut
}

/// The deadline `limit` from now.
pub(crate) fn deadline_in(limit: Duration) -> Instant {
    Instant::now() + limit
}
