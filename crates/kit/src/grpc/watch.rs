//! The one way every Watch call streams: replay what comes after the client's cursor, then
//! follow live changes, woken by local commits and polling for those of other replicas.
//!
//! A feed is a table with a monotonically increasing sequence (dispatch's `task_changes`,
//! notify's inbox cursor) written in the same transaction as the change. The stream hands out
//! that sequence as each item's cursor; a client that reconnects with its last cursor misses
//! nothing and sees nothing twice.

use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

use futures::Stream;
use tokio::sync::{Notify, mpsc};
use tonic::Status;

use crate::Shutdown;

/// The stream a Watch call answers with.
pub type WatchStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// How a feed is followed.
#[derive(Clone)]
pub struct Follow {
    /// Notified after every local commit that appended to the feed.
    pub wake: Arc<Notify>,
    /// How often to look for changes made by other replicas.
    pub poll: Duration,
    /// Cancelled when the service stops taking calls: the stream then ends with UNAVAILABLE
    /// so the client resumes elsewhere from its last cursor.
    pub stopping: Shutdown,
    /// Rows read per round.
    pub batch: i64,
}

/// Streams the feed from `cursor` on. `read(cursor, limit)` returns up to `limit` rows after
/// `cursor` in order, each with its sequence and the item to send (`None`: the row is not for
/// this caller, but the cursor moves past it).
pub fn follow<T, R, Fut>(mut cursor: i64, follow: Follow, read: R) -> WatchStream<T>
where
    T: Send + 'static,
    R: Fn(i64, i64) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Vec<(i64, Option<T>)>, Status>> + Send,
{
    let (tx, rx) = mpsc::channel::<Result<T, Status>>(256);
    tokio::spawn(async move {
        loop {
            // Registered before reading, so a commit between the read and the wait wakes us.
            let notified = follow.wake.notified();
            let rows = match read(cursor, follow.batch.max(1)).await {
                Ok(rows) => rows,
                Err(status) => {
                    let _ = tx.send(Err(status)).await;
                    return;
                }
            };
            let empty = rows.is_empty();
            for (seq, item) in rows {
                cursor = seq;
                if let Some(item) = item
                    && tx.send(Ok(item)).await.is_err()
                {
                    return;
                }
            }
            if empty {
                tokio::select! {
                    _ = notified => {}
                    _ = tokio::time::sleep(follow.poll) => {}
                    _ = tx.closed() => return,
                    _ = follow.stopping.cancelled() => {
                        let _ = tx.send(Err(Status::unavailable("the service is shutting down; resume from the last cursor"))).await;
                        return;
                    }
                }
            }
        }
    });
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
}
