//! Bus handlers: intake's reported events become tasks; ratings are recorded and a
//! dissatisfied one reopens the case.

use std::sync::Arc;

use civicgrid_kit::{
    bus::{HandleError, Handler, Incoming, inbox::BoxFuture},
    clock::Clock,
};
use civicgrid_proto::v1::{EventRated, EventReported};
use sqlx::PgConnection;
use tracing::Instrument;

use crate::store::{ActError, Store, Writes};

/// Applies intake's `event-reported` and `event-rated`, a consumer batch at a time (consumer
/// contract `civicgrid_contracts::dispatch::INTAKE`).
pub struct IntakeHandler {
    /// The store.
    pub store: Arc<Store>,
    /// The time source.
    pub clock: Clock,
}

impl IntakeHandler {
    /// Applies `msgs` in order within the consumer's transaction. The tasks of consecutive
    /// `EventReported`s are created together, with multi-row statements; a rating first writes
    /// what came before it (its event's tasks may be among them). The change-feed rows of the
    /// whole batch are appended last, just before the runner commits. One message that cannot
    /// be decoded or applied fails the batch, which the runner then retries one by one. Each
    /// message's task facts are made in its span, so they go on in the trace of its report.
    async fn apply_all(&self, tx: &mut PgConnection, msgs: &[&Incoming]) -> Result<(), HandleError> {
        let now = self.clock.now();
        let mut w = Writes::default();
        let mut reported = Vec::new();
        for msg in msgs {
            match msg.ce_type() {
                Some(_) if msg.carries::<EventReported>() => reported.push((msg.decode()?, msg.span().clone())),
                Some(_) if msg.carries::<EventRated>() => {
                    let rated: EventRated = msg.decode()?;
                    self.store.create_for_events(tx, &mut w, &reported, now).await?;
                    reported.clear();
                    w.write_rows(tx).await?;
                    match self.store.apply_rating(tx, &mut w, &rated, now).instrument(msg.span().clone()).await {
                        Ok(_) => {}
                        Err(ActError::Store(e)) => return Err(e.into()),
                        Err(e) => return Err(HandleError::Permanent(e.to_string())),
                    }
                }
                Some(other) => return Err(HandleError::Permanent(format!("unexpected ce-type `{other}`"))),
                None => return Err(HandleError::Permanent("no ce-type header".into())),
            }
        }
        self.store.create_for_events(tx, &mut w, &reported, now).await?;
        w.finish(tx).await?;
        Ok(())
    }
}

impl Handler for IntakeHandler {
    fn apply<'a>(&'a self, tx: &'a mut PgConnection, msg: &'a Incoming) -> BoxFuture<'a, Result<(), HandleError>> {
        Box::pin(async move { self.apply_all(tx, &[msg]).await })
    }

    fn apply_batch<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        msgs: &'a [&'a Incoming],
    ) -> BoxFuture<'a, Result<(), HandleError>> {
        Box::pin(self.apply_all(tx, msgs))
    }

    fn committed(&self) {
        self.store.committed();
    }
}
