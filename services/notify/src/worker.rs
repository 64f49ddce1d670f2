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
    time::to_proto,
};
use civicgrid_proto::v1::{Channel, DeliveryAttempt, DeliveryStatus, NotifyEvent};
use futures::StreamExt;
use tracing::Instrument;
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

/// The outcome label of a recorded attempt: `delivered`, `failed` (for good), `retry`, or
/// `held` (not sent: the endpoint's circuit is open).
fn outcome_label(o: &Outcome) -> &'static str {
    match (o.attempt.is_some(), o.status) {
        (false, _) => "held",
        (true, DeliveryStatus::Delivered) => "delivered",
        (true, DeliveryStatus::Failed) => "failed",
        _ => "retry",
    }
}

/// The channel label of a delivery.
fn channel_label(channel: Channel) -> &'static str {
    match channel {
        Channel::Webhook => "webhook",
        Channel::Sms => "sms",
        Channel::Inbox => "inbox",
        _ => "other",
    }
}

/// The span of one attempt (`webhook <fact>`, `sms <fact>`, kind client): the child of the
/// trace the delivery was queued with, so the call is the end of the trace of the report that
/// caused it, although the worker makes it later, from the queue. A webhook call sends the
/// span's context on as `traceparent`.
fn attempt_span(c: &Claimed) -> tracing::Span {
    let fact = if c.digest { "digest" } else { c.fact.as_str() };
    let span = tracing::info_span!(
        parent: None,
        "deliver",
        otel.name = %format!("{} {fact}", channel_label(c.channel)),
        otel.kind = %"client",
        delivery = %c.id,
        http.response.status_code = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
        otel.status_description = tracing::field::Empty,
    );
    civicgrid_kit::telemetry::set_parent_traceparent(&span, c.traceparent.as_deref());
    span
}

/// The channel's answer, on the attempt's span.
fn record_answer(span: &tracing::Span, result: &Result<Sent, Failed>) {
    match result {
        Ok(sent) => {
            span.record("http.response.status_code", sent.http_status);
        }
        Err(failed) => {
            if failed.http_status != 0 {
                span.record("http.response.status_code", failed.http_status);
            }
            span.record("otel.status_code", "error");
            span.record("otel.status_description", failed.error.as_str());
        }
    }
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
    /// in rounds; sleeps until woken by new work or the interval passes.
    /// Digests and re-escalations are due by the clock, so they are looked for once an interval;
    /// a wake by new deliveries (after each commit that made some) only works off the queue.
    pub async fn run(self, stop: Shutdown) {
        let wake = self.store.work_signal();
        let mut timed_at: Option<tokio::time::Instant> = None;
        loop {
            let notified = wake.notified();
            if timed_at.is_none_or(|t| t.elapsed() >= self.policy.interval) {
                timed_at = Some(tokio::time::Instant::now());
                self.timed_work().await;
            }
            self.work_off(&stop).await;
            tokio::select! {
                _ = notified => tokio::time::sleep(self.policy.linger).await,
                _ = tokio::time::sleep(self.policy.interval) => {}
                _ = stop.cancelled() => return,
            }
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
        if claimed.is_empty() {
            return Ok(0);
        }
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
        let n = claimed.len();
        self.store.record_outcomes(claim, &outcomes, &changed).await?;
        let channels: HashMap<Uuid, Channel> = claimed.iter().map(|c| (c.id, c.channel)).collect();
        for o in &outcomes {
            let channel = channels.get(&o.id).copied().map(channel_label).unwrap_or("other");
            self.deliveries.get_or_create(&labels([("channel", channel), ("outcome", outcome_label(o))])).inc();
        }
        Ok(n)
    }

    /// The outcome of a delivery that cannot be sent at all, or `None` when it can.
    fn unsendable(&self, c: &Claimed, now: DateTime<Utc>) -> Option<Outcome> {
        if let Some(problem) = &c.problem {
            return Some(self.given_up(c, now, problem));
        }
        match c.channel {
            Channel::Webhook => match &c.endpoint {
                Some(e) if e.active => None,
                _ => Some(self.given_up(c, now, "endpoint removed")),
            },
            Channel::Sms if c.phone.is_none() => Some(self.given_up(c, now, "no phone number for SMS")),
            Channel::Sms => None,
            _ => Some(self.given_up(c, now, "not a push channel")),
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
            span: tracing::Span::none(),
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
            span: tracing::Span::none(),
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
                span: tracing::Span::none(),
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
                    span: tracing::Span::none(),
                }
            }
        }
    }
}
