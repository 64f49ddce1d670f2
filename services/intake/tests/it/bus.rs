//! intake on the bus: dispatch's task facts applied once and in order, poison dead-lettered,
//! accepted events never lost across a NATS outage.

use async_nats::jetstream;
use civicgrid_kit::bus;
use civicgrid_proto::v1::{EventStatus, GetEventRequest, RegionPath, TaskEvent, TaskStatus};
use prost::Message;

use crate::helpers::{TestApp, eventually, report, spawn_app};

pub fn region() -> RegionPath {
    RegionPath {
        city: "411600".into(),
        county: "411602".into(),
        township: "411602001".into(),
        village: "411602001001".into(),
    }
}

/// Publishes a task fact the way dispatch does (ce-id and Nats-Msg-Id headers).
pub async fn publish_fact(js: &jetstream::Context, ce_id: &str, msg_id: &str, fact: &TaskEvent) {
    publish_bytes(js, ce_id, msg_id, &fact.fact, fact.encode_to_vec()).await;
}

async fn publish_bytes(js: &jetstream::Context, ce_id: &str, msg_id: &str, fact: &str, payload: Vec<u8>) {
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("ce-id", ce_id);
    headers.insert("Nats-Msg-Id", msg_id);
    headers.insert("ce-type", "civicgrid.v1.TaskEvent");
    headers.insert("content-type", "application/protobuf");
    js.publish_with_headers(bus::subject("dispatch", fact, &region()), headers, payload.into())
        .await
        .unwrap()
        .await
        .unwrap();
}

pub fn fact(event_id: &str, name: &str, status: TaskStatus, version: i64) -> TaskEvent {
    TaskEvent {
        task_id: "task-1".into(),
        event_id: event_id.into(),
        fact: name.into(),
        status: status as i32,
        department_id: "chengguan".into(),
        region: Some(region()),
        version,
        lead: true,
        ..Default::default()
    }
}

pub async fn dispatch_stream(app: &TestApp) {
    let settings = civicgrid_kit::config::NatsSettings {
        url: Some(app.nats.url()),
        credentials_file: None,
        user: None,
        password: None,
        stream_replicas: 1,
        stream_max_age_days: 1,
        duplicate_window_secs: 600,
    };
    bus::ensure_streams(&app.js, &civicgrid_contracts::dispatch::STREAM, &settings).await.unwrap();
}

#[tokio::test]
async fn task_facts_update_public_status_once_in_order_and_poison_is_dead_lettered() {
    let app = spawn_app().await;
    dispatch_stream(&app).await;
    let mut client = app.client.clone();
    let answer = client.submit_event(report("task-0001", "01.02.003", 32.98, 114.02)).await.unwrap().into_inner();
    let id = answer.event_id.clone();

    publish_fact(&app.js, "f-1", "n-1", &fact(&id, "task-assigned", TaskStatus::Assigned, 1)).await;
    publish_fact(&app.js, "f-2", "n-2", &fact(&id, "task-signed", TaskStatus::Signed, 2)).await;
    // An old fact arriving late must not undo the newer one.
    publish_fact(&app.js, "f-1-late", "n-3", &fact(&id, "task-assigned", TaskStatus::Assigned, 1)).await;
    // Poison: undecodable, and a fact about an event intake never saw.
    publish_bytes(&app.js, "f-bad", "n-4", "task-assigned", vec![0xde, 0xad, 0xbe, 0xef]).await;
    publish_fact(
        &app.js,
        "f-ghost",
        "n-5",
        &fact(&uuid::Uuid::now_v7().to_string(), "task-assigned", TaskStatus::Assigned, 1),
    )
    .await;

    let dead = app.wait_messages(bus::DEADLETTER_STREAM, 2).await;
    let reasons: Vec<(String, String)> =
        dead.iter().map(|m| (m.headers["ce-id"].clone(), m.headers["civicgrid-dlq-reason"].clone())).collect();
    assert!(dead.iter().all(|m| m.subject == "civicgrid.deadletter.intake.intake-task-status"));
    assert!(reasons.iter().any(|(id, r)| id == "f-bad" && r.contains("undecodable")), "{reasons:?}");
    assert!(reasons.iter().any(|(id, r)| id == "f-ghost" && r.contains("unknown event")), "{reasons:?}");

    let mut event = client.get_event(GetEventRequest { event_id: id.clone() }).await.unwrap().into_inner();
    for _ in 0..200 {
        if event.history.len() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        event = client.get_event(GetEventRequest { event_id: id.clone() }).await.unwrap().into_inner();
    }
    assert_eq!(event.status, EventStatus::InProgress as i32);
    let facts: Vec<&str> = event.history.iter().map(|h| h.fact.as_str()).collect();
    assert_eq!(facts, ["task-assigned", "task-signed"], "each fact applied once, the late one ignored");
    let db = app.db().await;
    let inbox: i64 = sqlx::query_scalar("SELECT count(*) FROM inbox WHERE consumer = 'intake-task-status'")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(inbox, 0, "the task's version is the guard, not inbox rows");

    // The same fact delivered again, after it was applied (a publisher retry past the duplicate
    // window): applied again, it is stale and writes nothing. Closing goes all the way through.
    publish_fact(&app.js, "f-2", "n-2-again", &fact(&id, "task-signed", TaskStatus::Signed, 2)).await;
    publish_fact(&app.js, "f-3", "n-6", &fact(&id, "task-closed", TaskStatus::Closed, 3)).await;
    eventually("closed", || {
        let mut c = client.clone();
        let id = id.clone();
        async move {
            c.get_event(GetEventRequest { event_id: id }).await.unwrap().into_inner().status
                == EventStatus::Closed as i32
        }
    })
    .await;
    let event = client.get_event(GetEventRequest { event_id: id.clone() }).await.unwrap().into_inner();
    let facts: Vec<&str> = event.history.iter().map(|h| h.fact.as_str()).collect();
    assert_eq!(facts, ["task-assigned", "task-signed", "task-closed"], "the repeat of f-2 wrote nothing");
    app.stop().await;
}

#[tokio::test]
async fn events_accepted_while_nats_is_down_are_published_when_it_returns() {
    let mut app = spawn_app().await;
    let mut client = app.client.clone();
    client.submit_event(report("outage-0001", "01.02.003", 32.0, 114.0)).await.unwrap();
    app.wait_messages("CIVICGRID_INTAKE", 1).await;

    app.nats.kill();
    // Submissions still succeed: they are committed with their outbox rows.
    for i in 2..=6 {
        client.submit_event(report(&format!("outage-{i:04}"), "01.02.003", 32.0 + i as f64, 114.0)).await.unwrap();
    }
    let db = app.db().await;
    let pending: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL").fetch_one(&db).await.unwrap();
    assert_eq!(pending, 5);

    app.nats.restart().await.expect("restart nats");
    let messages = app.wait_messages("CIVICGRID_INTAKE", 6).await;
    assert_eq!(messages.len(), 6, "nothing lost, nothing twice");
    let ids: std::collections::HashSet<_> = messages.iter().map(|m| m.headers["ce-id"].clone()).collect();
    assert_eq!(ids.len(), 6);
    app.stop().await;
}

#[tokio::test]
async fn shutdown_flushes_the_outbox() {
    let app = spawn_app().await;
    let mut client = app.client.clone();
    for i in 0..20 {
        client.submit_event(report(&format!("flush-{i:04}"), "01.02.003", 30.0 + i as f64, 114.0)).await.unwrap();
    }
    let db = app.db().await;
    let js = app.js.clone();
    app.shutdown.cancel();
    app.handle.await.unwrap().unwrap();
    let pending: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL").fetch_one(&db).await.unwrap();
    assert_eq!(pending, 0);
    let count = js.get_stream("CIVICGRID_INTAKE").await.unwrap().info().await.unwrap().state.messages;
    assert_eq!(count, 20);
}
