//! The relay's atomic batches (kit `bus::publish`) against a real nats-server: a claim of 32
//! messages or more is stored as one batch in outbox order, a shorter one message by message,
//! and a batch the server refuses is sent one message at a time, losing and doubling nothing.

use async_nats::jetstream;
use civicgrid_kit::bus;
use civicgrid_proto::v1::TaskEvent;
use prost::Message;
use uuid::Uuid;

use crate::bus::{
    Recorder, SERVICE, bus_settings, consume, count, enqueue_n, metrics, setup, stored_messages, stream_count, wait_for,
};

/// The stored messages' task ids and `Nats-Batch-Id` / `Nats-Batch-Sequence` headers, in
/// stream order.
async fn stored(js: &jetstream::Context) -> Vec<(String, Option<String>, Option<String>)> {
    stored_messages(js, &bus::stream_name(SERVICE), 2_000)
        .await
        .iter()
        .map(|m| {
            let header = |name: &str| m.headers.as_ref().and_then(|h| h.get(name)).map(|v| v.as_str().to_string());
            (
                TaskEvent::decode(m.payload.clone()).unwrap().task_id,
                header("Nats-Batch-Id"),
                header("Nats-Batch-Sequence"),
            )
        })
        .collect()
}

async fn relay(s: &crate::bus::Setup, batch: i64) -> usize {
    bus::outbox::relay_pending(&s.pool, &s.js, batch, 1, None).await.expect("relay")
}

#[tokio::test]
async fn a_long_claim_is_stored_as_one_atomic_batch_in_outbox_order_and_a_short_one_message_by_message() {
    let s = setup().await;
    enqueue_n(&s.pool, 40, "a").await;
    assert_eq!(relay(&s, 100).await, 40);

    let messages = stored(&s.js).await;
    let ids: Vec<String> = messages.iter().map(|(task, _, _)| task.clone()).collect();
    assert_eq!(ids, (0..40).map(|i| format!("a-{i}")).collect::<Vec<_>>());
    let batch = messages[0].1.clone().expect("sent in an atomic batch");
    for (place, (_, id, sequence)) in messages.iter().enumerate() {
        assert_eq!(id.as_deref(), Some(batch.as_str()), "one batch");
        assert_eq!(sequence.as_deref(), Some((place + 1).to_string().as_str()), "in outbox order");
    }

    // Below 32 messages a batch costs the server more than it saves: one at a time.
    enqueue_n(&s.pool, 31, "b").await;
    assert_eq!(relay(&s, 100).await, 31);
    let messages = stored(&s.js).await;
    assert_eq!(messages.len(), 71);
    assert!(messages[40..].iter().all(|(task, id, _)| task.starts_with("b-") && id.is_none()));
    assert_eq!(bus::outbox::pending_count(&s.pool).await.unwrap(), 0);
}

#[tokio::test]
async fn a_claim_longer_than_a_batch_may_be_is_sent_as_several() {
    let s = setup().await;
    enqueue_n(&s.pool, 1_001, "l").await;
    assert_eq!(relay(&s, 2_000).await, 1_001);

    let name = bus::stream_name(SERVICE);
    assert_eq!(stream_count(&s.js, &name).await, 1_001);
    // Read by sequence: a pull fetch hands out at most 1,000 messages.
    let stream = s.js.get_stream(&name).await.unwrap();
    let mut seen = Vec::new();
    for sequence in [1, 1_000, 1_001] {
        let m = stream.get_raw_message(sequence).await.unwrap();
        let header = |name: &str| m.headers.get(name).map(|v| v.as_str().to_string());
        seen.push((
            TaskEvent::decode(m.payload.clone()).unwrap().task_id,
            header("Nats-Batch-Id"),
            header("Nats-Batch-Sequence"),
        ));
    }
    let first = seen[0].1.clone().expect("an atomic batch");
    assert_eq!(seen[0], ("l-0".to_string(), Some(first.clone()), Some("1".to_string())));
    assert_eq!(seen[1], ("l-999".to_string(), Some(first), Some("1000".to_string())), "the server's default maximum");
    assert_eq!(seen[2], ("l-1000".to_string(), None, None), "the rest, here one message, sent on its own");
}

#[tokio::test]
async fn a_batch_holding_a_message_already_stored_is_sent_one_by_one_and_nothing_doubles() {
    let s = setup().await;
    enqueue_n(&s.pool, 40, "c").await;
    // As after a relay that crashed between the publish and the delete: the first row is on the
    // bus already, under its Nats-Msg-Id, and the server refuses a batch holding it again.
    let (id, subject, payload): (Uuid, String, Vec<u8>) =
        sqlx::query_as("SELECT id, subject, payload FROM outbox ORDER BY seq LIMIT 1")
            .fetch_one(&s.pool)
            .await
            .unwrap();
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", id.to_string().as_str());
    s.js.publish_with_headers(subject, headers, payload.into()).await.unwrap().await.unwrap();

    assert_eq!(relay(&s, 100).await, 40, "every row acknowledged: the repeat as a duplicate");
    assert_eq!(stream_count(&s.js, &bus::stream_name(SERVICE)).await, 40, "the repeat was dropped");
    let messages = stored(&s.js).await;
    let ids: Vec<String> = messages.iter().map(|(task, _, _)| task.clone()).collect();
    assert_eq!(ids, (0..40).map(|i| format!("c-{i}")).collect::<Vec<_>>());
    assert!(messages.iter().all(|(_, batch, _)| batch.is_none()), "the refused batch went one message at a time");
    assert_eq!(bus::outbox::pending_count(&s.pool).await.unwrap(), 0);
}

#[tokio::test]
async fn a_stream_that_does_not_allow_atomic_batches_still_gets_every_message() {
    let s = setup().await;
    // A stream an older civicgrid made, before the service's start updates it.
    let name = bus::stream_name(SERVICE);
    let mut config = s.js.get_stream(&name).await.unwrap().info().await.unwrap().config.clone();
    assert!(config.allow_atomic_publish, "ensure_streams allows atomic batches");
    config.allow_atomic_publish = false;
    s.js.update_stream(config).await.unwrap();

    // Three claims of 40, two in flight at a time: each refused batch is sent again message by
    // message before the next claim is sent, so the stream keeps the outbox's order.
    for part in 0..3 {
        enqueue_n(&s.pool, 40, &format!("d{part}")).await;
    }
    assert_eq!(bus::outbox::relay_pending(&s.pool, &s.js, 40, 2, None).await.expect("relay"), 120);
    let messages = stored(&s.js).await;
    let ids: Vec<String> = messages.iter().map(|(task, _, _)| task.clone()).collect();
    let expected: Vec<String> = (0..3).flat_map(|p| (0..40).map(move |i| format!("d{p}-{i}"))).collect();
    assert_eq!(ids, expected, "in outbox order");
    assert!(messages.iter().all(|(_, batch, _)| batch.is_none()), "every batch was refused and sent one by one");
    assert_eq!(bus::outbox::pending_count(&s.pool).await.unwrap(), 0);
}

#[tokio::test]
async fn a_message_of_an_atomic_batch_can_be_dead_lettered() {
    let s = setup().await;
    enqueue_n(&s.pool, 39, "e").await;
    enqueue_n(&s.pool, 1, "flaky").await;
    assert_eq!(relay(&s, 100).await, 40);
    let poison = stored(&s.js).await.pop().expect("the last message");
    assert_eq!((poison.0.as_str(), poison.1.is_some()), ("flaky-0", true), "stored in the batch");

    // Its consumer gives up on it: the copy goes to the dead-letter stream without the batch's
    // headers, which would make JetStream refuse a plain message (it stayed nak'ed for ever).
    let (stop, handle) = consume(&s, "batched", Recorder, metrics(), &bus_settings()).await;
    wait_for("the dead letter", || async { stream_count(&s.js, bus::DEADLETTER_STREAM).await == 1 }).await;
    wait_for("the rest applied", || async { count(&s.pool, "SELECT count(*) FROM applied").await == 39 }).await;
    let dead = s.js.get_stream(bus::DEADLETTER_STREAM).await.unwrap().get_raw_message(1).await.unwrap();
    assert_eq!(TaskEvent::decode(dead.payload.clone()).unwrap().task_id, "flaky-0");
    assert!(dead.headers.get("Nats-Batch-Id").is_none() && dead.headers.get("Nats-Batch-Sequence").is_none());
    assert!(dead.headers.get("civicgrid-dlq-reason").is_some_and(|r| r.as_str().contains("gave up")));
    stop.cancel();
    handle.await.unwrap();
}
