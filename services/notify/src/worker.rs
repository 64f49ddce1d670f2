//! The delivery worker: claims due deliveries, sends them (webhooks and SMS, many at once),
//! and records every attempt; forms digests and re-escalates unacknowledged notices.
//!
//! Several replicas share the queue: a claim is a lease in the database. A delivery's webhook
//! calls carry its id in `X-Civicgrid-Delivery`, the same on every retry, so a receiver can drop a
//! repeat (after a crash between a receiver's 2xx and the record of it, the call is made again).

use std::{collections::HashMap, sync::Arc, time::Duration as StdDuration};

use chrono::{DateTime, Duration, Utc};
use civicgrid_kit::{Shutdown, clock::Clock, time::to_proto};
use civicgrid_proto::v1::{Channel, DeliveryAttempt, DeliveryStatus, NotifyEvent};
use futures::StreamExt;
use uuid::Uuid;

use crate::{
    channels::{
        Failed, Sent, body,
        sms::SmsGateway,
        webhook::{Call, WebhookClient},
    },
    domain::{
        breaker::{BreakerPolicy, Circuit, Permit},
        schedule::retry_delay,
    },
    store::{Claimed, Outcome, Store, StoreError},
};

/// How the worker works.
#[derive(Debug, Clone, Copy)]
pub struct WorkerPolicy {
    /// Deliveries claimed per round.
    pub batch: i64,
    /// Calls in flight at once.
    pub concurrency: usize,
    /// How long a claim lasts.
    pub lease: Duration,
    /// Attempts before a delivery fails for good.
    pub max_attempts: i32,
    /// The first retry delay.
    pub retry_initial: StdDuration,
    /// The longest retry delay.
    pub retry_max: StdDuration,
    /// The circuit breaker.
    pub breaker: BreakerPolicy,
    /// How often to look when nothing wakes the worker.
    pub interval: StdDuration,
}

/// Sends deliveries.
pub struct Worker {
    /// The store.
    pub store: Arc<Store>,
    /// The time source.
    pub clock: Clock,
    /// Webhook calls.
    pub webhooks: WebhookClient,
    /// SMS.
    pub sms: Arc<dyn SmsGateway>,
    /// Settings.
    pub policy: WorkerPolicy,
}

enum Decision {
    Send,
    Done(Outcome),
}

impl Worker {
    /// Runs until `stop`: forms due digests, re-escalates due notices, then works off the queue
    /// in rounds; sleeps until woken by new work or the interval passes.
    pub fn spawn(self, stop: Shutdown) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let wake = self.store.work_signal();
            loop {
                let notified = wake.notified();
                self.pass().await;
                tokio::select! {
                    _ = notified => {}
                    _ = tokio::time::sleep(self.policy.interval) => {}
                    _ = stop.cancelled() => return,
                }
            }
        })
    }

    /// One pass over everything due now. Public for tests and benchmarks that drive the worker.
    pub async fn pass(&self) {
        let now = self.clock.now();
        if let Err(e) = self.store.form_digests(now).await {
            tracing::warn!(error = %e, "forming digests failed");
        }
        if let Err(e) = self.store.reescalate_due(now, 200).await {
            tracing::warn!(error = %e, "re-escalating unacknowledged notices failed");
        }
        loop {
            match self.round().await {
                Ok(n) if n as i64 >= self.policy.batch => continue,
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "delivery round failed");
                    break;
                }
            }
        }
    }

    /// Claims one batch, sends it and records the outcomes; returns how many were claimed.
    pub async fn round(&self) -> Result<usize, StoreError> {
        let now = self.clock.now();
        let claimed = self.store.claim_due(now, self.policy.batch, self.policy.lease).await?;
        if claimed.is_empty() {
            return Ok(0);
        }
        let mut circuits: HashMap<Uuid, Circuit> =
            claimed.iter().filter_map(|c| c.endpoint.as_ref().map(|e| (e.id, e.circuit))).collect();
        let before = circuits.clone();
        let mut trials = std::collections::HashSet::new();
        let mut outcomes = Vec::with_capacity(claimed.len());
        let mut to_send = Vec::new();
        for c in &claimed {
            match self.decide(c, now, &circuits, &mut trials) {
                Decision::Send => to_send.push(c.clone()),
                Decision::Done(o) => outcomes.push(o),
            }
        }
        let results: Vec<(Claimed, Result<Sent, Failed>)> = futures::stream::iter(to_send)
            .map(|c: Claimed| async move {
                let result = self.send(&c).await;
                (c, result)
            })
            .buffer_unordered(self.policy.concurrency.max(1))
            .collect()
            .await;
        let after = self.clock.now();
        for (c, result) in results {
            if let Some(e) = &c.endpoint
                && let Some(circuit) = circuits.get_mut(&e.id)
            {
                circuit.record(result.is_ok(), after, &self.policy.breaker);
            }
            outcomes.push(self.outcome_of(&c, result, after));
        }
        let changed: HashMap<Uuid, Circuit> =
            circuits.into_iter().filter(|(id, c)| before.get(id) != Some(c)).collect();
        let n = claimed.len();
        self.store.record_outcomes(&outcomes, &changed).await?;
        Ok(n)
    }

    fn decide(
        &self,
        c: &Claimed,
        now: DateTime<Utc>,
        circuits: &HashMap<Uuid, Circuit>,
        trials: &mut std::collections::HashSet<Uuid>,
    ) -> Decision {
        match c.channel {
            Channel::Webhook => match &c.endpoint {
                Some(e) if e.active => match circuits.get(&e.id).map(|circuit| circuit.permit(now)) {
                    Some(Permit::Hold(until)) => Decision::Done(self.held(c, until, "circuit open")),
                    // Half-open: one trial per endpoint; the rest wait for its verdict.
                    Some(Permit::Trial) if !trials.insert(e.id) => {
                        Decision::Done(self.held(c, now, "circuit half-open: waiting for the trial call"))
                    }
                    _ => Decision::Send,
                },
                _ => Decision::Done(self.given_up(c, now, "endpoint removed")),
            },
            Channel::Sms if c.phone.is_none() => Decision::Done(self.given_up(c, now, "no phone number for SMS")),
            Channel::Sms => Decision::Send,
            _ => Decision::Done(self.given_up(c, now, "not a push channel")),
        }
    }

    async fn send(&self, c: &Claimed) -> Result<Sent, Failed> {
        let id = c.id.to_string();
        match (c.channel, &c.endpoint, &c.phone) {
            (Channel::Webhook, Some(e), _) => {
                let endpoint_id = e.id.to_string();
                let fact = if c.digest { "digest" } else { c.fact.as_str() };
                self.webhooks
                    .post(Call {
                        url: &e.url,
                        secret: &e.secret,
                        endpoint_id: &endpoint_id,
                        delivery_id: &id,
                        fact,
                        body: body::webhook_body(&id, &endpoint_id, &c.recipient, c.digest, &c.notifications),
                        // Receivers compare it with their own clock: real time, not the service clock.
                        timestamp: Utc::now().timestamp(),
                    })
                    .await
            }
            (Channel::Sms, _, Some(phone)) => {
                self.sms.send(phone, &body::sms_text(c.digest, &c.notifications), &id).await
            }
            _ => Err(Failed { http_status: 0, error: "nothing to send with".into(), duration_ms: 0 }),
        }
    }

    fn event(&self, c: &Claimed, fact: &str, attempts: i32, error: &str, at: DateTime<Utc>) -> NotifyEvent {
        let first = c.notifications.first();
        NotifyEvent {
            fact: fact.into(),
            delivery_id: c.id.to_string(),
            notification_id: if c.digest { String::new() } else { first.map(|n| n.id.clone()).unwrap_or_default() },
            recipient: c.recipient.clone(),
            channel: c.channel as i32,
            endpoint_id: c.endpoint.as_ref().map(|e| e.id.to_string()).unwrap_or_default(),
            source_event_id: if c.digest {
                String::new()
            } else {
                first.map(|n| n.source_event_id.clone()).unwrap_or_default()
            },
            source_fact: c.fact.clone(),
            attempts,
            error: error.into(),
            region: Some(c.region.clone()),
            occurred_at: Some(to_proto(at)),
        }
    }

    fn held(&self, c: &Claimed, until: DateTime<Utc>, why: &str) -> Outcome {
        Outcome {
            id: c.id,
            status: DeliveryStatus::Pending,
            attempts: c.attempts,
            next_attempt_at: Some(until),
            attempt: None,
            error: why.into(),
            publish: None,
            region: c.region.clone(),
        }
    }

    fn given_up(&self, c: &Claimed, now: DateTime<Utc>, why: &str) -> Outcome {
        Outcome {
            id: c.id,
            status: DeliveryStatus::Failed,
            attempts: c.attempts,
            next_attempt_at: None,
            attempt: None,
            error: why.into(),
            publish: Some(self.event(c, "notify-failed", c.attempts, why, now)),
            region: c.region.clone(),
        }
    }

    fn outcome_of(&self, c: &Claimed, result: Result<Sent, Failed>, now: DateTime<Utc>) -> Outcome {
        let number = c.attempts + 1;
        match result {
            Ok(sent) => Outcome {
                id: c.id,
                status: DeliveryStatus::Delivered,
                attempts: number,
                next_attempt_at: None,
                attempt: Some(DeliveryAttempt {
                    number,
                    at: Some(to_proto(now)),
                    outcome: "delivered".into(),
                    http_status: sent.http_status,
                    error: String::new(),
                    duration_ms: sent.duration_ms,
                }),
                error: String::new(),
                publish: Some(self.event(c, "notify-delivered", number, "", now)),
                region: c.region.clone(),
            },
            Err(failed) => {
                let last = number >= self.policy.max_attempts.max(1);
                let attempt = DeliveryAttempt {
                    number,
                    at: Some(to_proto(now)),
                    outcome: if last { "gave-up" } else { "failed" }.into(),
                    http_status: failed.http_status,
                    error: failed.error.clone(),
                    duration_ms: failed.duration_ms,
                };
                if last {
                    tracing::warn!(delivery = %c.id, recipient = %c.recipient, error = %failed.error, "delivery failed for good");
                }
                Outcome {
                    id: c.id,
                    status: if last { DeliveryStatus::Failed } else { DeliveryStatus::Pending },
                    attempts: number,
                    next_attempt_at: (!last)
                        .then(|| now + retry_delay(number, self.policy.retry_initial, self.policy.retry_max)),
                    attempt: Some(attempt),
                    error: failed.error.clone(),
                    publish: last.then(|| self.event(c, "notify-failed", number, &failed.error, now)),
                    region: c.region.clone(),
                }
            }
        }
    }
}
