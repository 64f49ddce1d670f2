//! Dead-lettering: a message that cannot be applied is copied, with its reason, to the
//! dead-letter subject, then terminated; shared by the inbox consumer and the feed runner.

use std::time::Duration;

use async_nats::jetstream::{self, AckKind};

use super::envelope::{self, Incoming, to_header_map};
use crate::metrics::Metrics;

/// Where a consumer's dead letters go: shared by the inbox consumer and the feed runner.
pub(crate) struct DeadLetter<'a> {
    pub(crate) js: &'a jetstream::Context,
    pub(crate) metrics: &'a Metrics,
    pub(crate) durable: &'a str,
    pub(crate) subject: String,
    /// The nak delay when the copy cannot be published.
    pub(crate) retry: Duration,
}

impl DeadLetter<'_> {
    /// Publishes a copy of `m` with the reason to the dead-letter subject, then terminates the
    /// original. If the copy is not acknowledged, the original is nak'ed instead, not lost.
    pub(crate) async fn send(&self, m: &jetstream::Message, inc: &Incoming, reason: &str) {
        tracing::error!(subject = %inc.subject, %reason, "dead-lettering message");
        let mut headers = inc.headers.clone();
        // The copy is a new message: JetStream's own headers of the original (how it was
        // stored, as `Nats-Batch-Id` of an atomic batch) would make the server refuse it.
        headers.retain(|name, _| !name.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("nats-")));
        let dlq_id = format!(
            "dlq-{}-{}",
            self.durable,
            inc.message_id().map(str::to_owned).unwrap_or_else(|| inc.stream_sequence.to_string())
        );
        headers.insert(envelope::NATS_MSG_ID.into(), dlq_id);
        headers.insert(envelope::DLQ_REASON.into(), reason.replace(['\r', '\n'], " "));
        headers.insert(envelope::DLQ_SUBJECT.into(), inc.subject.clone());
        headers.insert(envelope::DLQ_CONSUMER.into(), self.durable.to_string());
        headers.insert(envelope::DLQ_DELIVERIES.into(), inc.delivered.to_string());
        headers.insert(envelope::DLQ_STREAM_SEQ.into(), inc.stream_sequence.to_string());
        let published = async {
            self.js
                .publish_with_headers(self.subject.clone(), to_header_map(&headers), inc.payload.clone())
                .await
                .map_err(|e| e.to_string())?
                .await
                .map_err(|e| e.to_string())
        }
        .await;
        match published {
            Ok(_) => {
                self.metrics.bus().dead_lettered(self.durable);
                let _ = m.ack_with(AckKind::Term).await;
            }
            Err(e) => {
                tracing::error!(error = %e, "dead-letter publish failed; the message stays for redelivery");
                let _ = m.ack_with(AckKind::Nak(Some(self.retry))).await;
            }
        }
    }
}
