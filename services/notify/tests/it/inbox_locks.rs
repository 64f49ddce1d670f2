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

/// The subjects and cursors of `recipient`'s notifications, in cursor order.
async fn cursors(pool: &PgPool, recipient: &str) -> Vec<(String, i64)> {
    sqlx::query_as("SELECT subject_id, cursor FROM notifications WHERE recipient = $1 ORDER BY cursor")
        .bind(recipient)
        .fetch_all(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn writers_to_different_inboxes_do_not_wait_and_one_inbox_is_numbered_in_commit_order() {
    let (store, pool) = store().await;
    let now = monday_9am();

    // A transaction writes to department:a and has not committed.
    let first = assigned_to("a");
    let mut tx1 = pool.begin().await.unwrap();
    assert_eq!(store.record_fact(&mut tx1, &first, now).await.unwrap().notices, 1);

    // Another, to department:b, goes through meanwhile.
    let mut tx2 = pool.begin().await.unwrap();
    let other = tokio::time::timeout(Duration::from_secs(5), store.record_fact(&mut tx2, &assigned_to("b"), now))
        .await
        .expect("a writer to another inbox waited for the first");
    assert_eq!(other.unwrap().notices, 1);
    tx2.commit().await.unwrap();

    // A second writer to department:a waits for the first to commit, then numbers after it.
    let second = assigned_to("a");
    let writer = tokio::spawn({
        let (store, pool, second) = (store.clone(), pool.clone(), second.clone());
        async move {
            let mut tx3 = pool.begin().await.unwrap();
            store.record_fact(&mut tx3, &second, now).await.unwrap();
            tx3.commit().await.unwrap();
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!writer.is_finished(), "a second writer to the same inbox did not wait for the first");
    assert!(cursors(&pool, "department:a").await.is_empty(), "nothing of department:a committed yet");
    tx1.commit().await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), writer).await.expect("the second writer went on").unwrap();

    let a: Vec<String> = cursors(&pool, "department:a").await.into_iter().map(|(subject, _)| subject).collect();
    assert_eq!(a, [first.subject_id.clone(), second.subject_id.clone()], "numbered in commit order");
}
