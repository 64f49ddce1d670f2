//! The books after faults: reports flow from four clients (retrying with the same request id, as
//! a real client does) while processes die and `civicgrid up` restarts them. Then every accepted
//! report must have exactly one event fact, exactly one task, exactly one `task-assigned` fact
//! and exactly one notification of its department, and no outbox may hold anything. The books
//! are printed. The counting is shared with the long run (`civicgrid_e2e::books`).

use std::time::Duration;

use civicgrid_e2e::{
    Suite,
    books::{self, Load},
    kills,
};
use rand::{Rng, SeedableRng, seq::SliceRandom};

/// Reports in all, and clients submitting them at once.
const REPORTS: usize = 200;
const CLIENTS: usize = 4;

/// Kills `name` (a service, `nats-server` or `postgres`) with SIGKILL and waits until `up` runs
/// a new one.
async fn kill_and_await_restart(suite: &Suite, name: &str) {
    kills::kill_and_await_restart(suite, name).await.unwrap();
}

/// Submits [`REPORTS`] reports from [`CLIENTS`] clients while `faults` runs; returns the
/// accepted event ids (each client retries with the same request id until it is answered).
pub(crate) async fn submit_while(suite: &Suite, faults: impl std::future::Future<Output = ()>) -> Vec<String> {
    let submitted = books::submit_while(suite, &Load::new(REPORTS, CLIENTS), faults).await;
    assert!(submitted.refused.is_empty(), "reports never accepted: {:?}", submitted.refused);
    submitted.accepted
}

#[tokio::test(flavor = "multi_thread")]
async fn reports_flow_through_kills_of_every_process_and_the_books_balance() {
    let suite = tokio::task::spawn_blocking(|| Suite::up(&["--no-demo", "--quiet"])).await.unwrap();
    // The faults, in a seeded order, while the clients submit.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(20261206);
    let mut faults: Vec<&str> = ["intake", "dispatch", "notify", "nats-server", "postgres"].repeat(2);
    faults.shuffle(&mut rng);
    let accepted = submit_while(&suite, async {
        for name in &faults {
            tokio::time::sleep(Duration::from_millis(rng.random_range(800..2500))).await;
            kill_and_await_restart(&suite, name).await;
        }
    })
    .await;
    check_books(&suite, &accepted, &format!("{} kills ({})", faults.len(), faults.join(", "))).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_stopped_immediately_under_load_loses_nothing_and_doubles_nothing() {
    let suite = tokio::task::spawn_blocking(|| Suite::up(&["--no-demo", "--quiet"])).await.unwrap();
    // `pg_ctl stop -m immediate`, twice at seeded moments: every backend ends mid-transaction,
    // nothing is checkpointed, and the restarted server recovers from its write-ahead log.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(15);
    let accepted = submit_while(&suite, async {
        for _ in 0..2 {
            tokio::time::sleep(Duration::from_millis(rng.random_range(1000..3000))).await;
            kills::stop_postgres_immediately(&suite).await.unwrap();
        }
    })
    .await;
    check_books(&suite, &accepted, "2 immediate shutdowns of PostgreSQL").await;
}

/// Counts and prints the books of `accepted` after `faults`, and checks that they balance.
pub(crate) async fn check_books(suite: &Suite, accepted: &[String], faults: &str) {
    let books = books::count(suite, accepted, Duration::from_secs(180)).await.unwrap();
    println!("books after {faults}:\n{books}");
    assert_eq!(books.accepted, REPORTS);
    assert_eq!(books.distinct, REPORTS, "two requests were answered with one event");
    assert!(books.balanced(), "the books do not balance:\n{books}");
}
