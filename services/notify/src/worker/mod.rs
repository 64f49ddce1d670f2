//! The delivery worker: claims due deliveries, sends them (webhooks and SMS, many at once),
//! and records every attempt; forms digests and re-escalates unacknowledged notices.
//!
//! Several replicas share the queue: a claim is a lease in the database. A delivery's webhook
//! calls carry its id in `X-Civicgrid-Delivery`, the same on every retry, so a receiver can drop a
//! repeat (after a crash between a receiver's 2xx and the record of it, the call is made again).

use std::{collections::HashMap, sync::Arc, time::Duration as StdDuration};

use chrono::{DateTime, Duration, Utc};
use civicgrid_kit::{
    Shutdown,
    clock::Clock,
    metrics::{CounterFamily, labels},
};
use civicgrid_proto::v1::Channel;
use futures::StreamExt;
use tracing::Instrument;
use uuid::Uuid;

mod outcomes;

use outcomes::{attempt_span, channel_label, outcome_label, record_answer};

use crate::{
    channels::{
        Failed, Sent, body,
        sms::SmsGateway,
        webhook::{Call, WebhookClient},
    },
    domain::breaker::{BreakerPolicy, Circuit, Permit},
    handoff::{Handed, Handoff},
    store::{
        Claimed, Outcome, Store, StoreError,
        deliveries::{self, DeliveryRow},
    },
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
    /// How often to look when nothing wakes the worker, and to form digests and re-escalate.
    pub interval: StdDuration,
    /// How long a woken worker waits before it claims (`bus.linger_ms`): the deliveries of
    /// the next few commits join the same round.
    pub linger: StdDuration,
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
    /// `civicgrid_notify_deliveries_total{channel, outcome}`.
    pub deliveries: CounterFamily,
    /// `civicgrid_notify_worker_rounds_total{found}`.
    pub rounds: CounterFamily,
}

/// What became of a delivery that was due to be sent.
enum Step {
    /// Not sent: the endpoint's circuit holds it until then.
    Held(DateTime<Utc>, &'static str),
    /// Sent, with the channel's answer and the attempt's span.
    Sent(Result<Sent, Failed>, tracing::Span),
}

/// The circuits of a round's endpoints as the round learns of them: consulted before every
/// call, so an endpoint that starts failing mid-round stops getting calls once its threshold is
/// reached, and a half-open circuit gets one trial call.
struct RoundCircuits {
    circuits: HashMap<Uuid, Circuit>,
    trials: std::collections::HashSet<Uuid>,
}

impl RoundCircuits {
    fn gate(&mut self, endpoint: Uuid, now: DateTime<Utc>) -> Option<(DateTime<Utc>, &'static str)> {
        match self.circuits.get(&endpoint).map(|c| c.permit(now)) {
            Some(Permit::Hold(until)) => Some((until, "circuit open")),
            Some(Permit::Trial) if !self.trials.insert(endpoint) => {
                Some((now, "circuit half-open: waiting for the trial call"))
            }
            _ => None,
        }
    }

    fn record(&mut self, endpoint: Uuid, success: bool, now: DateTime<Utc>, policy: &BreakerPolicy) {
        if let Some(c) = self.circuits.get_mut(&endpoint) {
            c.record(success, now, policy);
        }
    }
}

impl Worker {
    /// The worker `settings` describe, over `store`: webhook and SMS clients, retry and
    /// breaker policy, and its delivery counter registered in `metrics`.
    pub async fn from_settings(
        settings: &crate::Settings,
        store: Arc<Store>,
        clock: Clock,
        metrics: &civicgrid_kit::metrics::Metrics,
    ) -> Result<Self, reqwest::Error> {
        let n = &settings.notify;
        let sms: Arc<dyn SmsGateway> = match n.sms.provider {
            crate::config::SmsProvider::Http => Arc::new(crate::channels::sms::HttpSms::new(
                n.sms.url.clone().unwrap_or_default(),
                settings.sms_authorization(),
                StdDuration::from_millis(n.sms.timeout_ms.max(1)),
            )?),
            crate::config::SmsProvider::Log => Arc::new(crate::channels::sms::LogSms),
        };
        Ok(Worker {
            store,
            clock,
            webhooks: WebhookClient::new(StdDuration::from_millis(n.webhook_timeout_ms.max(1)))?,
            sms,
            policy: WorkerPolicy {
                batch: n.worker_batch.max(1),
                concurrency: n.worker_concurrency.max(1),
                lease: Duration::seconds(n.claim_lease_secs.max(1)),
                max_attempts: n.max_attempts.max(1),
                retry_initial: StdDuration::from_millis(n.retry_initial_ms.max(1)),
                retry_max: StdDuration::from_secs(n.retry_max_secs.max(1)),
                breaker: BreakerPolicy {
                    threshold: n.breaker_failures.max(1),
                    open_for: Duration::seconds(n.breaker_open_secs.max(1)),
                },
                interval: StdDuration::from_millis(n.worker_interval_ms.max(10)),
                linger: StdDuration::from_millis(settings.common.bus.linger_ms),
            },
            deliveries: crate::metrics::deliveries(metrics),
            rounds: crate::metrics::rounds(metrics),
        })
    }

    /// Runs until `stop`: forms due digests, re-escalates due notices, then works off the queue
    /// in rounds; sends what the consumers hand over as they commit ([`crate::handoff`]);
    /// sleeps until a wake, handed deliveries or the interval.
    /// Digests and re-escalations are due by the clock, so they are looked for once an interval,
    /// with a claim round; a wake (after a commit that wrote deliveries due at once unclaimed,
    /// the worker having two rounds' worth in hand) claims, after `bus.linger_ms`; handed
    /// deliveries need no claim. On `stop`, what was handed over and not sent is released for
    /// the next claim.
    pub async fn run(self, stop: Shutdown) {
        let wake = self.store.work_signal();
        let (handoff, mut handed) = Handoff::open(self.policy.lease, self.policy.batch.max(1) as usize);
        self.store.open_handoff(handoff.clone());
        let mut timed_at = tokio::time::Instant::now();
        // The first look claims whatever an earlier life or another replica left due.
        let (mut timed, mut claim) = (true, true);
        // What did not fit in the last round of handed deliveries.
        let mut next: Option<Handed> = None;
        loop {
            let notified = wake.notified();
            if timed || timed_at.elapsed() >= self.policy.interval {
                timed_at = tokio::time::Instant::now();
                self.timed_work().await;
                claim = true;
            }
            if claim {
                self.work_off(&stop).await;
            }
            (timed, claim) = (false, false);
            if stop.is_cancelled() {
                break;
            }
            if let Some(first) = next.take() {
                next = self.deliver_handed(&handoff, first, &mut handed).await;
                continue;
            }
            tokio::select! {
                biased;
                _ = stop.cancelled() => break,
                _ = notified => {
                    tokio::time::sleep(self.policy.linger).await;
                    claim = true;
                }
                Some(first) = handed.recv() => next = self.deliver_handed(&handoff, first, &mut handed).await,
                _ = tokio::time::sleep_until(timed_at + self.policy.interval) => timed = true,
            }
        }
        self.store.close_handoff();
        handed.close();
        drop(next);
        while handed.try_recv().is_ok() {}
        if let Err(e) = deliveries::release(self.store.pool(), handoff.claim).await {
            tracing::warn!(error = %e, "releasing the deliveries handed over and not sent failed; their lease will run out");
        }
    }

    /// Sends `first` and whatever else is waiting in `handed`, up to a batch, as one round:
    /// they were written claimed, so there is nothing to claim. Returns what did not fit, for
    /// the next round. Deliveries that waited half their lease are released instead (a claim
    /// may take them over soon).
    async fn deliver_handed(
        &self,
        handoff: &Handoff,
        first: Handed,
        handed: &mut tokio::sync::mpsc::UnboundedReceiver<Handed>,
    ) -> Option<Handed> {
        let batch = self.policy.batch.max(1) as usize;
        let mut round = vec![first];
        let mut next = round[0].split_off(batch);
        let mut n = round[0].rows.len();
        while next.is_none() && n < batch {
            let Ok(mut more) = handed.try_recv() else { break };
            next = more.split_off(batch - n);
            n += more.rows.len();
            round.push(more);
        }
        let fresh_for = (handoff.lease / 2).to_std().unwrap_or_default();
        let (fresh, stale): (Vec<Handed>, Vec<Handed>) = round.into_iter().partition(|h| h.age() < fresh_for);
        let stale: Vec<Uuid> = stale.iter().flat_map(|h| h.rows.iter().map(|r| r.id)).collect();
        if !stale.is_empty() {
            tracing::warn!(deliveries = stale.len(), "handed deliveries waited half their lease; released for a claim");
            self.release(handoff, &stale).await;
        }
        let rows: Vec<DeliveryRow> = fresh.iter().flat_map(|h| h.rows.iter().cloned()).collect();
        if rows.is_empty() {
            return next;
        }
        self.rounds.get_or_create(&labels([("found", "handed")])).inc();
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        match self.store.load_claimed(rows).await {
            // Nothing was sent: they go back to the queue at once.
            Err(e) => {
                tracing::warn!(error = %e, "reading handed deliveries failed; they are released for a claim");
                self.release(handoff, &ids).await;
            }
            // A round whose outcomes could not be recorded keeps its deliveries held until the
            // lease runs out, as a claimed round does: they were sent, and sending them again at
            // once would repeat every call.
            Ok(claimed) => {
                if let Err(e) = self.deliver(handoff.claim, claimed, self.clock.now()).await {
                    tracing::warn!(error = %e, "recording a round of handed deliveries failed; they go again after their lease");
                }
            }
        }
        // The places in hand are given back only now.
        drop(fresh);
        next
    }

    /// Releases `ids`, held by `handoff`'s claim, for the next claim.
    async fn release(&self, handoff: &Handoff, ids: &[Uuid]) {
        if let Err(e) = deliveries::release_ids(self.store.pool(), handoff.claim, ids).await {
            tracing::warn!(error = %e, "releasing handed deliveries failed; their lease will run out");
        }
    }

    /// One pass over everything due now; a stop ends it after the round in flight, so a
    /// graceful shutdown does not wait for a whole backlog.
    pub async fn pass(&self, stop: &Shutdown) {
        self.timed_work().await;
        self.work_off(stop).await;
    }

    /// Forms the digests due now and re-escalates the notices due now.
    async fn timed_work(&self) {
        let now = self.clock.now();
        if let Err(e) = self.store.form_digests(now).await {
            tracing::warn!(error = %e, "forming digests failed");
        }
        if let Err(e) = self.store.reescalate_due(now, 200).await {
            tracing::warn!(error = %e, "re-escalating unacknowledged notices failed");
        }
    }

    /// Rounds of the delivery queue until one comes back less than full.
    async fn work_off(&self, stop: &Shutdown) {
        while !stop.is_cancelled() {
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
        let (claim, claimed) = self.store.claim_due(now, self.policy.batch, self.policy.lease).await?;
        let found = if claimed.is_empty() { "none" } else { "some" };
        self.rounds.get_or_create(&labels([("found", found)])).inc();
        let n = claimed.len();
        if n > 0 {
            self.deliver(claim, claimed, now).await?;
        }
        Ok(n)
    }

    /// Sends the deliveries `claim` holds (at most as many at once as the policy allows, each
    /// endpoint's circuit consulted before each call) and records their outcomes.
    async fn deliver(&self, claim: Uuid, claimed: Vec<Claimed>, now: DateTime<Utc>) -> Result<(), StoreError> {
        let seen: HashMap<Uuid, Circuit> =
            claimed.iter().filter_map(|c| c.endpoint.as_ref().map(|e| (e.id, e.circuit))).collect();
        let live = std::sync::Mutex::new(RoundCircuits { circuits: seen.clone(), trials: Default::default() });
        let mut outcomes = Vec::with_capacity(claimed.len());
        let mut to_send = Vec::new();
        for c in &claimed {
            match self.unsendable(c, now) {
                Some(o) => outcomes.push(o),
                None => to_send.push(c.clone()),
            }
        }
        let live = &live;
        let results: Vec<(Claimed, Step)> = futures::stream::iter(to_send)
            .map(|c: Claimed| async move {
                let endpoint = c.endpoint.as_ref().map(|e| e.id);
                if let Some(e) = endpoint {
                    let gate = live.lock().unwrap_or_else(|p| p.into_inner()).gate(e, self.clock.now());
                    if let Some((until, why)) = gate {
                        return (c, Step::Held(until, why));
                    }
                }
                let span = attempt_span(&c);
                let result = self.send(&c).instrument(span.clone()).await;
                record_answer(&span, &result);
                if let Some(e) = endpoint {
                    live.lock().unwrap_or_else(|p| p.into_inner()).record(
                        e,
                        result.is_ok(),
                        self.clock.now(),
                        &self.policy.breaker,
                    );
                }
                (c, Step::Sent(result, span))
            })
            .buffer_unordered(self.policy.concurrency.max(1))
            .collect()
            .await;
        let after = self.clock.now();
        for (c, step) in results {
            outcomes.push(match step {
                Step::Held(until, why) => self.held(&c, until, why),
                Step::Sent(result, span) => Outcome { span, ..self.outcome_of(&c, result, after) },
            });
        }
        let learned = live.lock().unwrap_or_else(|p| p.into_inner()).circuits.clone();
        let changed: HashMap<Uuid, (Circuit, Circuit)> = learned
            .into_iter()
            .filter_map(|(id, new)| seen.get(&id).filter(|old| **old != new).map(|old| (id, (*old, new))))
            .collect();
        self.store.record_outcomes(claim, &outcomes, &changed).await?;
        let channels: HashMap<Uuid, Channel> = claimed.iter().map(|c| (c.id, c.channel)).collect();
        for o in &outcomes {
            let channel = channels.get(&o.id).copied().map(channel_label).unwrap_or("other");
            self.deliveries.get_or_create(&labels([("channel", channel), ("outcome", outcome_label(o))])).inc();
        }
        Ok(())
    }

    /// Sends `c` on its channel: the signed webhook call, or the text message.
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
}
