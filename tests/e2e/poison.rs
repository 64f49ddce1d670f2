//! Poison messages on the real streams of `civicgrid up`: garbage bytes, a wrong type header and
//! a valid fact about an event nobody knows are each dead-lettered by every consumer that reads
//! them, with the reason in `civicgrid-dlq-reason`, and the consumers keep going: a report made
//! afterwards travels as usual.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use async_nats::jetstream::{self, consumer::pull};
use civicgrid_e2e::Suite;
use civicgrid_proto::v1::{EventStatus, GetEventRequest, RegionPath, TaskEvent, TaskStatus};
use futures::StreamExt;
use prost::Message;

use crate::centers::{Clients, in_grid};

/// Publishes `payload` as the suite's operator could, with a fresh `ce-id` and `ce-type`.
async fn publish(js: &jetstream::Context, subject: &str, ce_type: &str, payload: Vec<u8>) -> String {
    let id = uuid::Uuid::now_v7().to_string();
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("ce-id", id.as_str());
    headers.insert("Nats-Msg-Id", id.as_str());
    headers.insert("ce-type", ce_type);
    headers.insert("content-type", "application/protobuf");
    js.publish_with_headers(subject.to_string(), headers, payload.into()).await.unwrap().await.unwrap();
    id
}

/// The dead letters so far: (consumer, reason) by the original's `ce-id`.
async fn dead_letters(js: &jetstream::Context) -> HashMap<String, Vec<(String, String)>> {
    let stream = js.get_stream("CIVICGRID_DEADLETTER").await.unwrap();
    let consumer = stream
        .create_consumer(pull::Config { ack_policy: jetstream::consumer::AckPolicy::None, ..Default::default() })
        .await
        .unwrap();
    let mut found: HashMap<String, Vec<(String, String)>> = HashMap::new();
    let mut batch = consumer.fetch().max_messages(1000).expires(Duration::from_secs(1)).messages().await.unwrap();
    while let Some(Ok(m)) = batch.next().await {
        let h = m.headers.clone().unwrap_or_default();
        let get = |k: &str| h.get(k).map(|v| v.to_string()).unwrap_or_default();
        found.entry(get("ce-id")).or_default().push((get("civicgrid-dlq-consumer"), get("civicgrid-dlq-reason")));
    }
    found
}

#[tokio::test(flavor = "multi_thread")]
async fn poison_is_dead_lettered_with_its_reason_and_the_consumers_keep_going() {
    let suite = tokio::task::spawn_blocking(|| Suite::up(&["--no-demo", "--quiet"])).await.unwrap();
    let js = jetstream::new(suite.nats().await);
    let task_subject = "civicgrid.dispatch.task-assigned.411600.411602.411602001._";
    let event_subject = "civicgrid.intake.event-reported.411600.411602.411602001._";

    let garbage = publish(&js, task_subject, "civicgrid.v1.TaskEvent", vec![0xff, 0x00, 0x13, 0x37]).await;
    let wrong_type = publish(&js, event_subject, "civicgrid.v1.NoSuchThing", b"\x0a\x00".to_vec()).await;
    let stranger = TaskEvent {
        task_id: "task-of-nobody".into(),
        event_id: uuid::Uuid::now_v7().to_string(),
        fact: "task-assigned".into(),
        status: TaskStatus::Assigned as i32,
        version: 1,
        lead: true,
        region: Some(RegionPath { city: "411600".into(), county: "411602".into(), ..Default::default() }),
        ..Default::default()
    };
    let unknown = publish(&js, task_subject, "civicgrid.v1.TaskEvent", stranger.encode_to_vec()).await;

    // Every consumer of each subject gives up on it, saying why.
    let expected: [(&str, &[&str], &str); 3] = [
        (&garbage, &["intake-task-status", "notify-dispatch", "mediation-dispatch"], "undecodable"),
        (&wrong_type, &["dispatch-intake", "notify-intake"], "NoSuchThing"),
        (&unknown, &["intake-task-status"], "unknown event"),
    ];
    let deadline = Instant::now() + Duration::from_secs(60);
    let letters = loop {
        let letters = dead_letters(&js).await;
        let complete = expected.iter().all(|(id, consumers, _)| {
            consumers.iter().all(|c| letters.get(*id).is_some_and(|l| l.iter().any(|(who, _)| who == c)))
        });
        if complete || Instant::now() > deadline {
            break letters;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    for (id, consumers, reason) in expected {
        let got = letters.get(id).cloned().unwrap_or_default();
        for consumer in consumers {
            let letter = got.iter().find(|(who, _)| who == consumer);
            let letter = letter.unwrap_or_else(|| panic!("{consumer} did not dead-letter {reason}: {got:?}"));
            assert!(letter.1.contains(reason), "{consumer}: the reason is {:?}, wanted it to name {reason}", letter.1);
        }
    }

    // And the consumers went on: a new report is dispatched and intake sees its task.
    let mut clients = Clients::connect(&suite).await;
    let (event, _) = clients.report("poison-0001", "01.02.003", in_grid("411602001001001")).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let request = GetEventRequest { event_id: event.clone() };
        let status = clients.intake.get_event(request).await.unwrap().into_inner().status;
        if status == EventStatus::Dispatched as i32 {
            break;
        }
        assert!(Instant::now() < deadline, "intake never saw the new event's task (status {status})");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
