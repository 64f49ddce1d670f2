//! How the relay puts a claimed batch on JetStream. A claim of [`ATOMIC_MIN`] messages or more
//! goes as atomic batches (ADR-50, nats-server ≥ 2.12, the stream's `allow_atomic`): the server
//! stores a batch with a few writes and `fsync` calls and answers it with one ack, where one
//! message at a time costs an `fsync` and an ack each. A shorter claim goes one message at a
//! time, because an atomic batch has a fixed cost in the server: it is staged in a store of its
//! own (directories and files made and removed, four `fsync` calls), which outweighs what it
//! saves below a few dozen messages. Measured on one nats-server 2.15 with `sync_interval:
//! always`, up's default, 4,000 messages: 70 ticks of the server's CPU one at a time (50 acks in
//! flight); as atomic batches of 8, 16, 32 and 100 messages, 153, 86, 45 and 25 ticks
//! (docs/performance.md, the ninth round). nats-server 2.12.8 and 2.15.1 were checked to take
//! `Nats-Msg-Id` inside a batch and to name the batch and its size in the ack.
//!
//! A batch the server refuses is sent again one message at a time, where `Nats-Msg-Id` drops
//! the repeats one by one. The server refuses a whole batch when one of its messages is stored
//! already (a relay that crashed after publishing sends its rows again, and JetStream answers
//! "atomic publish batch contains duplicate message id"), when the stream does not allow
//! atomic publishing (a stream an older civicgrid made, until the service's start updates it),
//! or when the batch is longer than the server allows. So a refusal costs a round trip, never a
//! message.

use async_nats::{
    HeaderMap,
    jetstream::{self, context::PublishErrorKind},
};
use bytes::Bytes;
use futures::future::join_all;
use uuid::Uuid;

/// The fewest messages sent as an atomic batch; fewer go one at a time (see above).
pub(super) const ATOMIC_MIN: usize = 32;

/// The most messages put in one atomic batch: nats-server's default
/// `jetstream.limits.batch.max_msgs`. A longer claim is sent as several batches.
pub(super) const ATOMIC_MAX: usize = 1000;

/// One message to publish.
pub(super) struct Message {
    /// The subject.
    pub(super) subject: String,
    /// Its headers, `Nats-Msg-Id` among them.
    pub(super) headers: HeaderMap,
    /// The payload.
    pub(super) payload: Bytes,
}

/// How a message or an atomic batch sent by [`send`] comes out.
pub(super) enum Group {
    /// One message; its ack is awaited later, with the others of its claim.
    One(jetstream::context::PublishAckFuture),
    /// An atomic batch, already settled before anything after it was sent, so that a batch the
    /// server refused and sent again message by message still reaches the stream in outbox
    /// order: one result per message.
    Settled(Vec<Result<(), String>>),
}

impl Group {
    /// How many messages it covers.
    pub(super) fn len(&self) -> usize {
        match self {
            Group::One(_) => 1,
            Group::Settled(results) => results.len(),
        }
    }
}

/// Sends `messages` in order: [`ATOMIC_MIN`] to [`ATOMIC_MAX`] at a time as one atomic batch,
/// whose ack is awaited before anything after it is sent; fewer one by one, their acks awaited
/// later ([`settle`]). Returns the groups sent, which cover the first messages, and the error
/// that stopped sending early: the messages after the last group were not sent (an incomplete
/// batch is never committed, so none of it is stored), and after a batch that failed nothing is
/// sent, so that nothing overtakes it.
pub(super) async fn send(js: &jetstream::Context, messages: &[Message]) -> (Vec<Group>, Option<String>) {
    let mut groups = Vec::new();
    for chunk in messages.chunks(ATOMIC_MAX) {
        if chunk.len() >= ATOMIC_MIN {
            let results = send_batch(js, chunk).await;
            let failed = results.iter().find_map(|r| r.as_ref().err().cloned());
            groups.push(Group::Settled(results));
            if failed.is_some() {
                return (groups, failed);
            }
            continue;
        }
        for one in chunk {
            match js.publish_with_headers(one.subject.clone(), one.headers.clone(), one.payload.clone()).await {
                Ok(ack) => groups.push(Group::One(ack)),
                Err(e) => return (groups, Some(e.to_string())),
            }
        }
    }
    (groups, None)
}

/// Awaits the acks of `groups` together (each within the client's ack timeout, not one after
/// another): one result per message, in order.
pub(super) async fn settle(groups: Vec<Group>) -> Vec<Result<(), String>> {
    let settled = join_all(groups.into_iter().map(|group| async move {
        match group {
            Group::One(ack) => vec![ack_result(ack).await],
            Group::Settled(results) => results,
        }
    }))
    .await;
    settled.into_iter().flatten().collect()
}

/// Publishes `batch` as one atomic batch and awaits its ack. A batch the server refused, or that
/// could not be sent whole, is published again one message at a time. A batch whose fate is
/// unknown (no answer in time, the connection lost; or no stream at all) fails whole: its rows
/// stay in the outbox for the next round, which the server answers by storing them or, for
/// those it stored, by refusing them as repeats.
async fn send_batch(js: &jetstream::Context, batch: &[Message]) -> Vec<Result<(), String>> {
    let id = Uuid::now_v7().simple().to_string();
    let ack = match send_atomic(js, batch, &id).await {
        Ok(ack) => ack.await,
        // Not committed, so none of it is stored (a message the server would not take, say):
        // one at a time, the messages before the one that failed still go.
        Err(e) => return send_each(js, batch, &format!("not sent whole: {e}")).await,
    };
    let refused = match ack {
        // A server that ignored the batch headers stored the messages one by one and would say
        // nothing of a lost one: only a whole batch stored under its id counts.
        Ok(ack)
            if ack.batch_id.as_deref() == Some(id.as_str()) && ack.batch_size == u64::try_from(batch.len()).ok() =>
        {
            return vec![Ok(()); batch.len()];
        }
        Ok(ack) => format!("acknowledged as batch {:?} of {:?} messages", ack.batch_id, ack.batch_size),
        Err(e)
            if matches!(
                e.kind(),
                PublishErrorKind::TimedOut | PublishErrorKind::BrokenPipe | PublishErrorKind::StreamNotFound
            ) =>
        {
            return vec![Err(format!("atomic batch: {e}")); batch.len()];
        }
        Err(e) => e.to_string(),
    };
    send_each(js, batch, &refused).await
}

/// Publishes `batch` one message at a time, after an atomic batch of it was refused (`why`),
/// and awaits the acks together; the messages after one that could not be sent stay unsent.
async fn send_each(js: &jetstream::Context, batch: &[Message], why: &str) -> Vec<Result<(), String>> {
    tracing::info!(messages = batch.len(), reason = %why, "atomic batch refused; publishing its messages one by one");
    let mut acks = Vec::with_capacity(batch.len());
    let mut unsent = None;
    for m in batch {
        match js.publish_with_headers(m.subject.clone(), m.headers.clone(), m.payload.clone()).await {
            Ok(ack) => acks.push(ack),
            Err(e) => {
                // Not sent: this one and the rest stay in the outbox.
                unsent = Some(e.to_string());
                break;
            }
        }
    }
    let mut results: Vec<Result<(), String>> = join_all(acks.into_iter().map(ack_result)).await;
    if let Some(e) = unsent {
        results.resize(batch.len(), Err(e));
    }
    results
}

/// Sends `batch` (two messages or more) as the atomic batch `id`: every message but the last as
/// a plain publish carrying the batch's id and its place in it, the last with the commit marker
/// and a reply subject, for the batch's ack.
async fn send_atomic(
    js: &jetstream::Context,
    batch: &[Message],
    id: &str,
) -> Result<jetstream::context::PublishAckFuture, String> {
    let Some((last, rest)) = batch.split_last() else { return Err("an empty batch".into()) };
    let marked = |m: &Message, place: usize| {
        let mut headers = m.headers.clone();
        headers.insert("Nats-Batch-Id", id);
        headers.insert("Nats-Batch-Sequence", place.to_string().as_str());
        headers
    };
    let client = js.client();
    for (i, m) in rest.iter().enumerate() {
        client
            .publish_with_headers(m.subject.clone(), marked(m, i + 1), m.payload.clone())
            .await
            .map_err(|e| e.to_string())?;
    }
    let mut headers = marked(last, batch.len());
    headers.insert("Nats-Batch-Commit", "1");
    js.publish_with_headers(last.subject.clone(), headers, last.payload.clone()).await.map_err(|e| e.to_string())
}

async fn ack_result(ack: jetstream::context::PublishAckFuture) -> Result<(), String> {
    ack.await.map(|_| ()).map_err(|e| e.to_string())
}
