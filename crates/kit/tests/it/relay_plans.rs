//! The relay's seal and delete keep their plans (`plan_cache_mode = force_generic_plan`, set
//! by the seal's look at the chain's head: crates/kit/src/audit/seal.rs), and the setting ends
//! with the relay's transaction: the service's other statements, on the same connections or
//! recording through `audit::record` inside their own transactions, plan as before.

use std::time::Duration;

use civicgrid_kit::{Shutdown, audit, bus, bus::Envelope, bus::OutboxSignal};
use civicgrid_proto::v1::TaskEvent;

use crate::bus::{SERVICE, bus_settings, enqueue_n, metrics, setup, stream_count, wait_for};

#[tokio::test]
async fn the_relay_seals_under_generic_plans_and_leaves_its_connections_as_they_were() {
    let s = setup().await;
    // What the seal's statement (the relay's third, after the claim and the chain's head) runs
    // under, seen from inside it.
    sqlx::raw_sql(
        "CREATE TABLE seen_plan_modes (mode text NOT NULL); \
         CREATE FUNCTION note_plan_mode() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
           INSERT INTO seen_plan_modes VALUES (current_setting('plan_cache_mode')); RETURN NULL; END $$; \
         CREATE TRIGGER note_plan_mode AFTER INSERT ON audit_log FOR EACH STATEMENT EXECUTE FUNCTION note_plan_mode();",
    )
    .execute(&s.pool)
    .await
    .unwrap();

    let stream = bus::stream_name(SERVICE);
    let signal = OutboxSignal::default();
    let stop = Shutdown::new();
    let relay =
        bus::spawn_relay(s.pool.clone(), s.js.clone(), signal.clone(), &bus_settings(), metrics(), stop.clone());
    for round in 0..5 {
        enqueue_n(&s.pool, 30, &format!("p{round}")).await;
        signal.wake();
        let want = (round + 1) * 30;
        wait_for("the round published", || async { stream_count(&s.js, &stream).await == want }).await;
    }
    stop.cancel();
    relay.await.unwrap();

    let modes: Vec<String> = sqlx::query_scalar("SELECT mode FROM seen_plan_modes").fetch_all(&s.pool).await.unwrap();
    assert!(!modes.is_empty(), "the relay sealed nothing");
    assert!(modes.iter().all(|m| m == "force_generic_plan"), "the seals ran under {modes:?}");

    // Every connection of the pool (the relay used some of them) plans as the database says
    // once the relay's transactions are over.
    let mut held = Vec::new();
    for _ in 0..5 {
        let mut conn = tokio::time::timeout(Duration::from_secs(10), s.pool.acquire()).await.unwrap().unwrap();
        let mode: String = sqlx::query_scalar("SHOW plan_cache_mode").fetch_one(&mut *conn).await.unwrap();
        assert_eq!(mode, "auto", "a connection kept the relay's setting");
        held.push(conn);
    }
}

#[tokio::test]
async fn a_record_outside_the_relay_leaves_the_callers_plan_setting_as_it_was() {
    let s = setup().await;
    let event = TaskEvent { task_id: "task-1".into(), fact: "task-viewed".into(), ..Default::default() };
    let env = Envelope::of(format!("civicgrid.{SERVICE}.task-viewed.411600.411602._._"), "task-1", &event);
    let mut tx = s.pool.begin().await.unwrap();
    sqlx::query("SET LOCAL plan_cache_mode = force_custom_plan").execute(&mut *tx).await.unwrap();
    audit::record(&mut tx, SERVICE, &env, chrono::Utc::now()).await.unwrap();
    let mode: String = sqlx::query_scalar("SHOW plan_cache_mode").fetch_one(&mut *tx).await.unwrap();
    assert_eq!(mode, "force_custom_plan", "audit::record changed its caller's setting");
    tx.commit().await.unwrap();
}
