//! Upgrading a database an older notify wrote: the rows it kept for inbox deliveries stay (for
//! its replicas still running during a rolling update) and are no longer listed — the
//! notification is the inbox delivery now; every pushed delivery is listed with its attempts.

use civicgrid_dev::testing;
use civicgrid_kit::{audit, clock::Clock, config::DatabaseSettings, db, runtime::Service};
use civicgrid_notify::{Notify, SERVICE};
use civicgrid_proto::v1::{Channel, DeliveryStatus};
use uuid::Uuid;

use crate::helpers::*;

#[tokio::test]
async fn the_old_inbox_rows_give_way_to_their_notifications_in_listings_and_pushes_stay() {
    let db_url = testing::database().await.expect("database");
    let settings = DatabaseSettings {
        url: Some(db_url.clone().into()),
        schema: None,
        max_connections: 2,
        acquire_timeout_secs: 10,
    };
    let pool = db::connect(&settings, SERVICE).await.expect("pool");
    // As the runtime of the release before migrated it: its own migrations, then the trail's
    // (today's trail: what this test checks is notify's migration 5, not the kit's).
    let mut before: Vec<_> = Notify::migrations().into_iter().filter(|m| m.version < 5).collect();
    before.extend(audit::migrations());
    db::migrate(&pool, SERVICE, before).await.expect("notify's schema before migration 5");

    // What notify wrote for one SMS'd notification before: the notification, a row for its inbox
    // delivery, and the SMS delivery with its attempt.
    let desk = format!("department:{DEPT}");
    let (note, inbox_row, sms) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let at = chrono::Utc::now();
    sqlx::query(
        "INSERT INTO notifications (id, dedup_key, recipient, rule, template, priority, locale, title, body, \
           source_type, source_event_id, fact, subject_id, data, created_at, cursor) \
         VALUES ($1, 'ce-1/rule/desk', $2, 'rule', 't', 2, 'zh-CN', 'title', 'body', 'civicgrid.dispatch.task', \
           'ce-1', 'task-assigned', 'task-1', '{}', $3, nextval('inbox_seq'))",
    )
    .bind(note)
    .bind(&desk)
    .bind(at)
    .execute(&pool)
    .await
    .expect("a notification");
    sqlx::query(
        "INSERT INTO deliveries (id, notification_id, recipient, channel, status, fact, attempt_count, delivered_at, \
           created_at) \
         VALUES ($1, $3, $4, 1, 4, 'task-assigned', 1, $5, $5), ($2, $3, $4, 3, 4, 'task-assigned', 1, $5, $5)",
    )
    .bind(inbox_row)
    .bind(sms)
    .bind(note)
    .bind(&desk)
    .bind(at)
    .execute(&pool)
    .await
    .expect("its deliveries");
    sqlx::query(
        "INSERT INTO delivery_attempts (delivery_id, number, at, outcome, http_status, error, duration_ms) \
         VALUES ($1, 1, $2, 'delivered', 0, '', 12)",
    )
    .bind(sms)
    .bind(at)
    .execute(&pool)
    .await
    .expect("the SMS attempt");
    pool.close().await;

    // The new notify migrates the database as it starts.
    let app = spawn_app_on(Clock::manual(monday_9am()), &db_url, "").await;
    let listed = app.deliveries_of(&note.to_string()).await;
    let shape: Vec<(String, i32, i32, usize)> =
        listed.iter().map(|d| (d.id.clone(), d.channel, d.status, d.attempts.len())).collect();
    let delivered = DeliveryStatus::Delivered as i32;
    assert_eq!(
        shape,
        [(sms.to_string(), Channel::Sms as i32, delivered, 1), (note.to_string(), Channel::Inbox as i32, delivered, 0)]
    );
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM deliveries WHERE id = $1")
        .bind(inbox_row)
        .fetch_one(&app.db().await)
        .await
        .expect("count");
    assert_eq!(rows, 1, "the old inbox row is kept for the release before, and not listed");
}
