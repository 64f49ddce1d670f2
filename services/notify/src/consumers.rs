//! Bus handlers: the facts of the other services become notifications.

use std::sync::Arc;

use civicgrid_kit::{
    bus::{HandleError, Handler, Incoming, inbox::BoxFuture},
    clock::Clock,
};
use civicgrid_proto::v1::{EventMerged, EventReported, MediationCaseEvent, PatrolEvent, TaskEvent};
use sqlx::PgConnection;

use crate::{
    domain::{facts, mediation, patrol},
    store::Store,
};

/// Applies the facts of intake, dispatch, mediation and patrol (consumer contracts
/// `civicgrid_contracts::notify::INTAKE`, `DISPATCH`, `MEDIATION` and `PATROL`).
pub struct FactHandler {
    /// The store.
    pub store: Arc<Store>,
    /// The time source.
    pub clock: Clock,
}

impl FactHandler {
    /// The fact a message carries.
    fn fact_of(&self, msg: &Incoming) -> Result<facts::Fact, HandleError> {
        let ce_id = msg.message_id().unwrap_or_default();
        let offset = self.store.offset();
        let fact = match msg.ce_type() {
            Some(_) if msg.carries::<TaskEvent>() => facts::from_task_event(ce_id, &msg.decode()?, offset),
            Some(_) if msg.carries::<EventReported>() => facts::from_reported(ce_id, &msg.decode()?, offset),
            Some(_) if msg.carries::<EventMerged>() => facts::from_merged(ce_id, &msg.decode()?, offset),
            Some(_) if msg.carries::<MediationCaseEvent>() => mediation::from_case_event(ce_id, &msg.decode()?, offset),
            Some(_) if msg.carries::<PatrolEvent>() => patrol::from_patrol_event(ce_id, &msg.decode()?, offset),
            Some(other) => return Err(HandleError::Permanent(format!("unexpected ce-type `{other}`"))),
            None => return Err(HandleError::Permanent("no ce-type header".into())),
        };
        if fact.fact.is_empty() {
            return Err(HandleError::Permanent("the fact has no name".into()));
        }
        // Its deliveries are sent later, by the worker: they keep the trace to send in.
        Ok(facts::Fact { traceparent: msg.traceparent(), ..fact })
    }
}

impl Handler for FactHandler {
    fn apply<'a>(&'a self, tx: &'a mut PgConnection, msg: &'a Incoming) -> BoxFuture<'a, Result<(), HandleError>> {
        Box::pin(async move {
            let fact = self.fact_of(msg)?;
            self.store.record_fact(tx, &fact, self.clock.now()).await?;
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
            self.store.record_facts(tx, &facts, self.clock.now()).await?;
            Ok(())
        })
    }

    fn committed(&self) {
        // Facts become notifications and deliveries here, never outbox rows (those come from
        // the worker and re-escalation): the relay is not woken for nothing.
        self.store.notifications_committed();
    }
}
