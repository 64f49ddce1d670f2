//! Bus handlers: the facts of the other services become notifications.

use std::sync::Arc;

use civicgrid_kit::{
    bus::{HandleError, Handler, Incoming, inbox::BoxFuture},
    clock::Clock,
};
use civicgrid_proto::v1::{EventMerged, EventReported, TaskEvent};
use prost::Message;
use sqlx::PgConnection;

use crate::{
    domain::facts,
    store::{Store, StoreError},
};

/// The durable consumer of intake's facts.
pub const INTAKE_CONSUMER: &str = "notify-intake";
/// The durable consumer of dispatch's facts.
pub const DISPATCH_CONSUMER: &str = "notify-dispatch";

/// The intake subjects notify reads.
pub fn intake_subjects() -> Vec<String> {
    vec!["civicgrid.intake.event-reported.>".into(), "civicgrid.intake.event-merged.>".into()]
}

/// The dispatch subjects notify reads: every task fact.
pub fn dispatch_subjects() -> Vec<String> {
    vec!["civicgrid.dispatch.>".into()]
}

/// Applies the facts of intake and dispatch.
pub struct FactHandler {
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

impl FactHandler {
    /// The fact a message carries.
    fn fact_of(&self, msg: &Incoming) -> Result<facts::Fact, HandleError> {
        let ce_id = msg.message_id().unwrap_or_default();
        let offset = self.store.offset();
        let fact = match msg.ce_type() {
            Some("civicgrid.v1.TaskEvent") => {
                facts::from_task_event(ce_id, &TaskEvent::decode(msg.payload.clone())?, offset)
            }
            Some("civicgrid.v1.EventReported") => {
                facts::from_reported(ce_id, &EventReported::decode(msg.payload.clone())?, offset)
            }
            Some("civicgrid.v1.EventMerged") => {
                facts::from_merged(ce_id, &EventMerged::decode(msg.payload.clone())?, offset)
            }
            Some(other) => return Err(HandleError::Permanent(format!("unexpected ce-type `{other}`"))),
            None => return Err(HandleError::Permanent("no ce-type header".into())),
        };
        if fact.fact.is_empty() {
            return Err(HandleError::Permanent("the fact has no name".into()));
        }
        Ok(fact)
    }
}

impl Handler for FactHandler {
    fn apply<'a>(&'a self, tx: &'a mut PgConnection, msg: &'a Incoming) -> BoxFuture<'a, Result<(), HandleError>> {
        Box::pin(async move {
            let fact = self.fact_of(msg)?;
            self.store.record_fact(tx, &fact, self.clock.now()).await.map_err(store_error)?;
            Ok(())
        })
    }

    /// The whole batch in one [`Store::record_facts`]: a few statements per batch rather than
    /// per fact. A message that does not decode fails the batch, which the runner then applies
    /// one by one, so only that message is dead-lettered.
    fn apply_batch<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        msgs: &'a [&'a Incoming],
    ) -> BoxFuture<'a, Result<(), HandleError>> {
        Box::pin(async move {
            let facts = msgs.iter().map(|m| self.fact_of(m)).collect::<Result<Vec<_>, _>>()?;
            self.store.record_facts(tx, &facts, self.clock.now()).await.map_err(store_error)?;
            Ok(())
        })
    }

    fn committed(&self) {
        self.store.committed();
    }
}
