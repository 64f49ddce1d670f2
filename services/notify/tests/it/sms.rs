//! SMS through a provider's HTTP API (a real local receiver), and the phone number kept sealed.

use civicgrid_kit::clock::Clock;
use civicgrid_proto::v1::{Channel, DeliveryStatus, GetPreferencesRequest, Preferences, SetPreferencesRequest};
use sqlx::Row;

use crate::helpers::*;

const PHONE: &str = "13812345678";

#[tokio::test]
async fn a_text_goes_to_the_gateway_and_the_phone_stays_sealed() {
    let gateway = Receiver::start().await;
    let app = spawn_app_with(
        Clock::manual(monday_9am()),
        &format!("[notify.sms]\nprovider = \"http\"\nurl = \"{}\"\nauthorization = \"Bearer sms-key\"\n", gateway.url),
    )
    .await;
    let worker = format!("grid-worker:{GRID_WORKER}");
    let mut c = app.client.clone();
    let prefs = Preferences {
        recipient: worker.clone(),
        channels: vec![Channel::Sms as i32],
        locale: "zh-CN".into(),
        sms_phone: PHONE.into(),
        ..Default::default()
    };
    let stored = c
        .set_preferences(authed(SetPreferencesRequest { preferences: Some(prefs) }, &grid_worker(GRID_WORKER)))
        .await
        .expect("set")
        .into_inner();
    assert_eq!(stored.sms_phone, "138****5678");
    let read = c
        .get_preferences(authed(GetPreferencesRequest { recipient: worker.clone() }, &grid_worker(GRID_WORKER)))
        .await
        .expect("get")
        .into_inner();
    assert_eq!(read.sms_phone, "138****5678", "only the masked phone is shown");
    assert_eq!(read.channels, [Channel::Inbox as i32, Channel::Sms as i32]);

    // The lead task is resolved: the grid worker is asked to verify, by SMS too.
    let resolved = task_fact("task-resolved", &new_id(), &new_id());
    app.publish_task(&resolved).await;
    let n = app.wait_inbox(&worker, 1).await.remove(0);
    let call = gateway.wait_calls(1).await.remove(0);
    let sms = app.wait_channel(&n.id, Channel::Sms, "sent", |d| d.status == DeliveryStatus::Delivered as i32).await;
    assert_eq!(call.header("authorization"), "Bearer sms-key");
    assert_eq!(call.header("content-type"), "application/json");
    let body = call.json();
    let mut keys: Vec<&str> = body.as_object().expect("object").keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["reference", "text", "to"]);
    assert_eq!(body["to"], PHONE);
    assert_eq!(body["text"], format!("{}：{}", n.title, n.body).as_str());
    assert!(n.title.contains(&resolved.tracking_number), "{}", n.title);
    assert_eq!(body["reference"], sms.id.as_str());
    assert_eq!(
        (sms.attempt_count, sms.attempts[0].outcome.as_str(), sms.attempts[0].http_status),
        (1, "delivered", 200)
    );

    // Sealed at rest: the stored bytes are not the number, and no table holds it in clear
    // (bytea columns read as hex, so they cannot match by accident of encoding).
    let db = app.db().await;
    let row = sqlx::query("SELECT phone_sealed, phone_masked FROM preferences WHERE recipient = $1")
        .bind(&worker)
        .fetch_one(&db)
        .await
        .expect("preferences row");
    let sealed: Vec<u8> = row.get("phone_sealed");
    assert!(!sealed.windows(PHONE.len()).any(|w| w == PHONE.as_bytes()), "the phone is stored in clear");
    assert_eq!(row.get::<String, _>("phone_masked"), "138****5678");
    for table in ["preferences", "notifications", "deliveries", "delivery_attempts", "outbox", "inbox"] {
        let q = format!("SELECT count(*) FROM {table} t WHERE t::text LIKE '%' || $1 || '%'");
        let found: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(q)).bind(&PHONE[3..]).fetch_one(&db).await.expect("scan");
        assert_eq!(found, 0, "{table} holds the phone");
    }
    // Nor do the delivery records or the published facts.
    let records = format!("{:?}{:?}", app.deliveries_of(&n.id).await, app.published().await);
    assert!(!records.contains(&PHONE[3..]), "{records}");
}
