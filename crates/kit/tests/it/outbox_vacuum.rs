//! The relay vacuums the outbox after every `bus.outbox_vacuum_rows` rows it removed, so a
//! table whose every row is deleted does not fill with dead ones between autovacuum's visits
//! (crates/kit/src/bus/vacuum.rs). Autovacuum is turned off for the table here: what keeps it
//! small is the relay alone.

use std::time::Duration;

use civicgrid_kit::{Shutdown, bus, bus::OutboxSignal, config::BusSettings};
use sqlx::PgPool;

use crate::bus::{Setup, bus_settings, enqueue_n, metrics, setup, stream_count, wait_for};

/// Rows published in each test, in rounds of [`ROUND`].
const ROWS: usize = 3_000;
const ROUND: usize = 50;

/// The outbox's vacuums so far and its size in pages.
async fn outbox_state(pool: &PgPool) -> (i64, i64) {
    sqlx::query_as(
        "SELECT vacuum_count, pg_relation_size(relid) / current_setting('block_size')::bigint \
         FROM pg_stat_user_tables WHERE schemaname = current_schema() AND relname = 'outbox'",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

/// Publishes [`ROWS`] rows through a relay with `settings`, a round at a time, each round
/// enqueued once the one before has left the outbox (as a service's steady trickle does).
async fn publish_in_rounds(s: &Setup, settings: &BusSettings) {
    sqlx::query("ALTER TABLE outbox SET (autovacuum_enabled = false)").execute(&s.pool).await.unwrap();
    let stream = bus::stream_name(crate::bus::SERVICE);
    let signal = OutboxSignal::default();
    let stop = Shutdown::new();
    let relay = bus::spawn_relay(s.pool.clone(), s.js.clone(), signal.clone(), settings, metrics(), stop.clone());
    for round in 0..ROWS / ROUND {
        enqueue_n(&s.pool, ROUND, &format!("r{round}")).await;
        signal.wake();
        let want = ((round + 1) * ROUND) as u64;
        wait_for("the round published", || async { stream_count(&s.js, &stream).await == want }).await;
        wait_for("the outbox empty", || async { bus::outbox::pending_count(&s.pool).await.unwrap() == 0 }).await;
    }
    stop.cancel();
    relay.await.unwrap();
}

#[tokio::test]
async fn the_relay_vacuums_the_outbox_as_it_empties_it_so_the_table_stays_small() {
    let s = setup().await;
    let settings = BusSettings { outbox_vacuum_rows: 200, ..bus_settings() };
    publish_in_rounds(&s, &settings).await;
    // 3,000 rows removed: a vacuum after every 200 (one may be skipped while the last runs).
    // Each ran in a task of its own; the last may still be finishing.
    let mut state = outbox_state(&s.pool).await;
    for _ in 0..50 {
        if state.0 >= 7 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        state = outbox_state(&s.pool).await;
    }
    let (vacuums, pages) = state;
    eprintln!("relay vacuuming: {vacuums} vacuums, {pages} pages");
    assert!(vacuums >= 7, "the relay vacuumed the outbox {vacuums} times for {ROWS} rows removed");
    // Space freed by each vacuum is taken by the rows after it: the table holds about 200 rows'
    // worth of pages (a round, the dead rows between vacuums), not 3,000 rows' worth.
    assert!(pages <= 40, "the outbox grew to {pages} pages with the relay vacuuming it");
}

#[tokio::test]
async fn without_its_vacuums_the_outbox_grows_with_every_row_it_ever_held() {
    let s = setup().await;
    let settings = BusSettings { outbox_vacuum_rows: 0, ..bus_settings() };
    publish_in_rounds(&s, &settings).await;
    let (vacuums, pages) = outbox_state(&s.pool).await;
    eprintln!("no vacuums: {vacuums} vacuums, {pages} pages");
    assert_eq!(vacuums, 0, "outbox_vacuum_rows = 0: the relay never vacuums");
    // The control of the test above: the same rows without the relay's vacuums leave the
    // table (about 18 rows a page here: 164 pages when measured) well past the size it allows
    // there (40; 12 when measured).
    assert!(pages > 100, "the outbox held only {pages} pages after {ROWS} rows without a vacuum");
}
