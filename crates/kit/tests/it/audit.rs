//! The audit trail against a real PostgreSQL: every outbox message is recorded in the same
//! transaction, chained, linked to its aggregate's record before; rows cannot be changed or
//! removed while young; a record changed behind the guard's back (triggers off, as a superuser
//! could) is found by `verify`, which names the first broken link.

use civicgrid_contracts::FactFamily;
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

/// A fresh database with the bus tables and the first `trail` of the trail's migrations.
async fn pool_with(trail: usize) -> PgPool {
    let url = testing::database().await.expect("database");
    let settings =
        DatabaseSettings { url: Some(url.into()), schema: None, max_connections: 5, acquire_timeout_secs: 10 };
    let pool = db::connect(&settings, SERVICE).await.expect("pool");
    migrate(&pool, trail).await;
    pool
}

async fn migrate(pool: &PgPool, trail: usize) {
    let mut migrations = vec![db::migration(1, "bus tables", bus::TABLES_SQL)];
    migrations.extend(audit::migrations().into_iter().take(trail));
    db::migrate(pool, SERVICE, migrations).await.expect("migrations");
}

async fn pool() -> PgPool {
    pool_with(usize::MAX).await
}

async fn publish(pool: &PgPool, task: &str, fact: &str, commit: bool) {
    let region = RegionPath { city: "411600".into(), county: "411602".into(), ..Default::default() };
    let event = TaskEvent { task_id: task.into(), fact: fact.into(), ..Default::default() };
    let mut tx = pool.begin().await.unwrap();
    let env = Envelope::family(&FACTS, fact, &region, task.to_string(), &event);
    bus::enqueue(&mut tx, SERVICE, &env, chrono::Utc::now()).await.unwrap();
    if commit {
        tx.commit().await.unwrap();
    } else {
        tx.rollback().await.unwrap();
    }
}

/// Publishes `facts` (task, fact) in one outbox statement and commits; returns how often the
/// chain's head moved for them.
async fn publish_batch(pool: &PgPool, facts: &[(&str, &str)]) -> i64 {
    let region = RegionPath { city: "411600".into(), county: "411602".into(), ..Default::default() };
    let mut batch = bus::OutboxBatch::default();
    for (task, fact) in facts {
        let event = TaskEvent { task_id: task.to_string(), fact: fact.to_string(), ..Default::default() };
        batch.add(SERVICE, &Envelope::family(&FACTS, fact, &region, task.to_string(), &event), chrono::Utc::now());
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

#[tokio::test]
async fn every_outbox_message_is_recorded_chained_and_guarded() {
    let pool = pool().await;
    publish(&pool, "task-1", "task-assigned", true).await;
    publish(&pool, "task-2", "task-assigned", true).await;
    publish(&pool, "task-9", "task-assigned", false).await; // rolled back: no record either
    publish(&pool, "task-1", "task-closed", true).await;

    let v = audit::verify(&pool, SERVICE).await.unwrap();
    assert_eq!((v.records, v.first, v.last, v.broken), (3, Some(1), Some(3), None));
    let selection = audit::Selection { aggregate: Some("task-1".into()), ..Default::default() };
    let task1 = audit::export(&pool, SERVICE, &selection).await.unwrap();
    assert_eq!(task1.iter().map(|r| (r.seq, r.previous)).collect::<Vec<_>>(), [(1, None), (3, Some(1))]);
    assert!(task1[1].subject.starts_with("civicgrid.audittest.task-closed."), "{}", task1[1].subject);
    assert_eq!(audit::schemas(&pool).await.unwrap(), [SERVICE]);

    // Append-only: no change, no young deletion.
    let update = sqlx::query("UPDATE audit_log SET payload = '\\x00' WHERE seq = 2").execute(&pool).await;
    assert!(update.unwrap_err().to_string().contains("append-only"));
    let delete = sqlx::query("DELETE FROM audit_log WHERE seq = 1").execute(&pool).await;
    assert!(delete.unwrap_err().to_string().contains("append-only"));
    assert_eq!(audit::purge(&pool, 30).await.unwrap(), 0, "nothing is older than 180 days");

    // A superuser can switch the guard off; the chain still tells.
    let mut conn = pool.acquire().await.unwrap();
    sqlx::query("SET session_replication_role = replica").execute(&mut *conn).await.unwrap();
    sqlx::query("UPDATE audit_log SET payload = '\\x0a01' WHERE seq = 2").execute(&mut *conn).await.unwrap();
    sqlx::query("SET session_replication_role = origin").execute(&mut *conn).await.unwrap();
    drop(conn);
    let broken = audit::verify(&pool, SERVICE).await.unwrap().broken.expect("a broken link");
    assert_eq!(broken.seq, 2, "{broken:?}");
    assert!(broken.reason.contains("content"), "{broken:?}");
}

#[tokio::test]
async fn concurrent_writers_make_one_unbroken_chain() {
    let pool = pool().await;
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let pool = pool.clone();
            tokio::spawn(async move {
                for i in 0..25 {
                    publish(&pool, &format!("task-{w}-{i}"), "task-assigned", true).await;
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    let v = audit::verify(&pool, SERVICE).await.unwrap();
    assert_eq!((v.records, v.last, v.broken), (200, Some(200), None));
}

#[tokio::test]
async fn a_record_not_to_publish_is_chained_and_never_reaches_the_outbox() {
    let pool = pool().await;
    publish(&pool, "task-1", "task-assigned", true).await;
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
    publish(&pool, "task-1", "task-closed", true).await;

    // Only the published facts wait in the outbox; the trail holds all three committed, chained.
    let outbox: Vec<String> =
        sqlx::query_scalar("SELECT subject FROM outbox ORDER BY seq").fetch_all(&pool).await.unwrap();
    assert_eq!(outbox.len(), 2, "{outbox:?}");
    assert!(outbox.iter().all(|s| !s.contains("task-viewed")), "{outbox:?}");
    let v = audit::verify(&pool, SERVICE).await.unwrap();
    assert_eq!((v.records, v.broken), (3, None));
    let selection = audit::Selection { aggregate: Some("task-1".into()), ..Default::default() };
    let task1 = audit::export(&pool, SERVICE, &selection).await.unwrap();
    assert_eq!(task1.iter().map(|r| (r.seq, r.previous)).collect::<Vec<_>>(), [(1, None), (2, Some(1)), (3, Some(2))]);
    let viewed = audit::Selection { fact: Some("task-viewed".into()), ..Default::default() };
    let viewed = audit::export(&pool, SERVICE, &viewed).await.unwrap();
    assert_eq!(viewed.iter().map(|r| r.seq).collect::<Vec<_>>(), [2]);
}

#[tokio::test]
async fn a_batch_in_one_statement_is_chained_in_order_moving_the_head_once() {
    let pool = pool().await;
    publish(&pool, "task-1", "task-assigned", true).await;
    let steps =
        publish_batch(&pool, &[("task-2", "task-assigned"), ("task-1", "task-closed"), ("task-2", "task-closed")])
            .await;
    assert_eq!(steps, 1, "three records, one step of the head");

    let v = audit::verify(&pool, SERVICE).await.unwrap();
    assert_eq!((v.records, v.last, v.broken), (4, Some(4), None));
    let all = audit::export(&pool, SERVICE, &audit::Selection::default()).await.unwrap();
    let order: Vec<(i64, &str, Option<i64>)> = all.iter().map(|r| (r.seq, r.aggregate.as_str(), r.previous)).collect();
    assert_eq!(order, [(1, "task-1", None), (2, "task-2", None), (3, "task-1", Some(1)), (4, "task-2", Some(2))]);
    let head: i64 = sqlx::query_scalar("SELECT seq FROM audit_head").fetch_one(&pool).await.unwrap();
    assert_eq!(head, 4);
}

/// A database whose chain the row trigger (900) started keeps one unbroken chain when 901 takes
/// over: records written before and after the switch link to each other and `verify` passes.
#[tokio::test]
async fn a_chain_started_by_the_row_trigger_goes_on_unbroken_after_the_upgrade() {
    let pool = pool_with(1).await;
    publish(&pool, "task-1", "task-assigned", true).await;
    publish(&pool, "task-2", "task-assigned", true).await;

    migrate(&pool, usize::MAX).await;
    let versions: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version").fetch_all(&pool).await.unwrap();
    assert_eq!(versions, [1, 900, 901]);

    publish(&pool, "task-1", "task-closed", true).await;
    let steps = publish_batch(&pool, &[("task-2", "task-closed"), ("task-3", "task-assigned")]).await;
    assert_eq!(steps, 1, "after the upgrade only the statement trigger records");

    let v = audit::verify(&pool, SERVICE).await.unwrap();
    assert_eq!((v.records, v.first, v.last, v.broken), (5, Some(1), Some(5), None));
    let all = audit::export(&pool, SERVICE, &audit::Selection::default()).await.unwrap();
    let order: Vec<(i64, &str, Option<i64>)> = all.iter().map(|r| (r.seq, r.aggregate.as_str(), r.previous)).collect();
    assert_eq!(
        order,
        [(1, "task-1", None), (2, "task-2", None), (3, "task-1", Some(1)), (4, "task-2", Some(2)), (5, "task-3", None)]
    );
}
