//! Each recipient's inbox cursors are numbered in commit order, under a lock of that recipient:
//! transactions writing to different recipients do not wait for each other (one lock for every
//! inbox used to queue notify's consumers behind each other's commits).

use std::{sync::Arc, time::Duration};

use chrono::FixedOffset;
use civicgrid_dev::testing;
use civicgrid_kit::{bus::OutboxSignal, config::DatabaseSettings, db, runtime::Service, seal::Cipher};
use civicgrid_notify::{Notify, SERVICE, domain::facts, rules::Rules, store::Store};
use sqlx::PgPool;

use crate::helpers::{monday_9am, new_id, task_fact};

/// notify's store on a fresh schema.
async fn store() -> (Arc<Store>, PgPool) {
    let url = testing::database().await.expect("database");
    let settings =
        DatabaseSettings { url: Some(url.into()), schema: None, max_connections: 5, acquire_timeout_secs: 10 };
    let pool = db::connect(&settings, SERVICE).await.expect("pool");
    db::migrate(&pool, SERVICE, Notify::migrations()).await.expect("notify's schema");
    let cipher = Cipher::from_base64(&Cipher::generate_key()).expect("cipher");
    let offset = FixedOffset::east_opt(8 * 3600).expect("offset");
    let store = Store::new(
        pool.clone(),
        Rules::shipped().expect("rules"),
        cipher,
        offset,
        "zh-CN".into(),
        OutboxSignal::default(),
    );
    (Arc::new(store), pool)
}

/// A task-assigned fact for `department`: a notice to `department:<it>`.
fn assigned_to(department: &str) -> facts::Fact {
    let mut event = task_fact("task-assigned", &new_id(), &new_id());
    event.department_id = department.into();
    facts::from_task_event(&new_id(), &event, FixedOffset::east_opt(8 * 3600).expect("offset"))
}

/// How many transactions wait for an inbox lock: a recipient's (`per_recipient`), or the lock
/// of every inbox.
async fn waiting(pool: &PgPool, per_recipient: bool) -> i64 {
    let sql = if per_recipient {
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND classid = 7305003 \
           AND objsubid = 2 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    } else {
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND classid = 0 \
           AND objid = 7305003 AND objsubid = 1 \
           AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    };
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

/// Waits until a transaction waits for an inbox lock (see [`waiting`]).
async fn until_waiting(pool: &PgPool, per_recipient: bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while waiting(pool, per_recipient).await == 0 {
        assert!(tokio::time::Instant::now() < deadline, "nobody waits for the inbox lock");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Records `facts` in a transaction of its own, spawned; returns when it committed.
fn spawn_writer(store: &Arc<Store>, pool: &PgPool, facts: Vec<facts::Fact>) -> tokio::task::JoinHandle<()> {
    let (store, pool) = (store.clone(), pool.clone());
    tokio::spawn(async move {
        let mut tx = pool.begin().await.unwrap();
        store.record_facts(&mut tx, &facts, monday_9am()).await.unwrap();
        tx.commit().await.unwrap();
    })
}

/// The number of notifications of `recipient`.
async fn count(pool: &PgPool, recipient: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM notifications WHERE recipient = $1")
        .bind(recipient)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn writers_to_different_inboxes_do_not_wait_and_one_inbox_waits_for_its_last_writer() {
    let (store, pool) = store().await;
    let now = monday_9am();

    // A transaction writes to department:a and has not committed.
    let mut tx1 = pool.begin().await.unwrap();
    assert_eq!(store.record_fact(&mut tx1, &assigned_to("a"), now).await.unwrap().notices, 1);

    // Another, to department:b, goes through meanwhile.
    let mut tx2 = pool.begin().await.unwrap();
    let other = tokio::time::timeout(Duration::from_secs(5), store.record_fact(&mut tx2, &assigned_to("b"), now))
        .await
        .expect("a writer to another inbox waited for the first");
    assert_eq!(other.unwrap().notices, 1);
    tx2.commit().await.unwrap();

    // A second writer to department:a waits for the first to commit: its cursor, drawn after,
    // cannot become visible before the first's.
    let writer = spawn_writer(&store, &pool, vec![assigned_to("a")]);
    until_waiting(&pool, true).await;
    assert_eq!(count(&pool, "department:a").await, 0, "nothing of department:a committed yet");
    tx1.commit().await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), writer).await.expect("the second writer went on").unwrap();
    assert_eq!(count(&pool, "department:a").await, 2);
}

/// A batch takes its inboxes' locks in key order, whatever order it names them in, so two
/// batches naming the same inboxes crosswise can never each hold one and wait for the other.
#[tokio::test]
async fn a_batch_takes_its_inbox_locks_in_key_order() {
    let (store, pool) = store().await;
    let x_first: bool = sqlx::query_scalar("SELECT hashtext('department:x') < hashtext('department:y')")
        .fetch_one(&pool)
        .await
        .unwrap();
    let (low, high) = if x_first { ("x", "y") } else { ("y", "x") };
    // The higher key is held; a batch naming the higher inbox first, then the lower, comes.
    let mut hold = pool.begin().await.unwrap();
    store.record_fact(&mut hold, &assigned_to(high), monday_9am()).await.unwrap();
    let writer = spawn_writer(&store, &pool, vec![assigned_to(high), assigned_to(low)]);
    until_waiting(&pool, true).await;
    // It took the lower key first, though it names that inbox second, and waits for the higher.
    let holds_low: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = 7305003 \
           AND objsubid = 2 AND objid::bigint = (hashtext($1)::bigint & 4294967295) \
           AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .bind(format!("department:{low}"))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(holds_low, 1, "the lower key is taken first");
    hold.commit().await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), writer).await.expect("the batch went on").unwrap();
    let (high, low) = (format!("department:{high}"), format!("department:{low}"));
    assert_eq!((count(&pool, &high).await, count(&pool, &low).await), (2, 1));
}

/// A batch for more than 64 inboxes takes the lock of every inbox, exclusive, rather than a
/// lock each (they take room in PostgreSQL's shared lock table); it is also the lock a notify of
/// the release before took for every batch, so during a rolling update old and new replicas
/// still exclude each other.
#[tokio::test]
async fn many_inboxes_and_an_older_notify_take_the_lock_of_every_inbox() {
    let (store, pool) = store().await;
    let many: Vec<facts::Fact> = (0..65).map(|i| assigned_to(&format!("m{i}"))).collect();
    let mut tx1 = pool.begin().await.unwrap();
    store.record_facts(&mut tx1, &many, monday_9am()).await.unwrap();
    let other = spawn_writer(&store, &pool, vec![assigned_to("z")]);
    until_waiting(&pool, false).await;
    tx1.commit().await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), other).await.expect("the writer went on").unwrap();

    // An older notify's batch: the one lock, exclusive, around its insert.
    let mut old = pool.begin().await.unwrap();
    sqlx::query("SELECT pg_advisory_xact_lock(7305003::bigint)").execute(&mut *old).await.unwrap();
    let new = spawn_writer(&store, &pool, vec![assigned_to("z"), assigned_to("y")]);
    until_waiting(&pool, false).await;
    assert_eq!(count(&pool, "department:z").await, 1, "the new writer waits for the old one");
    // It waits holding no recipient's lock: the lock of every inbox comes first, so a writer
    // queued behind an exclusive holder blocks no other writer's inbox meanwhile.
    let held: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = 7305003 \
           AND objsubid = 2 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(held, 0, "no recipient's lock is taken before the lock of every inbox");
    old.commit().await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), new).await.expect("the new writer went on").unwrap();
    assert_eq!((count(&pool, "department:z").await, count(&pool, "department:y").await), (2, 1));
}
