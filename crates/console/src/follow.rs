//! Following the services' streams into the read model.
//!
//! One ordered consumer per stream of the sources `civicgrid_contracts::console` declares
//! (intake, dispatch, mediation, patrol; the console's NATS user is generated from the same
//! declaration), delivering from the stream's first message: after a restart the console
//! rebuilds what it shows by replaying the facts, as any reader of the bus may
//! (docs/events.md), and needs no storage of its own.
//! Ordered consumers are ephemeral and unacknowledged, so the console never holds back or
//! changes what the services' own durable consumers see. A stream that does not exist yet (its
//! service has not started) is waited for.

use std::{sync::Arc, time::Duration};

use async_nats::jetstream::{self, consumer::DeliverPolicy, consumer::pull::OrderedConfig};
use civicgrid_contracts::{Reader, console, stream_name};
use civicgrid_kit::Shutdown;
use civicgrid_proto::v1::{EventRated, EventReported, MediationCaseEvent, PatrolEvent, TaskEvent};
use futures::StreamExt;
use prost::Message;
use tokio::sync::{RwLock, broadcast};

use crate::projection::{Fact, FeedItem, State};

/// The services whose facts the console shows: its sources in crates/contracts.
pub const SERVICES: [&str; 4] = console::SOURCES;

/// Decodes a message of `service`'s stream: the fact name is the subject's third token
/// (`civicgrid.<service>.<fact>.<region…>`). `None` for facts the console does not show and
/// for payloads that do not decode (the owning services dead-letter those; a reader skips).
pub fn decode(service: &str, subject: &str, payload: &[u8]) -> Option<Fact> {
    let fact = subject.split('.').nth(2)?;
    match (service, fact) {
        ("intake", "event-reported") => EventReported::decode(payload).ok().map(Fact::Reported),
        ("intake", "event-rated") => EventRated::decode(payload).ok().map(Fact::Rated),
        ("intake", _) => None,
        ("dispatch", _) => TaskEvent::decode(payload).ok().map(Fact::Task),
        ("mediation", _) => MediationCaseEvent::decode(payload).ok().map(Fact::Case),
        ("patrol", _) => PatrolEvent::decode(payload).ok().map(Fact::Patrol),
        _ => None,
    }
}

/// A new NUID: the last token of a fresh inbox subject.
fn unique(js: &jetstream::Context) -> String {
    js.client().new_inbox().rsplit('.').next().unwrap_or_default().to_string()
}

/// Follows `service`'s stream until shutdown, folding each fact into `state` and sending its
/// feed line to `live`. After a server restart or a gap the ordered consumer recreates itself
/// from the last message it delivered, so nothing is folded in twice.
pub async fn follow(
    js: jetstream::Context,
    service: &'static str,
    state: Arc<RwLock<State>>,
    live: broadcast::Sender<FeedItem>,
    shutdown: Shutdown,
) {
    let name = stream_name(service);
    let mut consumer = loop {
        let attempt = async {
            let stream = js.get_stream(&name).await.map_err(|e| e.to_string())?;
            stream
                .create_consumer(OrderedConfig {
                    // Named by the console (its NATS user may create only named consumers);
                    // a new NUID for each, so replicas and restarts never share one.
                    name: Some(console::READER.consumer_name(&unique(&js))),
                    deliver_policy: DeliverPolicy::All,
                    filter_subject: Reader::filter_subject(service),
                    ..Default::default()
                })
                .await
                .map_err(|e| e.to_string())?
                .messages()
                .await
                .map_err(|e| e.to_string())
        };
        match attempt.await {
            Ok(messages) => break messages,
            Err(e) => {
                tracing::debug!(stream = %name, error = %e, "console: stream not readable yet; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                    _ = shutdown.cancelled() => return,
                }
            }
        }
    };
    tracing::info!(stream = %name, "console: following");
    loop {
        let next = tokio::select! {
            m = consumer.next() => m,
            _ = shutdown.cancelled() => return,
        };
        match next {
            Some(Ok(m)) => {
                if let Some(fact) = decode(service, &m.subject, &m.payload) {
                    let item = state.write().await.apply(fact);
                    let _ = live.send(item);
                }
            }
            Some(Err(e)) => {
                // The ordered consumer recreates itself after gaps and server restarts.
                tracing::debug!(stream = %name, error = %e, "console: stream error");
            }
            None => {
                tracing::warn!(stream = %name, "console: stream ended");
                return;
            }
        }
    }
}
