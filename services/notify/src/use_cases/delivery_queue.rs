//! The delivery queue, as the worker uses it: claiming due deliveries with everything sending
//! them needs (their notifications, endpoints and phones), and recording the outcomes of a
//! round of sends in one transaction (deliveries, attempts, circuits, notify facts).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use civicgrid_kit::{bus::outbox::OutboxRow, time::from_proto};
use civicgrid_proto::v1::{self as pb, Channel};
use uuid::Uuid;

use crate::{
    domain::breaker::Circuit,
    store::{
        Claimed, Outcome, Store, StoreError,
        deliveries::{self, DeliveryRow},
        endpoints, notifications, outbox, preferences,
    },
};

impl Store {
    /// Claims up to `limit` deliveries due at `now` (pending or deferred) for `lease`: another
    /// replica skips them until the lease runs out, which is how a crashed replica's claims come
    /// back. Leases follow the database's clock, due times the service clock.
    ///
    /// Returns the round's claim token with the deliveries: only that token can record their
    /// outcomes ([`record_outcomes`](Self::record_outcomes)). If reading what the deliveries need
    /// fails, the claim is released at once.
    pub async fn claim_due(
        &self,
        now: DateTime<Utc>,
        limit: i64,
        lease: Duration,
    ) -> Result<(Uuid, Vec<Claimed>), StoreError> {
        let claim = Uuid::now_v7();
        let mut tx = self.pool.begin().await?;
        let rows = deliveries::claim(&mut tx, now, limit, lease, claim).await?;
        tx.commit().await?;
        if rows.is_empty() {
            return Ok((claim, Vec::new()));
        }
        match self.load_claimed(rows).await {
            Ok(claimed) => Ok((claim, claimed)),
            Err(e) => {
                if let Err(r) = deliveries::release(&self.pool, claim).await {
                    tracing::warn!(error = %r, "releasing a claim failed; its lease will run out");
                }
                Err(e)
            }
        }
    }

    /// What the claimed `rows` need to be sent: their notifications, endpoints and phones.
    pub(crate) async fn load_claimed(&self, rows: Vec<DeliveryRow>) -> Result<Vec<Claimed>, StoreError> {
        let single: Vec<Uuid> = rows.iter().filter_map(|r| r.notification_id).collect();
        let digests: Vec<Uuid> = rows.iter().filter(|r| r.digest).map(|r| r.id).collect();
        let notes = notifications::by_ids(&self.pool, &single).await?;
        let mut members = notifications::of_digests(&self.pool, &digests).await?;
        let endpoint_ids: Vec<Uuid> = rows.iter().filter_map(|r| r.endpoint_id).collect();
        let (endpoints, problems) = endpoints::for_sending(&self.pool, &self.cipher, &endpoint_ids).await?;
        let sms_recipients: Vec<String> =
            rows.iter().filter(|r| r.channel == Channel::Sms).map(|r| r.recipient.clone()).collect();
        let phones = preferences::phones_of(&self.pool, &self.cipher, &sms_recipients).await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let notifications = if row.digest {
                    members.remove(&row.id).unwrap_or_default()
                } else {
                    row.notification_id.and_then(|n| notes.get(&n).cloned()).into_iter().collect()
                };
                let phone = phones.get(&row.recipient).cloned();
                let problem = row
                    .endpoint_id
                    .and_then(|e| problems.get(&e).cloned())
                    .or_else(|| phone.as_ref().and_then(|p| p.as_ref().err().cloned()));
                Claimed {
                    id: row.id,
                    channel: row.channel,
                    endpoint: row.endpoint_id.and_then(|e| endpoints.get(&e).cloned()),
                    attempts: row.attempts,
                    notifications,
                    digest: row.digest,
                    fact: row.fact,
                    region: row.region,
                    phone: phone.and_then(Result::ok),
                    problem,
                    recipient: row.recipient,
                    traceparent: row.traceparent,
                }
            })
            .collect())
    }

    /// Records the outcomes of a round of sends in one transaction: the deliveries, their
    /// attempts, the endpoints' circuits and the notify facts for the outbox.
    ///
    /// Only deliveries still held by `claim` are written: a round that outlived its lease, whose
    /// deliveries another round took over, records and publishes nothing for them. Circuits are
    /// written only where they still are as this round saw them (`seen`), so a replica's round
    /// does not undo what another replica's round decided meanwhile.
    pub async fn record_outcomes(
        &self,
        claim: Uuid,
        outcomes: &[Outcome],
        circuits: &HashMap<Uuid, (Circuit, Circuit)>,
    ) -> Result<(), StoreError> {
        if outcomes.is_empty() && circuits.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        let ours = deliveries::record_outcomes(&mut tx, claim, outcomes).await?;
        if ours.len() < outcomes.len() {
            tracing::warn!(
                lost = outcomes.len() - ours.len(),
                "a delivery round outlived its lease; another round took those deliveries over"
            );
        }
        let ours: HashSet<Uuid> = ours.into_iter().collect();
        let outcomes: Vec<&Outcome> = outcomes.iter().filter(|o| ours.contains(&o.id)).collect();
        let attempts: Vec<(Uuid, &pb::DeliveryAttempt)> =
            outcomes.iter().filter_map(|o| o.attempt.as_ref().map(|a| (o.id, a))).collect();
        deliveries::insert_attempts(&mut tx, &attempts).await?;
        endpoints::update_circuits(&mut tx, circuits).await?;
        let rows: Vec<OutboxRow> = outcomes
            .iter()
            .filter_map(|o| {
                let e = o.publish.as_ref()?;
                let at = e.occurred_at.as_ref().and_then(from_proto).unwrap_or_default();
                // In the attempt's span: `notify-delivered` goes on in the fact's trace.
                Some(o.span.in_scope(|| outbox::notify_row(e, &o.region, at)))
            })
            .collect();
        outbox::insert(&mut tx, &rows).await?;
        tx.commit().await?;
        if !rows.is_empty() {
            self.signal.wake();
        }
        Ok(())
    }
}
