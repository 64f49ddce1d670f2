//! Bus handlers: intake's reported events become tasks; ratings are recorded and a
//! dissatisfied one reopens the case.

use std::sync::Arc;

use civicgrid_kit::{
    bus::{HandleError, Handler, Incoming, inbox::BoxFuture},
    clock::Clock,
};
use civicgrid_proto::v1::{EventRated, EventReported};
use prost::Message;
use sqlx::PgConnection;

use crate::store::{ActError, Store, StoreError, Writes};

/// The durable consumer name of [`IntakeHandler`].
pub const INTAKE_CONSUMER: &str = "dispatch-intake";

/// The subjects it reads.
pub fn intake_subjects() -> Vec<String> {
    vec!["civicgrid.intake.event-reported.>".into(), "civicgrid.intake.event-rated.>".into()]
}

/// Applies intake's `event-reported` and `event-rated`, a consumer batch at a time.
pub struct IntakeHandler {
    /// The store.
    pub store: Arc<Store>,
    /// The time source.
    pub clock: Clock,
}

fn store_error(e: StoreError) -> HandleError {
    match e {
        StoreError::Db(e) => e.into(),
        StoreError::Corrupt(m) => HandleError::Permanent(m),
    }
}

impl IntakeHandler {
    /// Applies `msgs` in order within the consumer's transaction. The tasks of consecutive
    /// `EventReported`s are created together, with multi-row statements; a rating first writes
    /// what came before it (its event's tasks may be among them). The change-feed rows of the
    /// whole batch are appended last, just before the runner commits. One message that cannot
    /// be decoded or applied fails the batch, which the runner then retries one by one.
    async fn apply_all(&self, tx: &mut PgConnection, msgs: &[&Incoming]) -> Result<(), HandleError> {
        let now = self.clock.now();
        let mut w = Writes::default();
        let mut reported = Vec::new();
        for msg in msgs {
            match msg.ce_type() {
                Some("civicgrid.v1.EventReported") => reported.push(EventReported::decode(msg.payload.clone())?),
                Some("civicgrid.v1.EventRated") => {
                    let rated = EventRated::decode(msg.payload.clone())?;
                    self.store.create_for_events(tx, &mut w, &reported, now).await.map_err(store_error)?;
                    reported.clear();
                    w.write_rows(tx).await.map_err(store_error)?;
                    match self.store.apply_rating(tx, &mut w, &rated, now).await {
                        Ok(_) => {}
                        Err(ActError::Store(e)) => return Err(store_error(e)),
                        Err(e) => return Err(HandleError::Permanent(e.to_string())),
                    }
                }
                Some(other) => return Err(HandleError::Permanent(format!("unexpected ce-type `{other}`"))),
                None => return Err(HandleError::Permanent("no ce-type header".into())),
            }
        }
        self.store.create_for_events(tx, &mut w, &reported, now).await.map_err(store_error)?;
        w.finish(tx).await.map_err(store_error)?;
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
