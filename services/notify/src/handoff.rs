//! Deliveries handed to the worker as they are written: a webhook or SMS delivery due at once
//! is written already claimed, under the worker's standing claim, and given to the worker in
//! memory once its transaction commits. The worker sends it without a claim transaction or a
//! second write of the row (docs/performance.md, "The seventh round").
//!
//! The database stays the truth: a handed delivery is an ordinary claimed row with a lease
//! (`notify.claim_lease_secs`). If the process dies before the worker records its outcome, the
//! lease runs out and any replica's claim takes it over, as after a crash mid-round. A stopping
//! worker releases what it was handed and did not send, so a restart or another replica finds
//! it at once.
//!
//! At most two rounds' worth (`2 × notify.worker_batch`) are in hand at a time, one being sent
//! and the next waiting; beyond that (the worker behind) deliveries are written unclaimed and
//! the worker claims them as before. A batch that waited half its lease is released, not sent.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Instant,
};

use chrono::Duration;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::store::deliveries::DeliveryRow;

/// The worker's side of the handoff, while it runs: what a consumer's transaction claims its
/// deliveries as, and where committed ones go.
#[derive(Debug)]
pub struct Handoff {
    /// The worker's standing claim: handed deliveries are written held by it.
    pub(crate) claim: Uuid,
    /// How long a handed delivery stays reserved to this worker.
    pub(crate) lease: Duration,
    /// The most deliveries handed over by one transaction: the worker's round.
    batch: usize,
    /// The most deliveries in hand at once: two rounds' worth.
    limit: usize,
    /// Deliveries reserved and not yet done with (written, in the channel, or being sent).
    in_hand: AtomicUsize,
    to_worker: mpsc::UnboundedSender<Handed>,
}

/// A batch of committed deliveries on its way to the worker.
#[derive(Debug)]
pub struct Handed {
    /// The deliveries, as written.
    pub(crate) rows: Vec<DeliveryRow>,
    /// Their places in hand, given back when the worker is done with them (dropped).
    reserved: Reserved,
}

impl Handed {
    /// How long ago their places were reserved, before they were written: their lease began
    /// later. A batch that waited half its lease is released, not sent (another claim may take
    /// it over soon after).
    pub(crate) fn age(&self) -> std::time::Duration {
        self.reserved.at.elapsed()
    }

    /// Splits off the deliveries after the first `k`, with their places, for a later round.
    pub(crate) fn split_off(&mut self, k: usize) -> Option<Handed> {
        if k >= self.rows.len() {
            return None;
        }
        let rows = self.rows.split_off(k);
        let moved = rows.len();
        self.reserved.n -= moved;
        let reserved = Reserved { handoff: self.reserved.handoff.clone(), n: moved, at: self.reserved.at };
        Some(Handed { rows, reserved })
    }
}

/// Places in hand reserved for deliveries being written; given back when dropped.
#[derive(Debug)]
pub struct Reserved {
    handoff: Arc<Handoff>,
    n: usize,
    /// When they were reserved.
    at: Instant,
}

impl Drop for Reserved {
    fn drop(&mut self) {
        self.handoff.in_hand.fetch_sub(self.n, Ordering::AcqRel);
    }
}

impl Reserved {
    /// How many places.
    pub(crate) fn len(&self) -> usize {
        self.n
    }
}

/// Deliveries a transaction wrote claimed for the worker, handed over when it commits.
#[derive(Debug, Default)]
pub struct Held {
    rows: Vec<DeliveryRow>,
    reserved: Vec<Reserved>,
}

impl Held {
    /// Deliveries written under `reserved`.
    pub(crate) fn new(rows: Vec<DeliveryRow>, reserved: Reserved) -> Self {
        Held { rows, reserved: vec![reserved] }
    }

    /// How many deliveries.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The claim the deliveries are written under, and its lease (`None` when there are none).
    pub(crate) fn claim(&self) -> Option<(Uuid, Duration)> {
        self.reserved.first().map(|r| (r.handoff.claim, r.handoff.lease))
    }

    /// The ids of the deliveries.
    pub(crate) fn ids(&self) -> impl Iterator<Item = Uuid> + '_ {
        self.rows.iter().map(|r| r.id)
    }

    /// Adds `other`'s deliveries (a later batch of the same transaction).
    pub(crate) fn absorb(&mut self, other: Held) {
        self.rows.extend(other.rows);
        self.reserved.extend(other.reserved);
    }

    /// Gives the deliveries to the worker they were claimed for. Those whose worker has stopped
    /// are returned, with their claim, for release.
    pub(crate) fn hand_over(self) -> Vec<(Uuid, Vec<Uuid>)> {
        let mut orphans = Vec::new();
        let mut rows = self.rows.into_iter();
        for reserved in self.reserved {
            let batch: Vec<DeliveryRow> = rows.by_ref().take(reserved.n).collect();
            let handoff = reserved.handoff.clone();
            let handed = Handed { rows: batch, reserved };
            if let Err(mpsc::error::SendError(back)) = handoff.to_worker.send(handed) {
                orphans.push((handoff.claim, back.rows.iter().map(|r| r.id).collect()));
            }
        }
        orphans
    }
}

impl Handoff {
    /// A handoff to a worker that sends rounds of `batch` and leases for `lease`, and the
    /// worker's end of it.
    pub fn open(lease: Duration, batch: usize) -> (Arc<Handoff>, mpsc::UnboundedReceiver<Handed>) {
        let (to_worker, from_consumers) = mpsc::unbounded_channel();
        let batch = batch.max(1);
        let handoff =
            Handoff { claim: Uuid::now_v7(), lease, batch, limit: 2 * batch, in_hand: AtomicUsize::new(0), to_worker };
        (Arc::new(handoff), from_consumers)
    }

    /// Reserves places for up to `n` deliveries of one transaction: as many as are free, up to
    /// a round; `None` when none are.
    pub fn reserve(self: &Arc<Self>, n: usize) -> Option<Reserved> {
        let mut current = self.in_hand.load(Ordering::Acquire);
        loop {
            let free = self.limit.saturating_sub(current).min(n).min(self.batch);
            if free == 0 {
                return None;
            }
            match self.in_hand.compare_exchange_weak(current, current + free, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Some(Reserved { handoff: self.clone(), n: free, at: Instant::now() }),
                Err(seen) => current = seen,
            }
        }
    }

    /// Deliveries reserved and not yet done with.
    pub fn in_hand(&self) -> usize {
        self.in_hand.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> DeliveryRow {
        DeliveryRow {
            id: Uuid::now_v7(),
            notification_id: Some(Uuid::now_v7()),
            recipient: "department:x".into(),
            channel: civicgrid_proto::v1::Channel::Webhook,
            endpoint_id: Some(Uuid::now_v7()),
            attempts: 0,
            digest: false,
            fact: "task-assigned".into(),
            source_event_id: String::new(),
            region: Default::default(),
            traceparent: None,
        }
    }

    #[test]
    fn places_are_limited_and_given_back_when_done_with() {
        // Rounds of two: four places.
        let (handoff, mut worker) = Handoff::open(Duration::seconds(60), 2);
        let two = handoff.reserve(5).expect("places");
        assert_eq!(two.len(), 2, "a round at most");
        let one = handoff.reserve(1).expect("one more");
        let last = handoff.reserve(2).expect("the last place");
        assert_eq!(last.len(), 1, "as many as are free");
        assert!(handoff.reserve(1).is_none(), "none free");
        drop((one, last));
        assert_eq!(handoff.in_hand(), 2, "a reservation dropped (its transaction rolled back) is given back");

        let held = Held::new(vec![row(), row()], two);
        assert!(held.hand_over().is_empty(), "the worker is there");
        assert_eq!(handoff.in_hand(), 2, "in hand until the worker is done");
        let handed = worker.try_recv().expect("handed");
        assert_eq!(handed.rows.len(), 2);
        drop(handed);
        assert_eq!(handoff.in_hand(), 0);
    }

    #[test]
    fn a_later_batch_of_the_same_transaction_is_handed_with_its_own_places() {
        let (handoff, mut worker) = Handoff::open(Duration::seconds(60), 10);
        let mut held = Held::new(vec![row()], handoff.reserve(1).unwrap());
        held.absorb(Held::new(vec![row(), row()], handoff.reserve(2).unwrap()));
        assert_eq!(held.len(), 3);
        assert!(held.hand_over().is_empty());
        let sizes = [worker.try_recv().unwrap().rows.len(), worker.try_recv().unwrap().rows.len()];
        assert_eq!(sizes, [1, 2]);
        assert_eq!(handoff.in_hand(), 0);
    }

    #[test]
    fn a_batch_split_for_two_rounds_keeps_its_places_apart() {
        let (handoff, mut worker) = Handoff::open(Duration::seconds(60), 10);
        let held = Held::new(vec![row(), row(), row()], handoff.reserve(3).unwrap());
        assert!(held.hand_over().is_empty());
        let mut first = worker.try_recv().unwrap();
        assert!(first.split_off(3).is_none(), "nothing after the last");
        let rest = first.split_off(1).expect("two more");
        assert_eq!((first.rows.len(), rest.rows.len()), (1, 2));
        drop(first);
        assert_eq!(handoff.in_hand(), 2, "the first round's place given back alone");
        drop(rest);
        assert_eq!(handoff.in_hand(), 0);
    }

    #[test]
    fn deliveries_for_a_stopped_worker_come_back_for_release() {
        let (handoff, worker) = Handoff::open(Duration::seconds(60), 10);
        let rows = vec![row(), row()];
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        let held = Held::new(rows, handoff.reserve(2).unwrap());
        drop(worker);
        assert_eq!(held.hand_over(), vec![(handoff.claim, ids)]);
        assert_eq!(handoff.in_hand(), 0);
    }
}
