//! The submission queue of group commit: `SubmitEvent` handlers queue validated reports here,
//! and a few writer tasks take them in batches and write each batch in one transaction
//! ([`Store::submit_batch`]), answering every caller after the shared commit.
//!
//! A writer takes whatever is queued (at most `batch_max`); with an empty queue it waits up to
//! `batch_window` for more. While a writer commits, its queue fills, so under load the batches
//! grow by themselves, and alone a submission waits at most the window.
//!
//! Each writer has its own queue, and a submission goes to the writer of its catalog item and
//! county. A batch holds the duplicate locks of its (item, county) pairs until it commits, so
//! two writers sharing pairs would wait for each other's commits (measured: with a shared
//! queue, the second writer spent its time waiting for the first one's locks). Split by pair,
//! their batches never touch the same locks, and one can work while the other's commit waits
//! for the disk.

use std::{
    hash::{DefaultHasher, Hash, Hasher},
    sync::Arc,
    time::Duration,
};

use civicgrid_kit::Shutdown;
use civicgrid_proto::v1::SubmitEventResponse;
use tokio::{
    sync::{mpsc, oneshot},
    task::JoinHandle,
    time::Instant,
};

use crate::store::{Store, StoreError, Submission};

/// How batches are formed (`[intake]` settings `batch_max`, `batch_window_ms`, `batch_writers`).
#[derive(Debug, Clone, Copy)]
pub struct BatchSettings {
    /// The most submissions in one transaction.
    pub max: usize,
    /// How long a writer waits for more once it has one submission and the queue is empty.
    pub window: Duration,
    /// Writers, i.e. batches in flight at once, each for its share of the (item, county) pairs.
    pub writers: usize,
}

/// Why a queued submission got no answer from the store.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The service is shutting down and takes no more submissions.
    #[error("intake is shutting down")]
    Closed,
}

struct Job {
    submission: Submission,
    answer: oneshot::Sender<Result<SubmitEventResponse, StoreError>>,
}

/// Queues submissions for the writers. Cheap to clone.
#[derive(Clone)]
pub struct Submitter {
    queues: Arc<[mpsc::Sender<Job>]>,
}

impl Submitter {
    /// Queues `submission` and waits for its answer. A caller that gives up does not withdraw
    /// it: it is written all the same, and a retry with the same request id gets its answer.
    pub async fn submit(&self, submission: Submission) -> Result<SubmitEventResponse, SubmitError> {
        let (answer, answered) = oneshot::channel();
        let report = &submission.report;
        let queue = &self.queues[writer_of(&report.item_code, &report.region.county, self.queues.len())];
        queue.send(Job { submission, answer }).await.map_err(|_| SubmitError::Closed)?;
        Ok(answered.await.map_err(|_| SubmitError::Closed)??)
    }
}

/// The writers' side of the queues: [`Writers::run`] writes batches until stopped.
pub struct Writers {
    store: Arc<Store>,
    settings: BatchSettings,
    receivers: Vec<mpsc::Receiver<Job>>,
}

/// The queues of `settings.writers` writers over `store`: the [`Submitter`] for the gRPC
/// handlers, and the [`Writers`] the runtime runs as a job.
pub fn queues(store: Arc<Store>, settings: BatchSettings) -> (Submitter, Writers) {
    let max = settings.max.max(1);
    let (queues, receivers): (Vec<_>, Vec<_>) =
        (0..settings.writers.max(1)).map(|_| mpsc::channel::<Job>(max * 4)).unzip();
    (Submitter { queues: queues.into() }, Writers { store, settings, receivers })
}

impl Writers {
    /// Writes batches until `stop` is cancelled, then writes what is queued at that moment and
    /// returns. The runtime stops this job only after the gRPC server has answered its last
    /// call, so no accepted submission is left unwritten.
    pub async fn run(self, stop: Shutdown) {
        let Writers { store, settings, receivers } = self;
        let max = settings.max.max(1);
        let writers: Vec<JoinHandle<()>> = receivers
            .into_iter()
            .map(|mut receiver| {
                let (store, stop) = (store.clone(), stop.clone());
                tokio::spawn(async move {
                    loop {
                        let jobs = collect(&mut receiver, max, settings.window, &stop).await;
                        if jobs.is_empty() {
                            return;
                        }
                        let (submissions, answers): (Vec<Submission>, Vec<_>) =
                            jobs.into_iter().map(|j| (j.submission, j.answer)).unzip();
                        let results = store.submit_batch(&submissions).await;
                        for (answer, result) in answers.into_iter().zip(results) {
                            // The caller may have gone; its submission stands.
                            let _ = answer.send(result);
                        }
                    }
                })
            })
            .collect();
        for w in writers {
            if let Err(e) = w.await {
                tracing::error!(error = %e, "a submission writer failed");
            }
        }
    }
}

/// The writer of the submissions about `item_code` in `county`, among `writers`.
fn writer_of(item_code: &str, county: &str, writers: usize) -> usize {
    let mut h = DefaultHasher::new();
    (item_code, county).hash(&mut h);
    (h.finish() % writers.max(1) as u64) as usize
}

/// The next batch: the first job (waiting for it), what is queued behind it, and what arrives
/// within `window` while there is room. Empty when the queue is closed and drained.
async fn collect(receiver: &mut mpsc::Receiver<Job>, max: usize, window: Duration, stop: &Shutdown) -> Vec<Job> {
    let first = tokio::select! {
        biased;
        job = receiver.recv() => job,
        _ = stop.cancelled() => {
            // Take nothing new, but write what is already queued.
            receiver.close();
            receiver.recv().await
        }
    };
    let Some(first) = first else { return Vec::new() };
    let mut jobs = vec![first];
    while jobs.len() < max {
        match receiver.try_recv() {
            Ok(job) => jobs.push(job),
            Err(_) => break,
        }
    }
    if jobs.len() < max && !window.is_zero() && !stop.is_cancelled() {
        let deadline = Instant::now() + window;
        while jobs.len() < max {
            tokio::select! {
                job = receiver.recv() => match job {
                    Some(job) => jobs.push(job),
                    None => break,
                },
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
    }
    jobs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_pair_always_goes_to_one_writer_and_pairs_spread() {
        let w = writer_of("01.02.003", "411602", 2);
        assert!(w < 2);
        assert!((0..100).all(|_| writer_of("01.02.003", "411602", 2) == w));
        assert_eq!(writer_of("01.02.003", "411602", 1), 0);
        let used: std::collections::HashSet<usize> =
            (1..=10).map(|i| writer_of(&format!("{i:02}.01.001"), "411602", 2)).collect();
        assert_eq!(used.len(), 2, "ten items share two writers");
    }
}
