//! Recording a batch of facts: intake's facts teach their events' reporters, the rules decide
//! who hears of each fact and in which words, and each new notification (its own inbox entry)
//! is written with its pushed deliveries, in the consumer's transaction.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use civicgrid_proto::v1::DeliveryStatus;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    domain::{
        facts::Fact,
        notices::{Draft, NewDelivery},
    },
    handoff::Held,
    rules::apply::{self, Matched},
    store::{
        Store, StoreError,
        deliveries::{self, DeliveryRow},
        endpoints, notifications, pending, reporters,
    },
};

/// What [`Store::record_facts`] wrote.
#[derive(Debug, Default)]
pub struct Recorded {
    /// New notifications (each its recipient's inbox entry).
    pub notices: usize,
    /// Pushed deliveries (webhook, SMS) due at once and written unclaimed: they need the
    /// delivery worker's claim now; deferred and digested ones are found by its timed look.
    pub due_now: usize,
    /// Pushed deliveries due at once written claimed for the running worker: handed to it when
    /// the transaction commits ([`crate::handoff`]).
    pub held: Held,
}

impl Recorded {
    /// Adds `other` (a later batch of the same transaction).
    pub fn absorb(&mut self, other: Recorded) {
        self.notices += other.notices;
        self.due_now += other.due_now;
        self.held.absorb(other.held);
    }
}

impl Store {
    /// Turns `fact` into notifications inside `tx` (see [`record_facts`](Self::record_facts)).
    pub async fn record_fact(
        &self,
        tx: &mut PgConnection,
        fact: &Fact,
        now: DateTime<Utc>,
    ) -> Result<Recorded, StoreError> {
        self.record_facts(tx, std::slice::from_ref(fact), now).await
    }

    /// Turns `facts` (in delivery order) into notifications inside `tx`: remembers intake
    /// events' reporters, finds the rules and recipients, and writes each new notification with
    /// its pushed deliveries. A fact seen before (same ce-id) writes nothing. The
    /// whole batch costs the same few statements as one fact: one per table. Returns what was
    /// written.
    ///
    /// Locks, in this order and held to the commit: `REPORTERS_LOCK` when the batch teaches or
    /// needs reporters (`store/reporters.rs`), then the inbox locks of the recipients it writes
    /// to, to number the notifications (`store/notifications.rs`).
    pub async fn record_facts(
        &self,
        tx: &mut PgConnection,
        facts: &[Fact],
        now: DateTime<Utc>,
    ) -> Result<Recorded, StoreError> {
        // Facts that were waiting for the reporters this batch teaches are recorded with it.
        let replayed;
        let facts = match self.remember_reporters(&mut *tx, facts).await? {
            released if released.is_empty() => facts,
            released => {
                replayed = facts.iter().cloned().chain(released).collect::<Vec<_>>();
                replayed.as_slice()
            }
        };
        let matched: Vec<Matched> = self.rules.matched(facts, now, self.max_fact_age);
        if matched.is_empty() {
            return Ok(Recorded::default());
        }
        let needing = apply::events_needing_reporters(facts, &matched);
        // Read under REPORTERS_LOCK, held to the commit: an intake fact committing meanwhile
        // either is seen here or finds the fact parked below.
        let known = reporters::of_events(&mut *tx, &needing).await?;
        // A task fact for reporters nobody knows yet waits for intake's fact about its event.
        let waiting = apply::waiting(facts, &matched, &needing, &known);
        pending::park(&mut *tx, &waiting, now).await?;
        let targets = apply::targets(facts, &matched, &known);
        if targets.is_empty() {
            return Ok(Recorded::default());
        }
        let recipients = apply::recipients(&targets);
        let prefs = self.prefs_of(&mut *tx, &recipients).await?;
        let endpoints = endpoints::active_of(&mut *tx, &recipients).await?;

        // Each notice in its recipient's language; written (and numbered, under their inbox locks) in
        // batch order.
        let drafts: Vec<Draft> =
            targets.iter().map(|t| self.rules.draft(t, &facts[t.fact], &prefs[&t.recipient].locale, now)).collect();
        let inserted = notifications::insert(&mut *tx, &drafts, facts, now).await?;
        if inserted.is_empty() {
            return Ok(Recorded::default());
        }
        let inserted: HashSet<Uuid> = inserted.into_iter().collect();

        let deliveries: Vec<NewDelivery> = drafts
            .iter()
            .filter(|d| inserted.contains(&d.id))
            .flat_map(|d| {
                let endpoints = endpoints.get(&d.recipient).map(Vec::as_slice).unwrap_or(&[]);
                d.deliveries(&prefs[&d.recipient], endpoints, now, self.offset)
            })
            .collect();
        let due: Vec<&NewDelivery> = deliveries.iter().filter(|d| d.status == DeliveryStatus::Pending).collect();
        // Due at once: claimed for the running worker, as many as it has room for in hand.
        let reserved = self.handoff().filter(|_| !due.is_empty()).and_then(|h| h.reserve(due.len()));
        let (held, due_now) = match reserved {
            Some(reserved) => {
                let n = reserved.len();
                let rows = due[..n].iter().map(|d| DeliveryRow::written(d, &facts[d.fact])).collect();
                (Held::new(rows, reserved), due.len() - n)
            }
            None => (Held::default(), due.len()),
        };
        deliveries::insert(&mut *tx, &deliveries, facts, now, &held).await?;
        // The inbox deliveries are neither written nor announced on the bus: the notification is
        // the inbox entry, and WatchInbox is how to follow it. (A notice that asks for
        // acknowledgement is announced when it is acknowledged, or when it is not in time.)
        // Leaving out one message per notification halves what the relay publishes; leaving out
        // the row, a delivery row per notification.
        Ok(Recorded { notices: inserted.len(), due_now, held })
    }

    /// Records the reporters of intake's facts (first, so a closure later in the same batch
    /// finds them) and returns the facts that were waiting for those events' reporters.
    async fn remember_reporters(&self, tx: &mut PgConnection, facts: &[Fact]) -> Result<Vec<Fact>, StoreError> {
        let seen = apply::reporters_taught(facts);
        if seen.is_empty() {
            return Ok(Vec::new());
        }
        reporters::remember(&mut *tx, &seen).await?;
        let events: Vec<String> = seen.into_iter().map(|(e, _)| e).collect();
        pending::take(&mut *tx, &events).await
    }
}
