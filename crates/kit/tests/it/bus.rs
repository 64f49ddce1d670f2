//! Outbox and inbox against real servers: nothing lost, nothing applied twice, poison messages
//! dead-lettered with their reason.

use std::time::Duration;

use async_nats::jetstream;
use civicgrid_contracts::{Consumer, FactFamily, Stream, Subjects, Subscription};
use civicgrid_dev::testing;
use civicgrid_kit::{
    Shutdown, audit,
    bus::{self, Envelope, HandleError, Handler, Incoming, OutboxSignal, inbox::BoxFuture},
    config::{BusSettings, DatabaseSettings, NatsSettings},
    db,
    metrics::Metrics,
};
use civicgrid_proto::v1::{RegionPath, TaskEvent};
use futures::StreamExt;
use prost::Message;
use sqlx::{PgConnection, PgPool};

pub(crate) const SERVICE: &str = "kittest";

/// The test service's one fact family, and its stream.
const FACTS: FactFamily<TaskEvent> = FactFamily::new(SERVICE, &["task-assigned"]);
const STREAM: Stream = Stream { service: SERVICE, published: &[FACTS.published()], subjects: Subjects::Service };

/// A consumer of the test stream's `task-assigned`.
const fn consumer(durable: &'static str) -> Consumer {
    Consumer { service: SERVICE, durable, source: SERVICE, subscription: Subscription::Facts(&["task-assigned"]) }
}

pub(crate) fn metrics() -> Metrics {
    Metrics::new(SERVICE)
}

pub(crate) fn nats_settings(url: String) -> NatsSettings {
    NatsSettings {
        url: Some(url),
        credentials_file: None,
        user: None,
        password: None,
        stream_replicas: 1,
        stream_max_age_days: 1,
        duplicate_window_secs: 600,
    }
}

pub(crate) fn bus_settings() -> BusSettings {
    BusSettings {
        relay_batch_size: 20,
        relay_batches_in_flight: 2,
        relay_poll_ms: 200,
        outbox_vacuum_rows: 1000,
        consumer_batch_size: 50,
        linger_ms: 2,
        max_deliver: 3,
        ack_wait_secs: 5,
        retry_backoff_ms: 50,
        inbox_retention_days: 14,
        audit_retention_days: 190,
    }
}

pub(crate) struct Setup {
    nats: testing::TestNats,
    pub(crate) pool: PgPool,
    pub(crate) js: jetstream::Context,
}

pub(crate) async fn setup() -> Setup {
    let nats = testing::nats().await.expect("nats-server");
    let url = testing::database().await.expect("database");
    let settings =
        DatabaseSettings { url: Some(url.into()), schema: None, max_connections: 5, acquire_timeout_secs: 10 };
    let pool = db::connect(&settings, SERVICE).await.expect("pool");
    db::migrate(
        &pool,
        SERVICE,
        vec![
            db::migration(1, "bus tables", bus::TABLES_SQL),
            db::migration(2, "applied", "CREATE TABLE applied (message_id text NOT NULL, task_id text NOT NULL)"),
        ]
        .into_iter()
        // The relay seals what it removes into the audit trail, which every service has.
        .chain(audit::migrations())
        .collect(),
    )
    .await
    .expect("migrations");
    let client = async_nats::connect(nats.url()).await.expect("connect");
    let js = jetstream::new(client);
    bus::ensure_streams(&js, &STREAM, &nats_settings(nats.url())).await.expect("streams");
    Setup { nats, pool, js }
}

fn region() -> RegionPath {
    RegionPath { city: "411600".into(), county: "411602".into(), township: String::new(), village: String::new() }
}

pub(crate) async fn enqueue_n(pool: &PgPool, n: usize, tag: &str) {
    let mut tx = pool.begin().await.unwrap();
    for i in 0..n {
        let event = TaskEvent { task_id: format!("{tag}-{i}"), ..Default::default() };
        let env = Envelope::family(&FACTS, "task-assigned", &region(), format!("{tag}-{i}"), &event);
        bus::enqueue(&mut tx, SERVICE, &env, chrono::Utc::now()).await.unwrap();
    }
    tx.commit().await.unwrap();
}

pub(crate) async fn stream_count(js: &jetstream::Context, stream: &str) -> u64 {
    match js.get_stream(stream).await {
        Ok(mut s) => s.info().await.map(|i| i.state.messages).unwrap_or(0),
        Err(_) => 0,
    }
}

/// Up to `max` messages of `stream`, from its start, through a new ephemeral consumer.
pub(crate) async fn stored_messages(js: &jetstream::Context, stream: &str, max: usize) -> Vec<jetstream::Message> {
    let consumer = js
        .get_stream(stream)
        .await
        .unwrap()
        .create_consumer(jetstream::consumer::pull::Config::default())
        .await
        .unwrap();
    let mut fetched = consumer.fetch().max_messages(max).messages().await.unwrap();
    let mut out = Vec::new();
    while let Some(Ok(m)) = fetched.next().await {
        out.push(m);
    }
    out
}

/// Runs `handler` as the durable consumer `durable` of the test stream until the returned
/// token is cancelled.
pub(crate) async fn consume<H: Handler>(
    s: &Setup,
    durable: &'static str,
    handler: H,
    metrics: Metrics,
    settings: &BusSettings,
) -> (Shutdown, tokio::task::JoinHandle<()>) {
    let stop = Shutdown::new();
    let handle =
        bus::run_consumer(s.pool.clone(), s.js.clone(), consumer(durable), handler, settings, metrics, stop.clone())
            .await
            .unwrap();
    (stop, handle)
}

/// The one number `sql` selects.
pub(crate) async fn count(pool: &PgPool, sql: &'static str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql).fetch_one(pool).await.unwrap()
}

pub(crate) async fn wait_for<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_backlog_relayed_with_batches_in_flight_reaches_the_stream_once_and_in_outbox_order() {
    let s = setup().await;
    let stream = bus::stream_name(SERVICE);
    // Several transactions, so rows of one batch come from different commits.
    for part in 0..5 {
        enqueue_n(&s.pool, 47, &format!("p{part}")).await;
    }
    // Batches of 10 with 3 in flight: 24 batches, most claimed while earlier ones await acks.
    let published = bus::outbox::relay_pending(&s.pool, &s.js, 10, 3, None).await.expect("relay");
    assert_eq!(published, 235);
    assert_eq!(bus::outbox::pending_count(&s.pool).await.unwrap(), 0);
    assert_eq!(stream_count(&s.js, &stream).await, 235);

    let order: Vec<String> = stored_messages(&s.js, &stream, 300)
        .await
        .iter()
        .map(|m| TaskEvent::decode(m.payload.clone()).unwrap().task_id)
        .collect();
    let expected: Vec<String> = (0..5).flat_map(|p| (0..47).map(move |i| format!("p{p}-{i}"))).collect();
    assert_eq!(order, expected, "the stream holds the outbox's order");

    // Nothing pending: a round publishes nothing.
    assert_eq!(bus::outbox::relay_pending(&s.pool, &s.js, 10, 3, None).await.expect("relay"), 0);
}

#[tokio::test]
async fn outbox_survives_relay_restart_and_nats_restart_without_loss_or_duplicates() {
    let mut s = setup().await;
    let stream = bus::stream_name(SERVICE);
    enqueue_n(&s.pool, 50, "a").await;

    let signal = OutboxSignal::default();
    let stop = Shutdown::new();
    let relay =
        bus::spawn_relay(s.pool.clone(), s.js.clone(), signal.clone(), &bus_settings(), metrics(), stop.clone());
    wait_for("first 50 published", || async { stream_count(&s.js, &stream).await == 50 }).await;

    // The relay stops; work accepted meanwhile waits in the outbox.
    stop.cancel();
    relay.await.unwrap();
    enqueue_n(&s.pool, 50, "b").await;
    assert_eq!(bus::outbox::pending_count(&s.pool).await.unwrap(), 50);
    // Kept to replay a relay that crashed after publishing but before deleting them.
    let published_twice: Vec<(uuid::Uuid, String, sqlx::types::Json<serde_json::Value>, Vec<u8>)> =
        sqlx::query_as("SELECT id, subject, headers, payload FROM outbox ORDER BY seq DESC LIMIT 10")
            .fetch_all(&s.pool)
            .await
            .unwrap();

    // NATS crashes and comes back with its data.
    s.nats.kill();
    s.nats.restart().await.expect("nats restart");
    let stop = Shutdown::new();
    let relay =
        bus::spawn_relay(s.pool.clone(), s.js.clone(), signal.clone(), &bus_settings(), metrics(), stop.clone());
    wait_for("all 100 published", || async { stream_count(&s.js, &stream).await == 100 }).await;
    // Stored, then recorded and removed by the relay's commit a moment later.
    wait_for("the outbox empty", || async { bus::outbox::pending_count(&s.pool).await.unwrap() == 0 }).await;

    // A relay that crashed after publishing but before marking republishes; JetStream drops
    // the repeats by Nats-Msg-Id.
    for (id, subject, headers, payload) in &published_twice {
        sqlx::query("INSERT INTO outbox (id, subject, headers, payload) VALUES ($1, $2, $3, $4)")
            .bind(id)
            .bind(subject)
            .bind(headers)
            .bind(payload)
            .execute(&s.pool)
            .await
            .unwrap();
    }
    signal.wake();
    wait_for("republished rows gone from the outbox", || async {
        bus::outbox::pending_count(&s.pool).await.unwrap() == 0
    })
    .await;
    assert_eq!(stream_count(&s.js, &stream).await, 100, "no duplicate reached the stream");
    stop.cancel();
    relay.await.unwrap();

    // Every message carries the CloudEvents headers.
    let mut ids = std::collections::HashSet::new();
    for m in stored_messages(&s.js, &stream, 100).await {
        let inc = Incoming::from_jetstream(&m);
        for h in ["ce-specversion", "ce-id", "ce-type", "ce-source", "ce-time", "ce-subject", "content-type"] {
            assert!(inc.headers.contains_key(h), "missing header {h}");
        }
        assert_eq!(inc.headers["ce-type"], "civicgrid.v1.TaskEvent");
        assert_eq!(inc.headers["Nats-Msg-Id"], inc.headers["ce-id"]);
        ids.insert(inc.headers["ce-id"].clone());
    }
    assert_eq!(ids.len(), 100);
}

/// Records each applied message; fails with a transient error for task ids starting "flaky".
pub(crate) struct Recorder;

impl Handler for Recorder {
    fn apply<'a>(&'a self, tx: &'a mut PgConnection, msg: &'a Incoming) -> BoxFuture<'a, Result<(), HandleError>> {
        Box::pin(async move {
            let event = TaskEvent::decode(msg.payload.clone())?;
            if event.task_id.starts_with("flaky") {
                return Err(HandleError::Transient("dependency unavailable".into()));
            }
            sqlx::query("INSERT INTO applied (message_id, task_id) VALUES ($1, $2)")
                .bind(msg.message_id().unwrap_or_default())
                .bind(&event.task_id)
                .execute(&mut *tx)
                .await?;
            Ok(())
        })
    }
}

pub(crate) async fn publish_raw(js: &jetstream::Context, ce_id: &str, msg_id: &str, payload: Vec<u8>) {
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("ce-id", ce_id);
    headers.insert("Nats-Msg-Id", msg_id);
    headers.insert("ce-type", "civicgrid.v1.TaskEvent");
    js.publish_with_headers(bus::subject(SERVICE, "task-assigned", &region()), headers, payload.into())
        .await
        .unwrap()
        .await
        .unwrap();
}

#[tokio::test]
async fn inbox_applies_a_redelivered_message_once_and_dead_letters_poison() {
    let s = setup().await;
    let stop = Shutdown::new();
    let handle = bus::run_consumer(
        s.pool.clone(),
        s.js.clone(),
        consumer("recorder"),
        Recorder,
        &bus_settings(),
        metrics(),
        stop.clone(),
    )
    .await
    .unwrap();

    let good = TaskEvent { task_id: "t-1".into(), ..Default::default() }.encode_to_vec();
    // The same fact twice (a publisher retry outside the duplicate window): one effect.
    publish_raw(&s.js, "fact-1", "m-1", good.clone()).await;
    publish_raw(&s.js, "fact-1", "m-2", good.clone()).await;
    // Garbage, and a message that keeps failing.
    publish_raw(&s.js, "fact-2", "m-3", vec![0xff, 0xff, 0xff, 0xff]).await;
    let flaky = TaskEvent { task_id: "flaky-1".into(), ..Default::default() }.encode_to_vec();
    publish_raw(&s.js, "fact-3", "m-4", flaky).await;
    publish_raw(&s.js, "fact-4", "m-5", TaskEvent { task_id: "t-2".into(), ..Default::default() }.encode_to_vec())
        .await;

    wait_for("two dead letters", || async { stream_count(&s.js, bus::DEADLETTER_STREAM).await == 2 }).await;
    wait_for("good messages applied", || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM applied").fetch_one(&s.pool).await.unwrap() >= 2
    })
    .await;
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT message_id, task_id FROM applied ORDER BY task_id").fetch_all(&s.pool).await.unwrap();
    assert_eq!(rows, vec![("fact-1".to_string(), "t-1".to_string()), ("fact-4".to_string(), "t-2".to_string())]);

    let dlq =
        s.js.get_stream(bus::DEADLETTER_STREAM)
            .await
            .unwrap()
            .create_consumer(jetstream::consumer::pull::Config::default())
            .await
            .unwrap();
    let mut batch = dlq.fetch().max_messages(10).messages().await.unwrap();
    let mut reasons = std::collections::HashMap::new();
    while let Some(Ok(m)) = batch.next().await {
        let inc = Incoming::from_jetstream(&m);
        assert_eq!(inc.subject, format!("civicgrid.deadletter.{SERVICE}.recorder"));
        assert!(inc.headers["civicgrid-dlq-subject"].starts_with("civicgrid.kittest.task-assigned."));
        reasons.insert(inc.headers["ce-id"].clone(), inc.headers["civicgrid-dlq-reason"].clone());
    }
    assert!(reasons["fact-2"].contains("undecodable"), "{reasons:?}");
    assert!(reasons["fact-3"].contains("gave up after 3 deliveries"), "{reasons:?}");

    stop.cancel();
    handle.await.unwrap();
}

/// Writes a whole batch with one multi-row insert, and notes each batch it committed.
struct BatchRecorder;

async fn record_batch(tx: &mut PgConnection, msgs: &[&Incoming]) -> Result<(), HandleError> {
    let mut ids = Vec::new();
    let mut tasks = Vec::new();
    for msg in msgs {
        // One undecodable message fails the batch; the runner then goes one by one.
        let event = TaskEvent::decode(msg.payload.clone())?;
        ids.push(msg.message_id().unwrap_or_default().to_string());
        tasks.push(event.task_id);
    }
    sqlx::query("INSERT INTO applied (message_id, task_id) SELECT * FROM unnest($1::text[], $2::text[])")
        .bind(&ids)
        .bind(&tasks)
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO batches (size) VALUES ($1)").bind(msgs.len() as i32).execute(&mut *tx).await?;
    Ok(())
}

impl Handler for BatchRecorder {
    fn apply<'a>(&'a self, tx: &'a mut PgConnection, msg: &'a Incoming) -> BoxFuture<'a, Result<(), HandleError>> {
        Box::pin(async move { record_batch(tx, &[msg]).await })
    }

    fn apply_batch<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        msgs: &'a [&'a Incoming],
    ) -> BoxFuture<'a, Result<(), HandleError>> {
        Box::pin(record_batch(tx, msgs))
    }
}

/// A handler's batch entry point gets whole batches of new messages: a backlog is applied in
/// batches, each message once (a repeated ce-id inside the batch too), and a poison message
/// is still dead-lettered alone while its batch-mates are applied.
#[tokio::test]
async fn a_batch_handler_writes_whole_batches_and_poison_still_goes_alone() {
    let s = setup().await;
    sqlx::query("CREATE TABLE batches (size integer NOT NULL)").execute(&s.pool).await.unwrap();
    // The backlog is on the stream before the consumer starts.
    for i in 0..40 {
        let payload = TaskEvent { task_id: format!("b-{i:02}"), ..Default::default() }.encode_to_vec();
        publish_raw(&s.js, &format!("fact-b-{i}"), &format!("m-b-{i}"), payload).await;
    }
    let again = TaskEvent { task_id: "b-07".into(), ..Default::default() }.encode_to_vec();
    publish_raw(&s.js, "fact-b-7", "m-b-7-again", again).await;
    let (stop, handle) = consume(&s, "batcher", BatchRecorder, metrics(), &bus_settings()).await;
    let count = |sql: &'static str| count(&s.pool, sql);
    wait_for("the backlog applied", || async { count("SELECT count(*) FROM applied").await >= 40 }).await;
    let most: i32 = sqlx::query_scalar("SELECT max(size) FROM batches").fetch_one(&s.pool).await.unwrap();
    assert!(most > 1, "the backlog came in batches, the largest of {most}");

    // Poison in the middle of a burst: the good ones are applied, the poison dead-lettered.
    publish_raw(&s.js, "fact-c-1", "m-c-1", TaskEvent { task_id: "c-1".into(), ..Default::default() }.encode_to_vec())
        .await;
    publish_raw(&s.js, "fact-c-2", "m-c-2", vec![0xff, 0xff, 0xff, 0xff]).await;
    publish_raw(&s.js, "fact-c-3", "m-c-3", TaskEvent { task_id: "c-3".into(), ..Default::default() }.encode_to_vec())
        .await;
    wait_for("one dead letter", || async { stream_count(&s.js, bus::DEADLETTER_STREAM).await == 1 }).await;
    wait_for("the good ones applied", || async { count("SELECT count(*) FROM applied").await >= 42 }).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT task_id, count(*) FROM applied GROUP BY task_id ORDER BY task_id")
            .fetch_all(&s.pool)
            .await
            .unwrap();
    assert_eq!(rows.len(), 42, "{rows:?}");
    assert!(rows.iter().all(|(_, n)| *n == 1), "each applied once: {rows:?}");
    assert!(rows.iter().any(|(t, _)| t == "c-1") && rows.iter().any(|(t, _)| t == "c-3"));
    stop.cancel();
    handle.await.unwrap();
}

/// Applies only the tasks whose id starts with `mine-`; every other fact concerns it not.
struct Picky;

impl Handler for Picky {
    fn apply<'a>(&'a self, tx: &'a mut PgConnection, msg: &'a Incoming) -> BoxFuture<'a, Result<(), HandleError>> {
        Box::pin(async move {
            let event = TaskEvent::decode(msg.payload.clone())?;
            assert!(event.task_id.starts_with("mine-"), "{} was applied", event.task_id);
            record_batch(tx, &[msg]).await
        })
    }

    fn concerns(&self, msg: &Incoming) -> bool {
        // Unreadable: let `apply` say why, so it is dead-lettered.
        TaskEvent::decode(msg.payload.clone()).map_or(true, |e| e.task_id.starts_with("mine-"))
    }
}

/// A message the handler says does not concern it is acknowledged without a transaction: it
/// leaves no inbox row, is not delivered again, and is counted; the others of its batch are
/// applied as before, and an unreadable one is still dead-lettered.
#[tokio::test]
async fn a_message_that_concerns_nothing_is_acknowledged_without_a_transaction() {
    let s = setup().await;
    sqlx::query("CREATE TABLE batches (size integer NOT NULL)").execute(&s.pool).await.unwrap();
    // A backlog, so that both kinds arrive in the same batches.
    for i in 0..20 {
        let task = if i % 2 == 0 { format!("mine-{i:02}") } else { format!("other-{i:02}") };
        let payload = TaskEvent { task_id: task, ..Default::default() }.encode_to_vec();
        publish_raw(&s.js, &format!("fact-p-{i}"), &format!("m-p-{i}"), payload).await;
    }
    publish_raw(&s.js, "fact-p-poison", "m-p-poison", vec![0xff, 0xff, 0xff, 0xff]).await;
    let m = metrics();
    let (stop, handle) = consume(&s, "picky", Picky, m.clone(), &bus_settings()).await;
    wait_for("one dead letter", || async { stream_count(&s.js, bus::DEADLETTER_STREAM).await == 1 }).await;
    let durable = || async {
        let mut c: jetstream::consumer::PullConsumer =
            s.js.get_consumer_from_stream("picky", STREAM.name()).await.unwrap();
        let info = c.info().await.unwrap();
        (info.num_pending, info.num_ack_pending, info.num_redelivered)
    };
    wait_for("every message acknowledged", || async { matches!(durable().await, (0, 0, _)) }).await;
    // Past the ack wait: nothing comes back.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(durable().await, (0, 0, 0), "pending, waiting for an ack, redelivered");

    let applied: Vec<String> =
        sqlx::query_scalar("SELECT task_id FROM applied ORDER BY task_id").fetch_all(&s.pool).await.unwrap();
    assert_eq!(applied, (0..20).step_by(2).map(|i| format!("mine-{i:02}")).collect::<Vec<_>>());
    let inbox: Vec<String> =
        sqlx::query_scalar("SELECT message_id FROM inbox WHERE consumer = 'picky' ORDER BY message_id")
            .fetch_all(&s.pool)
            .await
            .unwrap();
    let mut mine: Vec<String> = (0..20).step_by(2).map(|i| format!("fact-p-{i}")).collect();
    mine.sort();
    assert_eq!(inbox, mine, "an inbox row for each applied message, none for the others");
    let text = m.render().await;
    assert!(
        text.lines().any(|l| l.starts_with("civicgrid_consumer_passed_over_total{")
            && l.contains(r#"durable="picky""#)
            && l.ends_with(" 10")),
        "passed over:\n{}",
        text.lines().filter(|l| l.contains("passed_over")).collect::<Vec<_>>().join("\n")
    );
    stop.cancel();
    handle.await.unwrap();
}

/// Writes each message under a key of its own (its ce-id), so a repeat changes nothing.
struct Keyed;

async fn record_keyed(tx: &mut PgConnection, msgs: &[&Incoming]) -> Result<(), HandleError> {
    for msg in msgs {
        let event = TaskEvent::decode(msg.payload.clone())?;
        sqlx::query("INSERT INTO keyed (message_id, task_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(msg.message_id().unwrap_or_default())
            .bind(&event.task_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO applied (message_id, task_id) VALUES ($1, $2)")
            .bind(msg.message_id().unwrap_or_default())
            .bind(&event.task_id)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

impl Handler for Keyed {
    fn apply<'a>(&'a self, tx: &'a mut PgConnection, msg: &'a Incoming) -> BoxFuture<'a, Result<(), HandleError>> {
        Box::pin(async move { record_keyed(tx, &[msg]).await })
    }

    fn idempotent(&self) -> bool {
        true
    }
}

/// A handler whose writes are keyed by the message gets no inbox rows: a copy of a message
/// (same ce-id) is handed to it again — in the same batch once only — and its own key makes the
/// copy change nothing; poison is still dead-lettered.
#[tokio::test]
async fn an_idempotent_handler_is_handed_repeats_and_keeps_no_inbox_rows() {
    let s = setup().await;
    sqlx::query("CREATE TABLE keyed (message_id text PRIMARY KEY, task_id text NOT NULL)")
        .execute(&s.pool)
        .await
        .unwrap();
    let task = |t: &str| TaskEvent { task_id: t.into(), ..Default::default() }.encode_to_vec();
    // A backlog with a copy inside it (one batch); then a copy among later messages, with poison.
    publish_raw(&s.js, "fact-k-1", "m-k-1", task("k-1")).await;
    publish_raw(&s.js, "fact-k-1", "m-k-1-copy", task("k-1")).await;
    publish_raw(&s.js, "fact-k-2", "m-k-2", task("k-2")).await;
    // A linger long enough that the backlog is surely one batch.
    let settings = BusSettings { linger_ms: 300, ..bus_settings() };
    let (stop, handle) = consume(&s, "keyed", Keyed, metrics(), &settings).await;
    let count = |sql: &'static str| count(&s.pool, sql);
    wait_for("both applied", || async { count("SELECT count(*) FROM keyed").await == 2 }).await;
    publish_raw(&s.js, "fact-k-2", "m-k-2-later", task("k-2")).await;
    publish_raw(&s.js, "fact-k-3", "m-k-3", vec![0xff, 0xff, 0xff, 0xff]).await;
    publish_raw(&s.js, "fact-k-4", "m-k-4", task("k-4")).await;
    wait_for("one dead letter", || async { stream_count(&s.js, bus::DEADLETTER_STREAM).await == 1 }).await;
    wait_for("the last applied", || async { count("SELECT count(*) FROM keyed").await == 3 }).await;

    // The copy in the batch was handed over once; the later one again, and its key held.
    let handed: Vec<(String, i64)> =
        sqlx::query_as("SELECT task_id, count(*) FROM applied GROUP BY task_id ORDER BY task_id")
            .fetch_all(&s.pool)
            .await
            .unwrap();
    assert_eq!(handed, vec![("k-1".to_string(), 1), ("k-2".to_string(), 2), ("k-4".to_string(), 1)]);
    assert_eq!(count("SELECT count(*) FROM inbox").await, 0, "inbox rows");
    stop.cancel();
    handle.await.unwrap();
}

#[tokio::test]
async fn a_durable_made_with_older_filters_follows_the_contract() {
    let s = setup().await;
    // An older release's durable: it read another fact only.
    let stream = s.js.get_stream(STREAM.name()).await.unwrap();
    let old = jetstream::consumer::pull::Config {
        durable_name: Some("widening".into()),
        filter_subjects: vec![format!("civicgrid.{SERVICE}.task-closed.>")],
        ..Default::default()
    };
    stream.create_consumer(old).await.unwrap();

    let stop = Shutdown::new();
    let handle = bus::run_consumer(
        s.pool.clone(),
        s.js.clone(),
        consumer("widening"),
        Recorder,
        &bus_settings(),
        metrics(),
        stop.clone(),
    )
    .await
    .unwrap();
    publish_raw(&s.js, "fact-w", "m-w", TaskEvent { task_id: "t-w".into(), ..Default::default() }.encode_to_vec())
        .await;
    wait_for("the task-assigned fact applied", || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM applied").fetch_one(&s.pool).await.unwrap() == 1
    })
    .await;
    let mut durable: jetstream::consumer::Consumer<jetstream::consumer::pull::Config> =
        stream.get_consumer("widening").await.unwrap();
    let info = durable.info().await.unwrap();
    assert_eq!(info.config.filter_subjects, [format!("civicgrid.{SERVICE}.task-assigned.>")]);
    stop.cancel();
    handle.await.unwrap();
}
