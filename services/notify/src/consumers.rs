//! Bus handlers: the facts of the other services become notifications.

use std::sync::{Arc, Mutex};

use civicgrid_kit::{
    bus::{HandleError, Handler, Incoming, inbox::BoxFuture},
    clock::Clock,
};
use civicgrid_proto::v1::{EventMerged, EventReported, MediationCaseEvent, PatrolEvent, TaskEvent};
use sqlx::PgConnection;

use crate::{
    domain::{facts, mediation, patrol},
    rules::apply,
    store::Store,
    use_cases::record_facts::Recorded,
};

/// Applies the facts of intake, dispatch, mediation and patrol (consumer contracts
/// `civicgrid_contracts::notify::INTAKE`, `DISPATCH`, `MEDIATION` and `PATROL`). One per
/// consumer: the runner applies a consumer's batches one after another, so what the batch in
/// hand wrote is known when it commits.
pub struct FactHandler {
    /// The store.
    pub store: Arc<Store>,
    /// The time source.
    pub clock: Clock,
    /// What the transaction in hand wrote (notices; deliveries due at once, claimed for the
    /// worker or not), told to the store at its commit so that it wakes only the watchers or
    /// the worker that have something to do, and hands the worker its deliveries.
    written: Mutex<Recorded>,
}

impl FactHandler {
    /// The handler of one consumer.
    pub fn new(store: Arc<Store>, clock: Clock) -> Self {
        FactHandler { store, clock, written: Mutex::default() }
    }

    /// Adds what a batch (or a message) wrote to the transaction's account.
    fn wrote(&self, recorded: Recorded) {
        self.written.lock().unwrap_or_else(|p| p.into_inner()).absorb(recorded);
    }

    /// Takes the transaction's account.
    fn take_written(&self) -> Recorded {
        std::mem::take(&mut *self.written.lock().unwrap_or_else(|p| p.into_inner()))
    }
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
            self.wrote(self.store.record_fact(tx, &fact, self.clock.now()).await?);
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
            self.wrote(self.store.record_facts(tx, &facts, self.clock.now()).await?);
            Ok(())
        })
    }

    /// A fact no rule names (a task signed for, a blue warning) and that teaches no reporter
    /// writes nothing: it is acknowledged without a transaction.
    fn concerns(&self, msg: &Incoming) -> bool {
        let Ok(fact) = self.fact_of(msg) else { return true };
        let facts = std::slice::from_ref(&fact);
        !apply::reporters_taught(facts).is_empty()
            || !self.store.rules().matched(facts, self.clock.now(), self.store.max_fact_age).is_empty()
    }

    /// Every write is keyed by the fact: a notification by `<ce-id>/<rule>/<recipient>`
    /// (`ON CONFLICT (dedup_key) DO NOTHING`, and its deliveries only when it is new), a reporter
    /// by event and reporter, a parked fact by event and `ce-id`; and the batch holds its
    /// recipients' inbox locks. So a fact applied again writes nothing, and the consumers keep no inbox
    /// rows (two a report, and a statement a batch).
    fn idempotent(&self) -> bool {
        true
    }

    fn committed(&self) {
        // Facts become notifications and deliveries here, never outbox rows (those come from
        // the worker and re-escalation): the relay is not woken for nothing. The deliveries
        // written claimed for the worker are handed to it now, and only now: before the commit
        // they might not exist.
        self.store.notifications_committed(self.take_written());
    }

    fn discarded(&self) {
        // Rolled back, or the commit failed: hand nothing over (the places in hand are given
        // back), and release what the transaction may have written held.
        self.store.discarded(self.take_written());
    }
}
