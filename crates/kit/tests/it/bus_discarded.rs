//! A handler that keeps what its transaction wrote, to act on at the commit, is told when a
//! transaction it wrote in did not commit: what it kept must not be acted on.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use civicgrid_kit::bus::{HandleError, Handler, Incoming, inbox::BoxFuture};
use civicgrid_proto::v1::TaskEvent;
use prost::Message;
use sqlx::PgConnection;

use crate::bus::{bus_settings, consume, count, metrics, publish_raw, setup, stream_count, wait_for};

/// Writes each message's row and keeps a count of them until the commit (as notify keeps the
/// deliveries it wrote claimed for its worker), then adds the count to `acted_on`.
#[derive(Clone, Default)]
struct Keeper {
    kept: Arc<AtomicUsize>,
    acted_on: Arc<AtomicUsize>,
    discarded: Arc<AtomicUsize>,
}

impl Keeper {
    async fn write(&self, tx: &mut PgConnection, msgs: &[&Incoming]) -> Result<(), HandleError> {
        for msg in msgs {
            // Decoded one at a time, so a batch's poison fails it after its earlier rows were
            // written (and kept).
            let event = TaskEvent::decode(msg.payload.clone())?;
            sqlx::query("INSERT INTO applied (message_id, task_id) VALUES ($1, $2)")
                .bind(msg.message_id().unwrap_or_default())
                .bind(&event.task_id)
                .execute(&mut *tx)
                .await?;
            self.kept.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    }
}

impl Handler for Keeper {
    fn apply<'a>(&'a self, tx: &'a mut PgConnection, msg: &'a Incoming) -> BoxFuture<'a, Result<(), HandleError>> {
        Box::pin(async move { self.write(tx, &[msg]).await })
    }

    fn apply_batch<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        msgs: &'a [&'a Incoming],
    ) -> BoxFuture<'a, Result<(), HandleError>> {
        Box::pin(self.write(tx, msgs))
    }

    fn committed(&self) {
        self.acted_on.fetch_add(self.kept.swap(0, Ordering::SeqCst), Ordering::SeqCst);
    }

    fn discarded(&self) {
        self.kept.store(0, Ordering::SeqCst);
        self.discarded.fetch_add(1, Ordering::SeqCst);
    }
}

/// A batch that fails after writing rows is discarded before its messages are applied one by
/// one, and a message that fails alone is discarded too: what the handler acts on at its
/// commits is exactly what the database holds.
#[tokio::test]
async fn what_a_failed_transaction_wrote_is_discarded_not_acted_on() {
    let s = setup().await;
    // On the stream before the consumer starts, so they come as one batch: two good, the
    // poison, a good one.
    let good = |id: &str| TaskEvent { task_id: id.into(), ..Default::default() }.encode_to_vec();
    publish_raw(&s.js, "fact-d-1", "m-d-1", good("d-1")).await;
    publish_raw(&s.js, "fact-d-2", "m-d-2", good("d-2")).await;
    publish_raw(&s.js, "fact-d-3", "m-d-3", vec![0xff, 0xff, 0xff, 0xff]).await;
    publish_raw(&s.js, "fact-d-4", "m-d-4", good("d-4")).await;
    let keeper = Keeper::default();
    let (stop, handle) = consume(&s, "keeper", keeper.clone(), metrics(), &bus_settings()).await;
    wait_for("the poison dead-lettered", || async {
        stream_count(&s.js, civicgrid_kit::bus::DEADLETTER_STREAM).await == 1
    })
    .await;
    wait_for("the good ones applied", || async { count(&s.pool, "SELECT count(*) FROM applied").await == 3 }).await;
    stop.cancel();
    handle.await.unwrap();

    assert_eq!(keeper.acted_on.load(Ordering::SeqCst), 3, "acted on exactly the rows that committed");
    assert_eq!(count(&s.pool, "SELECT count(*) FROM applied").await, 3);
    // The batch of four (two rows written, then the poison) and the poison alone.
    assert_eq!(keeper.discarded.load(Ordering::SeqCst), 2);
}
