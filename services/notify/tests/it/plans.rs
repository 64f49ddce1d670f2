//! Statements the worker runs every round read by index however many rows there are, also
//! before the planner has statistics (a new deployment's first minutes, before autovacuum's
//! first ANALYZE), when `id = ANY(…)` planned from guesses read whole tables
//! (`civicgrid-bench loop`, docs/performance.md).

use civicgrid_dev::testing::{self, plans};
use civicgrid_kit::{config::DatabaseSettings, db, runtime::Service};
use civicgrid_notify::{Notify, SERVICE, store::notifications};
use uuid::Uuid;

#[tokio::test]
async fn reading_a_rounds_notifications_reads_no_table_whole_before_the_first_analyze() {
    let url = testing::database().await.expect("database");
    let settings =
        DatabaseSettings { url: Some(url.into()), schema: None, max_connections: 2, acquire_timeout_secs: 10 };
    let pool = db::connect(&settings, SERVICE).await.expect("pool");
    db::migrate(&pool, SERVICE, Notify::migrations()).await.expect("notify's schema");
    let mut conn = pool.acquire().await.unwrap();
    plans::without_statistics(&mut conn, &["notifications"]).await.unwrap();
    // 5,000 notifications, as a busy first quarter of an hour writes them (from ~15,000 such
    // rows on, the guesses favour the index again).
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
    let ids: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM notifications ORDER BY cursor LIMIT 800")
        .fetch_all(&mut *conn)
        .await
        .unwrap();

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
