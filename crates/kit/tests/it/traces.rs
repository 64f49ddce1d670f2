//! Trace context across the outbox and the inbox, with batches: rows written for many requests
//! in one transaction (as intake's group commit writes them) are each published in their own
//! request's trace, and a batch handler's rows (as dispatch's batch apply writes them) each go
//! on in the trace of the message that caused them. tests/e2e/traces.rs follows the same
//! across the whole suite into an OTLP receiver.

use std::{
    collections::HashMap,
    sync::{
        Arc, OnceLock,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use async_nats::jetstream;
use civicgrid_contracts::{Consumer, FactFamily, Stream, Subjects, Subscription};
use civicgrid_dev::testing;
use civicgrid_kit::{
    Shutdown,
    bus::{self, Envelope, HandleError, Handler, Incoming, OutboxBatch, OutboxSignal, inbox::BoxFuture},
    config::{DatabaseSettings, LogFormat, TelemetrySettings},
    db,
    metrics::Metrics,
    telemetry::{self, TelemetryGuard},
};
use civicgrid_proto::v1::{RegionPath, TaskEvent};
use futures::StreamExt;
use prost::Message;
use sqlx::PgConnection;

use crate::bus::{bus_settings, nats_settings};

const SERVICE: &str = "kittrace";
const FACTS: FactFamily<TaskEvent> = FactFamily::new(SERVICE, &["task-assigned", "task-signed"]);
const STREAM: Stream = Stream { service: SERVICE, published: &[FACTS.published()], subjects: Subjects::Service };
const CONSUMER: Consumer = Consumer {
    service: SERVICE,
    durable: "signer",
    source: SERVICE,
    subscription: Subscription::Facts(&["task-assigned"]),
};

/// How many requests share the one transaction.
const REQUESTS: usize = 20;

/// The process's subscriber with its OpenTelemetry layer, as every service has (no export).
fn telemetry() {
    static GUARD: OnceLock<TelemetryGuard> = OnceLock::new();
    GUARD.get_or_init(|| {
        let settings = TelemetrySettings { log: "off".into(), log_format: LogFormat::Text, otlp_endpoint: None };
        telemetry::init(SERVICE, &settings)
    });
}

fn region() -> RegionPath {
    RegionPath { city: "411600".into(), county: "411602".into(), township: String::new(), village: String::new() }
}

/// The trace id and span id of a `traceparent`.
fn ids(traceparent: &str) -> (String, String) {
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(parts.len(), 4, "{traceparent}");
    (parts[1].to_string(), parts[2].to_string())
}

/// Signs for every assigned task, a batch at a time: one multi-row outbox insert, each row made
/// in its message's span. Notes the largest batch.
struct Signer {
    largest: Arc<AtomicUsize>,
}

impl Handler for Signer {
    fn apply<'a>(&'a self, tx: &'a mut PgConnection, msg: &'a Incoming) -> BoxFuture<'a, Result<(), HandleError>> {
        self.apply_batch_inner(tx, vec![msg])
    }

    fn apply_batch<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        msgs: &'a [&'a Incoming],
    ) -> BoxFuture<'a, Result<(), HandleError>> {
        self.apply_batch_inner(tx, msgs.to_vec())
    }
}

impl Signer {
    fn apply_batch_inner<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        msgs: Vec<&'a Incoming>,
    ) -> BoxFuture<'a, Result<(), HandleError>> {
        Box::pin(async move {
            self.largest.fetch_max(msgs.len(), Ordering::Relaxed);
            let mut batch = OutboxBatch::default();
            for msg in msgs {
                let assigned: TaskEvent = msg.decode()?;
                let signed = TaskEvent { fact: "task-signed".into(), ..assigned.clone() };
                let env = Envelope::family(&FACTS, "task-signed", &region(), &assigned.task_id, &signed);
                msg.in_span(|| batch.add(SERVICE, &env, chrono::Utc::now()));
            }
            batch.insert(tx).await?;
            Ok(())
        })
    }
}

/// Every message of `fact` on the test stream: its task id and its `traceparent`.
async fn published(js: &jetstream::Context, fact: &str) -> HashMap<String, String> {
    let consumer = js
        .get_stream(STREAM.name())
        .await
        .unwrap()
        .create_consumer(jetstream::consumer::pull::Config {
            filter_subject: format!("civicgrid.{SERVICE}.{fact}.>"),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut out = HashMap::new();
    let mut messages = consumer.fetch().max_messages(REQUESTS * 2).messages().await.unwrap();
    while let Some(Ok(m)) = messages.next().await {
        let task = TaskEvent::decode(m.payload.clone()).unwrap().task_id;
        let tp = m.headers.as_ref().and_then(|h| h.get("traceparent")).map(|v| v.as_str().to_string());
        out.insert(task, tp.unwrap_or_default());
    }
    out
}

#[tokio::test]
async fn each_row_of_a_shared_transaction_and_of_a_batch_keeps_its_own_trace() {
    telemetry();
    let nats = testing::nats().await.expect("nats-server");
    let url = testing::database().await.expect("database");
    let settings =
        DatabaseSettings { url: Some(url.into()), schema: None, max_connections: 5, acquire_timeout_secs: 10 };
    let pool = db::connect(&settings, SERVICE).await.expect("pool");
    let mut migrations = vec![db::migration(1, "bus tables", bus::TABLES_SQL)];
    migrations.extend(civicgrid_kit::audit::migrations());
    db::migrate(&pool, SERVICE, migrations).await.expect("migrations");
    let js = jetstream::new(async_nats::connect(nats.url()).await.expect("connect"));
    bus::ensure_streams(&js, &STREAM, &nats_settings(nats.url())).await.expect("streams");

    // Many requests, each in its own trace, written in one transaction.
    let mut requests: HashMap<String, String> = HashMap::new();
    let mut batch = OutboxBatch::default();
    for i in 0..REQUESTS {
        let task = format!("t-{i:02}");
        let span = tracing::info_span!(parent: None, "request", task = %task);
        let event = TaskEvent { task_id: task.clone(), fact: "task-assigned".into(), ..Default::default() };
        let env = Envelope::family(&FACTS, "task-assigned", &region(), &task, &event);
        span.in_scope(|| batch.add(SERVICE, &env, chrono::Utc::now()));
        requests.insert(task, telemetry::traceparent_of(&span).expect("a trace context"));
    }
    let mut tx = pool.begin().await.unwrap();
    batch.insert(&mut tx).await.unwrap();
    tx.commit().await.unwrap();

    // The relay publishes each in a span of its own request's trace.
    let stop = Shutdown::new();
    let signal = OutboxSignal::default();
    let metrics = Metrics::new(SERVICE);
    let relay =
        bus::spawn_relay(pool.clone(), js.clone(), signal.clone(), &bus_settings(), metrics.clone(), stop.clone());
    signal.wake();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let assigned = loop {
        let assigned = published(&js, "task-assigned").await;
        if assigned.len() == REQUESTS || tokio::time::Instant::now() > deadline {
            break assigned;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(assigned.len(), REQUESTS);
    for (task, request) in &requests {
        let (request_trace, request_span) = ids(request);
        let (trace, span) = ids(&assigned[task]);
        assert_eq!(trace, request_trace, "{task}: published in its request's trace");
        assert_ne!(span, request_span, "{task}: by the relay's own publish span");
    }

    // The consumer takes them in batches; what it writes for each goes on in that one's trace.
    let largest = Arc::new(AtomicUsize::new(0));
    let consumer = bus::run_consumer(
        pool.clone(),
        js.clone(),
        CONSUMER,
        Signer { largest: largest.clone() },
        &bus_settings(),
        metrics,
        stop.clone(),
    )
    .await
    .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let signed = loop {
        signal.wake();
        let signed = published(&js, "task-signed").await;
        if signed.len() == REQUESTS || tokio::time::Instant::now() > deadline {
            break signed;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(signed.len(), REQUESTS);
    assert!(largest.load(Ordering::Relaxed) > 1, "the consumer applied batches");
    for (task, request) in &requests {
        let (request_trace, _) = ids(request);
        let (_, assigned_span) = ids(&assigned[task]);
        let (trace, span) = ids(&signed[task]);
        assert_eq!(trace, request_trace, "{task}: its effect is in its own message's trace");
        assert_ne!(span, assigned_span, "{task}: under the consumer's span, not the message's");
    }
    stop.cancel();
    let _ = tokio::join!(relay, consumer);
}
