//! What became of a delivery, as the worker records it: outcomes (sent, retried, given up,
//! held by a circuit), the notify facts they publish, the metrics' labels, and the attempt's span.

use chrono::{DateTime, Utc};
use civicgrid_kit::time::to_proto;
use civicgrid_proto::v1::{Channel, DeliveryAttempt, DeliveryStatus, NotifyEvent};

use super::Worker;
use crate::{
    channels::{Failed, Sent},
    domain::schedule::retry_delay,
    store::{Claimed, Outcome},
};

/// The outcome label of a recorded attempt: `delivered`, `failed` (for good), `retry`, or
/// `held` (not sent: the endpoint's circuit is open).
pub(super) fn outcome_label(o: &Outcome) -> &'static str {
    match (o.attempt.is_some(), o.status) {
        (false, _) => "held",
        (true, DeliveryStatus::Delivered) => "delivered",
        (true, DeliveryStatus::Failed) => "failed",
        _ => "retry",
    }
}

/// The channel label of a delivery.
pub(super) fn channel_label(channel: Channel) -> &'static str {
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
pub(super) fn attempt_span(c: &Claimed) -> tracing::Span {
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
pub(super) fn record_answer(span: &tracing::Span, result: &Result<Sent, Failed>) {
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

impl Worker {
    /// The outcome of a delivery that cannot be sent at all, or `None` when it can.
    pub(super) fn unsendable(&self, c: &Claimed, now: DateTime<Utc>) -> Option<Outcome> {
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

    pub(super) fn held(&self, c: &Claimed, until: DateTime<Utc>, why: &str) -> Outcome {
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

    pub(super) fn given_up(&self, c: &Claimed, now: DateTime<Utc>, why: &str) -> Outcome {
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

    pub(super) fn outcome_of(&self, c: &Claimed, result: Result<Sent, Failed>, now: DateTime<Utc>) -> Outcome {
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
