//! The audit trail against a real PostgreSQL and nats-server: every outbox message is recorded
//! when the relay removes it after JetStream's ack, chained in outbox order, linked to its
//! aggregate's record before; rows cannot be changed or removed while young; an outbox row is
//! removed only by a transaction that records it; a record changed behind the guard's back
//! (triggers off, as a superuser could) is found by `verify`, which names the first broken link.

use async_nats::jetstream;
use civicgrid_contracts::{FactFamily, Stream, Subjects};
use civicgrid_dev::testing;
use civicgrid_kit::{
    audit,
    bus::{self, Envelope},
    config::DatabaseSettings,
    db,
};
use civicgrid_proto::v1::{RegionPath, TaskEvent};
use sqlx::PgPool;

const SERVICE: &str = "audittest";
const FACTS: FactFamily<TaskEvent> = FactFamily::new(SERVICE, &["task-assigned", "task-closed"]);
const STREAM: Stream = Stream { service: SERVICE, published: &[FACTS.published()], subjects: Subjects::Service };

/// A database with the bus tables and the first `trail` of the trail's migrations, and a
/// nats-server with the service's stream for the relay.
struct Trail {
    pool: PgPool,
    js: jetstream::Context,
    _nats: testing::TestNats,
}

impl Trail {
    async fn with(trail: usize) -> Trail {
        let url = testing::database().await.expect("database");
        let settings =
            DatabaseSettings { url: Some(url.into()), schema: None, max_connections: 5, acquire_timeout_secs: 10 };
        let pool = db::connect(&settings, SERVICE).await.expect("pool");
        migrate(&pool, trail).await;
        let nats = testing::nats().await.expect("nats-server");
        let js = jetstream::new(async_nats::connect(nats.url()).await.expect("connect"));
        bus::ensure_streams(&js, &STREAM, &crate::bus::nats_settings(nats.url())).await.expect("streams");
        Trail { pool, js, _nats: nats }
    }

    async fn new() -> Trail {
        Trail::with(usize::MAX).await
    }

    /// Publishes everything pending, as the relay does (claims of `batch`, three in flight).
    async fn relay(&self, batch: i64) -> usize {
        bus::outbox::relay_pending(&self.pool, &self.js, batch, 3, None).await.expect("relay")
    }
}

async fn migrate(pool: &PgPool, trail: usize) {
    let mut migrations = vec![db::migration(1, "bus tables", bus::TABLES_SQL)];
    migrations.extend(audit::migrations().into_iter().take(trail));
    db::migrate(pool, SERVICE, migrations).await.expect("migrations");
}

fn region() -> RegionPath {
    RegionPath { city: "411600".into(), county: "411602".into(), ..Default::default() }
}

async fn publish(pool: &PgPool, task: &str, fact: &str, commit: bool) {
    let event = TaskEvent { task_id: task.into(), fact: fact.into(), ..Default::default() };
    let mut tx = pool.begin().await.unwrap();
    let env = Envelope::family(&FACTS, fact, &region(), task.to_string(), &event);
    bus::enqueue(&mut tx, SERVICE, &env, chrono::Utc::now()).await.unwrap();
    if commit {
        tx.commit().await.unwrap();
    } else {
        tx.rollback().await.unwrap();
    }
}

/// Publishes `facts` (task, fact) in one outbox statement and commits; returns how often the
/// chain's head moved in that transaction.
async fn publish_batch(pool: &PgPool, facts: &[(&str, &str)]) -> i64 {
    let mut batch = bus::OutboxBatch::default();
    for (task, fact) in facts {
        let event = TaskEvent { task_id: task.to_string(), fact: fact.to_string(), ..Default::default() };
        batch.add(SERVICE, &Envelope::family(&FACTS, fact, &region(), task.to_string(), &event), chrono::Utc::now());
    }
    let mut tx = pool.begin().await.unwrap();
    // The transaction's counters may still hold the connection's earlier, unpublished
    // transactions (PostgreSQL 15): the difference is this statement's.
    let before = head_updates(&mut tx).await;
    batch.insert(&mut tx).await.unwrap();
    let steps = head_updates(&mut tx).await - before;
    tx.commit().await.unwrap();
    steps
}

/// Updates of the chain's head counted by the transaction so far.
async fn head_updates(tx: &mut sqlx::PgConnection) -> i64 {
    sqlx::query_scalar(
        "SELECT coalesce(sum(n_tup_upd), 0)::int8 FROM pg_stat_xact_user_tables \
         WHERE relname = 'audit_head' AND schemaname = current_schema()",
    )
    .fetch_one(tx)
    .await
    .unwrap()
}

/// (seq, aggregate, previous) of every record, in chain order.
async fn chain(pool: &PgPool) -> Vec<(i64, String, Option<i64>)> {
    let all = audit::export(pool, SERVICE, &audit::Selection::default()).await.unwrap();
    all.into_iter().map(|r| (r.seq, r.aggregate, r.previous)).collect()
}

fn owned(records: &[(i64, &str, Option<i64>)]) -> Vec<(i64, String, Option<i64>)> {
    records.iter().map(|(s, a, p)| (*s, a.to_string(), *p)).collect()
}

#[tokio::test]
async fn every_published_message_is_recorded_chained_and_guarded() {
    let t = Trail::new().await;
    let pool = &t.pool;
    publish(pool, "task-1", "task-assigned", true).await;
    publish(pool, "task-2", "task-assigned", true).await;
    publish(pool, "task-9", "task-assigned", false).await; // rolled back: no record either
    publish(pool, "task-1", "task-closed", true).await;
    // Committed and waiting in the outbox: recorded when the relay takes them out.
    assert_eq!(audit::verify(pool, SERVICE).await.unwrap().records, 0);
    assert_eq!(t.relay(100).await, 3);

    let v = audit::verify(pool, SERVICE).await.unwrap();
    assert_eq!((v.records, v.first, v.last, v.broken), (3, Some(1), Some(3), None));
    let selection = audit::Selection { aggregate: Some("task-1".into()), ..Default::default() };
    let task1 = audit::export(pool, SERVICE, &selection).await.unwrap();
    assert_eq!(task1.iter().map(|r| (r.seq, r.previous)).collect::<Vec<_>>(), [(1, None), (3, Some(1))]);
    assert!(task1[1].subject.starts_with("civicgrid.audittest.task-closed."), "{}", task1[1].subject);
    assert_eq!(audit::schemas(pool).await.unwrap(), [SERVICE]);

    // Append-only: no change, no young deletion.
    let update = sqlx::query("UPDATE audit_log SET payload = '\\x00' WHERE seq = 2").execute(pool).await;
    assert!(update.unwrap_err().to_string().contains("append-only"));
    let delete = sqlx::query("DELETE FROM audit_log WHERE seq = 1").execute(pool).await;
    assert!(delete.unwrap_err().to_string().contains("append-only"));
    assert_eq!(audit::purge(pool, 30).await.unwrap(), 0, "nothing is older than 180 days");

    // An outbox row leaves only recorded: a removal that does not seal (a relay of a release
    // before, a hand) is refused.
    publish(pool, "task-3", "task-assigned", true).await;
    let removal = sqlx::query("DELETE FROM outbox").execute(pool).await;
    assert!(removal.unwrap_err().to_string().contains("removed only by a relay"));
    assert_eq!(t.relay(100).await, 1);
    assert_eq!(audit::verify(pool, SERVICE).await.unwrap().records, 4);

    // A superuser can switch the guard off; the chain still tells.
    let mut conn = pool.acquire().await.unwrap();
    sqlx::query("SET session_replication_role = replica").execute(&mut *conn).await.unwrap();
    sqlx::query("UPDATE audit_log SET payload = '\\x0a01' WHERE seq = 2").execute(&mut *conn).await.unwrap();
    sqlx::query("SET session_replication_role = origin").execute(&mut *conn).await.unwrap();
    drop(conn);
    let broken = audit::verify(pool, SERVICE).await.unwrap().broken.expect("a broken link");
    assert_eq!(broken.seq, 2, "{broken:?}");
    assert!(broken.reason.contains("content"), "{broken:?}");
}

/// Writers and two relays (two replicas) at once: one unbroken chain, each message once.
#[tokio::test]
async fn concurrent_writers_and_relays_make_one_unbroken_chain() {
    let t = Trail::new().await;
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let pool = t.pool.clone();
            tokio::spawn(async move {
                for i in 0..25 {
                    publish(&pool, &format!("task-{w}-{i}"), "task-assigned", true).await;
                }
            })
        })
        .collect();
    let relays: Vec<_> = (0..2)
        .map(|_| {
            let (pool, js) = (t.pool.clone(), t.js.clone());
            tokio::spawn(async move {
                let mut published = 0;
                for _ in 0..40 {
                    published += bus::outbox::relay_pending(&pool, &js, 7, 2, None).await.expect("relay");
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                }
                published
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    let mut published = 0;
    for r in relays {
        published += r.await.unwrap();
    }
    published += t.relay(100).await;
    assert_eq!(published, 200);
    let v = audit::verify(&t.pool, SERVICE).await.unwrap();
    assert_eq!((v.records, v.last, v.broken), (200, Some(200), None));
    let distinct: i64 =
        sqlx::query_scalar("SELECT count(DISTINCT message_id) FROM audit_log").fetch_one(&t.pool).await.unwrap();
    assert_eq!(distinct, 200);
}

/// Claims in flight together are recorded in outbox order: the chain lists the messages as
/// they were written, each aggregate's records linked in that order.
#[tokio::test]
async fn claims_in_flight_are_recorded_in_outbox_order() {
    let t = Trail::new().await;
    let facts: Vec<(String, &str)> =
        (0..60).map(|i| (format!("task-{}", i % 7), if i < 7 { "task-assigned" } else { "task-closed" })).collect();
    for (task, fact) in &facts {
        publish(&t.pool, task, fact, true).await;
    }
    let written: Vec<uuid::Uuid> =
        sqlx::query_scalar("SELECT id FROM outbox ORDER BY seq").fetch_all(&t.pool).await.unwrap();
    assert_eq!(t.relay(4).await, 60);
    let recorded = audit::export(&t.pool, SERVICE, &audit::Selection::default()).await.unwrap();
    assert_eq!(recorded.iter().map(|r| r.message_id).collect::<Vec<_>>(), written);
    for r in &recorded {
        let before = recorded.iter().filter(|b| b.seq < r.seq && b.aggregate == r.aggregate).map(|b| b.seq).max();
        assert_eq!(r.previous, before, "record {}", r.seq);
    }
    assert_eq!(audit::verify(&t.pool, SERVICE).await.unwrap().broken, None);
}

#[tokio::test]
async fn a_record_not_to_publish_is_chained_and_never_reaches_the_outbox() {
    let t = Trail::new().await;
    let pool = &t.pool;
    publish(pool, "task-1", "task-assigned", true).await;
    assert_eq!(t.relay(100).await, 1);
    let event = TaskEvent { task_id: "task-1".into(), fact: "task-viewed".into(), ..Default::default() };
    let env = Envelope::of(format!("civicgrid.{SERVICE}.task-viewed.411600.411602._._"), "task-1", &event);
    for commit in [true, false] {
        let mut tx = pool.begin().await.unwrap();
        audit::record(&mut tx, SERVICE, &env, chrono::Utc::now()).await.unwrap();
        if commit {
            tx.commit().await.unwrap();
        } else {
            tx.rollback().await.unwrap();
        }
    }
    publish(pool, "task-1", "task-closed", true).await;

    // Only the published fact waits in the outbox; the record is in the trail already.
    let outbox: Vec<String> =
        sqlx::query_scalar("SELECT subject FROM outbox ORDER BY seq").fetch_all(pool).await.unwrap();
    assert_eq!(outbox.len(), 1, "{outbox:?}");
    assert!(outbox.iter().all(|s| !s.contains("task-viewed")), "{outbox:?}");
    assert_eq!(t.relay(100).await, 1);
    let v = audit::verify(pool, SERVICE).await.unwrap();
    assert_eq!((v.records, v.broken), (3, None));
    let selection = audit::Selection { aggregate: Some("task-1".into()), ..Default::default() };
    let task1 = audit::export(pool, SERVICE, &selection).await.unwrap();
    assert_eq!(task1.iter().map(|r| (r.seq, r.previous)).collect::<Vec<_>>(), [(1, None), (2, Some(1)), (3, Some(2))]);
    let viewed = audit::Selection { fact: Some("task-viewed".into()), ..Default::default() };
    let viewed = audit::export(pool, SERVICE, &viewed).await.unwrap();
    assert_eq!(viewed.iter().map(|r| r.seq).collect::<Vec<_>>(), [2]);
}

/// A claim's records come in outbox order from one statement, and the writers' transactions
/// no longer touch the chain's head.
#[tokio::test]
async fn a_claim_is_chained_in_order_and_writers_leave_the_head_alone() {
    let t = Trail::new().await;
    publish(&t.pool, "task-1", "task-assigned", true).await;
    let steps =
        publish_batch(&t.pool, &[("task-2", "task-assigned"), ("task-1", "task-closed"), ("task-2", "task-closed")])
            .await;
    assert_eq!(steps, 0, "the writer does not take the head");
    assert_eq!(t.relay(100).await, 4);

    let v = audit::verify(&t.pool, SERVICE).await.unwrap();
    assert_eq!((v.records, v.last, v.broken), (4, Some(4), None));
    assert_eq!(
        chain(&t.pool).await,
        owned(&[(1, "task-1", None), (2, "task-2", None), (3, "task-1", Some(1)), (4, "task-2", Some(2))])
    );
    let head: i64 = sqlx::query_scalar("SELECT seq FROM audit_head").fetch_one(&t.pool).await.unwrap();
    assert_eq!(head, 4);
}

/// A database whose chain the row trigger (900) started, the statement trigger (901) went on
/// with, and the relay (902) seals keeps one unbroken chain; the messages the triggers recorded
/// while they waited in the outbox are not recorded again when the relay takes them out.
#[tokio::test]
async fn a_chain_started_by_the_triggers_goes_on_unbroken_when_the_relay_seals() {
    let t = Trail::with(1).await;
    let pool = &t.pool;
    publish(pool, "task-1", "task-assigned", true).await;
    publish(pool, "task-2", "task-assigned", true).await;
    migrate(pool, 2).await;
    assert_eq!(publish_batch(pool, &[("task-1", "task-closed"), ("task-3", "task-assigned")]).await, 1);
    assert_eq!(audit::verify(pool, SERVICE).await.unwrap().records, 4, "recorded as written");

    migrate(pool, usize::MAX).await;
    let versions: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version").fetch_all(pool).await.unwrap();
    assert_eq!(versions, [1, 900, 901, 902]);
    publish(pool, "task-2", "task-closed", true).await;
    assert_eq!(publish_batch(pool, &[("task-3", "task-closed")]).await, 0);
    assert_eq!(t.relay(100).await, 6, "all six published");

    let v = audit::verify(pool, SERVICE).await.unwrap();
    assert_eq!((v.records, v.first, v.last, v.broken), (6, Some(1), Some(6), None));
    assert_eq!(
        chain(pool).await,
        owned(&[
            (1, "task-1", None),
            (2, "task-2", None),
            (3, "task-1", Some(1)),
            (4, "task-3", None),
            (5, "task-2", Some(2)),
            (6, "task-3", Some(4)),
        ])
    );

    // Once none of the rows the triggers recorded is left, the boundary is cleared: a sequence
    // that started again low could not hide new rows from the trail.
    publish(pool, "task-4", "task-assigned", true).await;
    assert_eq!(t.relay(100).await, 1);
    let through: i64 = sqlx::query_scalar("SELECT recorded_through FROM audit_head").fetch_one(pool).await.unwrap();
    assert_eq!(through, 0);
    assert_eq!(audit::verify(pool, SERVICE).await.unwrap().records, 7);
}

/// A record added by hand past the chain's head (the guard stops changes and removals, not
/// additions), even one that carries the right hashes, is reported: the head no longer matches
/// the last record.
#[tokio::test]
async fn a_record_forged_past_the_head_is_reported() {
    let t = Trail::new().await;
    publish(&t.pool, "task-1", "task-assigned", true).await;
    publish(&t.pool, "task-1", "task-closed", true).await;
    assert_eq!(t.relay(100).await, 2);
    let mut last = audit::export(&t.pool, SERVICE, &audit::Selection::default()).await.unwrap().pop().unwrap();
    last.prev_hash = last.hash.clone();
    last.seq += 1;
    last.message_id = uuid::Uuid::now_v7();
    last.hash = audit::row_hash(&last.prev_hash, &last);
    sqlx::query(
        "INSERT INTO audit_log (seq, at, message_id, subject, aggregate, previous, headers, payload, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10)",
    )
    .bind(last.seq)
    .bind(last.at)
    .bind(last.message_id)
    .bind(&last.subject)
    .bind(&last.aggregate)
    .bind(last.previous)
    .bind(&last.headers)
    .bind(&last.payload)
    .bind(&last.prev_hash)
    .bind(&last.hash)
    .execute(&t.pool)
    .await
    .unwrap();
    let broken = audit::verify(&t.pool, SERVICE).await.unwrap().broken.expect("a broken link");
    assert_eq!(broken.seq, 2, "{broken:?}");
    assert!(broken.reason.contains("head"), "{broken:?}");
}
