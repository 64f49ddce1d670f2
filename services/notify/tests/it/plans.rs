//! Statements the worker runs every round read by index however many rows there are, also
//! before the planner has statistics (a new deployment's first minutes, before autovacuum's
//! first ANALYZE), when statements planned from guesses read whole tables
//! (`civicgrid-bench loop`, docs/performance.md).

use civicgrid_dev::testing::{self, plans};
use civicgrid_kit::{config::DatabaseSettings, db, runtime::Service};
use civicgrid_notify::{
    Notify, SERVICE,
    store::{Outcome, deliveries, notifications},
};
use civicgrid_proto::v1::DeliveryStatus;
use sqlx::pool::PoolConnection;
use uuid::Uuid;

/// A connection to a fresh notify schema holding 5,000 notifications, each with a webhook
/// delivery held by `claim`, as a busy first quarter of an hour writes them (from ~15,000 such
/// rows on, the guesses favour the index again), never analysed; the notifications' ids in
/// inbox order.
async fn young_tables(claim: Uuid) -> (PoolConnection<sqlx::Postgres>, Vec<Uuid>) {
    let url = testing::database().await.expect("database");
    let settings =
        DatabaseSettings { url: Some(url.into()), schema: None, max_connections: 2, acquire_timeout_secs: 10 };
    let pool = db::connect(&settings, SERVICE).await.expect("pool");
    db::migrate(&pool, SERVICE, Notify::migrations()).await.expect("notify's schema");
    let mut conn = pool.acquire().await.unwrap();
    plans::without_statistics(&mut conn, &["notifications", "deliveries"]).await.unwrap();
    sqlx::query(
        "INSERT INTO notifications (id, dedup_key, recipient, rule, template, priority, locale, title, body, \
           source_type, source_event_id, fact, subject_id, data, created_at, cursor) \
         SELECT gen_random_uuid(), 'plan-' || g, 'department:d' || (g % 200), 'rule', 't', 2, 'zh-CN', 'title', \
           'body', 'civicgrid.dispatch.task', 'ce-' || g, 'task-assigned', 'task-' || g, '{}', now(), \
           nextval('inbox_seq') \
         FROM generate_series(1, 5000) AS g",
    )
    .execute(&mut *conn)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO deliveries (id, notification_id, recipient, channel, status, fact, next_attempt_at, created_at, \
           claim, claimed_until) \
         SELECT gen_random_uuid(), id, recipient, 2, 1, fact, now(), now(), $1, now() + interval '2 minutes' \
         FROM notifications",
    )
    .bind(claim)
    .execute(&mut *conn)
    .await
    .unwrap();
    let ids: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM notifications ORDER BY cursor LIMIT 800")
        .fetch_all(&mut *conn)
        .await
        .unwrap();
    (conn, ids)
}

#[tokio::test]
async fn reading_a_rounds_notifications_reads_no_table_whole_before_the_first_analyze() {
    let (mut conn, ids) = young_tables(Uuid::now_v7()).await;

    // Eight rounds of a hundred on one connection (the later ones may run a plan it cached).
    for (round, batch) in ids.chunks(100).enumerate() {
        let mut tx = sqlx::Acquire::begin(&mut *conn).await.unwrap();
        let before = plans::seq_rows_read(&mut tx, "notifications").await.unwrap();
        let found = notifications::by_ids(&mut *tx, batch).await.unwrap();
        assert_eq!(found.len(), 100, "round {round}");
        assert!(batch.iter().all(|id| found[id].id == id.to_string()), "round {round}");
        let read = plans::seq_rows_read(&mut tx, "notifications").await.unwrap() - before;
        assert_eq!(read, 0, "round {round} read {read} rows of `notifications` by sequential scans");
        tx.rollback().await.unwrap();
    }
}

#[tokio::test]
async fn recording_a_rounds_outcomes_reads_no_table_whole_before_the_first_analyze() {
    let claim = Uuid::now_v7();
    let (mut conn, _) = young_tables(claim).await;
    let held: Vec<Uuid> =
        sqlx::query_scalar("SELECT id FROM deliveries ORDER BY id LIMIT 800").fetch_all(&mut *conn).await.unwrap();

    for (round, batch) in held.chunks(100).enumerate() {
        let outcomes: Vec<Outcome> = batch
            .iter()
            .map(|id| Outcome {
                id: *id,
                status: DeliveryStatus::Delivered,
                attempts: 1,
                next_attempt_at: None,
                attempt: None,
                error: String::new(),
                publish: None,
                region: Default::default(),
                span: tracing::Span::none(),
            })
            .collect();
        let mut tx = sqlx::Acquire::begin(&mut *conn).await.unwrap();
        let before = plans::seq_rows_read(&mut tx, "deliveries").await.unwrap();
        let written = deliveries::record_outcomes(&mut tx, claim, &outcomes).await.unwrap();
        assert_eq!(written.len(), 100, "round {round}: every delivery is still held by the claim");
        let read = plans::seq_rows_read(&mut tx, "deliveries").await.unwrap() - before;
        assert_eq!(read, 0, "round {round} read {read} rows of `deliveries` by sequential scans");
        // What comes after in the round's transaction is planned as usual again.
        let seqscan: String = sqlx::query_scalar("SHOW enable_seqscan").fetch_one(&mut *tx).await.unwrap();
        assert_eq!(seqscan, "on");
        tx.commit().await.unwrap();
    }
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM deliveries WHERE status = 4 AND claim IS NULL")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(left, 800);
}
