//! CloudEvents (NATS protocol binding, binary mode) headers of civicgrid messages.
//!
//! Every message carries `ce-specversion` (`1.0`), `ce-id` (a UUIDv7, also sent as
//! `Nats-Msg-Id` so JetStream drops a republished duplicate), `ce-type` (the protobuf message's
//! full name), `ce-source` (`civicgrid/<service>`), `ce-time` (RFC 3339), `ce-subject` (the
//! aggregate's id), `content-type: application/protobuf`, and the W3C `traceparent` /
//! `tracestate` of the span that produced it.

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};
use civicgrid_contracts::{Fact, FactFamily};
use civicgrid_proto::v1::RegionPath;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use uuid::Uuid;

use super::HandleError;

/// `ce-specversion`
pub const SPECVERSION: &str = "ce-specversion";
/// `ce-id`
pub const ID: &str = "ce-id";
/// `ce-type`
pub const TYPE: &str = "ce-type";
/// `ce-source`
pub const SOURCE: &str = "ce-source";
/// `ce-time`
pub const TIME: &str = "ce-time";
/// `ce-subject`
pub const SUBJECT: &str = "ce-subject";
/// `content-type`
pub const CONTENT_TYPE: &str = "content-type";
/// JetStream's de-duplication header.
pub const NATS_MSG_ID: &str = "Nats-Msg-Id";
/// The payload encoding of every civicgrid message.
pub const PROTOBUF: &str = "application/protobuf";
/// Dead-letter header: why the message could not be applied.
pub const DLQ_REASON: &str = "civicgrid-dlq-reason";
/// Dead-letter header: the subject the message was published on.
pub const DLQ_SUBJECT: &str = "civicgrid-dlq-subject";
/// Dead-letter header: the consumer that gave up.
pub const DLQ_CONSUMER: &str = "civicgrid-dlq-consumer";
/// Dead-letter header: how many times it was delivered.
pub const DLQ_DELIVERIES: &str = "civicgrid-dlq-deliveries";
/// Dead-letter header: its sequence in the source stream.
pub const DLQ_STREAM_SEQ: &str = "civicgrid-dlq-stream-seq";

/// An outgoing message: where it goes and what it says.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// Full subject, see [`crate::bus::subject`].
    pub subject: String,
    /// Protobuf full name of the payload, e.g. `civicgrid.v1.EventReported`.
    pub ce_type: String,
    /// Id of the aggregate the fact is about.
    pub aggregate_id: String,
    /// Encoded protobuf payload.
    pub payload: Vec<u8>,
}

impl Envelope {
    /// `fact` about `aggregate_id` in `region`, carrying `message`: the subject and `ce-type`
    /// come from the contract, and the message type must be the one it declares.
    pub fn fact<M: prost::Message + prost::Name>(
        fact: &Fact<M>,
        region: &RegionPath,
        aggregate_id: impl ToString,
        message: &M,
    ) -> Self {
        Self::of(fact.subject(region), aggregate_id, message)
    }

    /// `fact` of a family (dispatch's task facts, notify's delivery facts) about
    /// `aggregate_id` in `region`, carrying `message`.
    pub fn family<M: prost::Message + prost::Name>(
        family: &FactFamily<M>,
        fact: &str,
        region: &RegionPath,
        aggregate_id: impl ToString,
        message: &M,
    ) -> Self {
        Self::of(family.subject(fact, region), aggregate_id, message)
    }

    /// `message` on `subject`, its `ce-type` the message's protobuf full name. For tests and
    /// tools that publish on purpose outside the contracts; services use [`fact`](Self::fact)
    /// and [`family`](Self::family).
    pub fn of<M: prost::Message + prost::Name>(subject: String, aggregate_id: impl ToString, message: &M) -> Self {
        Envelope {
            subject,
            ce_type: M::full_name(),
            aggregate_id: aggregate_id.to_string(),
            payload: message.encode_to_vec(),
        }
    }

    /// The headers of this message as sent by `service` at `at`, with a fresh id and the
    /// current trace context.
    pub fn headers(&self, service: &str, id: Uuid, at: DateTime<Utc>) -> HashMap<String, String> {
        let mut h = crate::telemetry::current_trace_headers();
        h.insert(SPECVERSION.into(), "1.0".into());
        h.insert(ID.into(), id.to_string());
        h.insert(NATS_MSG_ID.into(), id.to_string());
        h.insert(TYPE.into(), self.ce_type.clone());
        h.insert(SOURCE.into(), format!("civicgrid/{service}"));
        h.insert(TIME.into(), at.to_rfc3339_opts(SecondsFormat::Micros, true));
        h.insert(SUBJECT.into(), self.aggregate_id.clone());
        h.insert(CONTENT_TYPE.into(), PROTOBUF.into());
        h
    }
}

/// Converts header pairs into a NATS header map, skipping names NATS would reject.
pub fn to_header_map(headers: &HashMap<String, String>) -> async_nats::HeaderMap {
    let mut map = async_nats::HeaderMap::new();
    for (k, v) in headers {
        let valid = !k.is_empty() && k.bytes().all(|b| b.is_ascii_graphic() && b != b':');
        if valid && !v.contains(['\r', '\n']) {
            map.insert(k.as_str(), v.as_str());
        }
    }
    map
}

/// A received message with its headers read.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// The subject it arrived on.
    pub subject: String,
    /// Headers (first value of each), names as sent.
    pub headers: HashMap<String, String>,
    /// The raw payload.
    pub payload: bytes::Bytes,
    /// How many times it has been delivered (1 for the first time).
    pub delivered: i64,
    /// Its sequence in the stream.
    pub stream_sequence: u64,
    /// The consumer's span for it ([`received_by`](Self::received_by)); none until then.
    span: tracing::Span,
}

impl Incoming {
    /// Reads a JetStream message.
    pub fn from_jetstream(msg: &async_nats::jetstream::Message) -> Self {
        let mut headers = HashMap::new();
        if let Some(h) = &msg.headers {
            for (name, values) in h.iter() {
                if let Some(v) = values.first() {
                    headers.insert(name.to_string(), v.as_str().to_string());
                }
            }
        }
        let (delivered, stream_sequence) = msg.info().map(|i| (i.delivered, i.stream_sequence)).unwrap_or((1, 0));
        Incoming {
            subject: msg.subject.to_string(),
            headers,
            payload: msg.payload.clone(),
            delivered,
            stream_sequence,
            span: tracing::Span::none(),
        }
    }

    /// The message as consumer `durable` received it: with a span of its own (`process <fact>`,
    /// kind consumer), the child of the `traceparent` it came with. One per message, also in a
    /// batch, so each message's effects can be written in its own trace.
    pub(crate) fn received_by(mut self, durable: &str) -> Self {
        let fact = self.subject_token(2).unwrap_or("message");
        let span = tracing::info_span!(
            parent: None,
            "consume",
            otel.name = %format!("process {fact}"),
            otel.kind = %"consumer",
            durable = %durable,
        );
        crate::telemetry::set_parent_from(&span, &self.headers);
        span.set_attribute("messaging.system", "nats");
        span.set_attribute("messaging.destination.name", self.subject.clone());
        span.set_attribute("messaging.consumer.group.name", durable.to_string());
        if let Some(id) = self.message_id() {
            span.set_attribute("messaging.message.id", id.to_string());
        }
        self.span = span;
        self
    }

    /// The consumer's span for this message: what runs in it (instrumented with it, or in
    /// [`in_span`](Self::in_span)) continues the message's trace.
    pub fn span(&self) -> &tracing::Span {
        &self.span
    }

    /// Runs `f` in the message's span. A batch handler that writes the effects of many messages
    /// together makes each message's outbox rows in it, so each row carries its own message's
    /// trace rather than the batch's.
    pub fn in_span<T>(&self, f: impl FnOnce() -> T) -> T {
        self.span.in_scope(f)
    }

    /// The `traceparent` of the message's span, to keep with work done later from a table
    /// (notify's deliveries); `None` when there is no trace.
    pub fn traceparent(&self) -> Option<String> {
        crate::telemetry::traceparent_of(&self.span)
    }

    /// The message id consumers de-duplicate on: `ce-id`, else `Nats-Msg-Id`.
    pub fn message_id(&self) -> Option<&str> {
        self.headers.get(ID).or_else(|| self.headers.get(NATS_MSG_ID)).map(String::as_str).filter(|s| !s.is_empty())
    }

    /// The `ce-type` header.
    pub fn ce_type(&self) -> Option<&str> {
        self.headers.get(TYPE).map(String::as_str)
    }

    /// True when the message carries an `M` (its `ce-type` is `M`'s protobuf full name).
    pub fn carries<M: prost::Name>(&self) -> bool {
        self.ce_type().is_some_and(|t| t == M::full_name())
    }

    /// The payload as an `M`; a payload that does not decode is permanent poison.
    pub fn decode<M: prost::Message + Default>(&self) -> Result<M, HandleError> {
        Ok(M::decode(self.payload.clone())?)
    }

    /// The token at `index` of the subject (0 is `civicgrid`, 2 is the fact).
    pub fn subject_token(&self, index: usize) -> Option<&str> {
        self.subject.split('.').nth(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_carry_cloudevents_attributes() {
        let env = Envelope {
            subject: "civicgrid.intake.event-reported.411600.411602._._".into(),
            ce_type: "civicgrid.v1.EventReported".into(),
            aggregate_id: "e1".into(),
            payload: vec![],
        };
        let id = Uuid::now_v7();
        let h = env.headers("intake", id, Utc::now());
        assert_eq!(h[ID], id.to_string());
        assert_eq!(h[NATS_MSG_ID], id.to_string());
        assert_eq!(h[SPECVERSION], "1.0");
        assert_eq!(h[SOURCE], "civicgrid/intake");
        assert_eq!(h[CONTENT_TYPE], PROTOBUF);
        let map = to_header_map(&h);
        assert_eq!(map.get(ID).map(|v| v.as_str().to_string()), Some(id.to_string()));
    }

    #[test]
    fn bad_header_names_are_skipped_not_panicking() {
        let mut h = HashMap::new();
        h.insert("bad name".to_string(), "x".to_string());
        h.insert("good".to_string(), "y\r\n".to_string());
        assert!(to_header_map(&h).iter().next().is_none());
    }
}
