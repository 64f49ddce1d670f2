//! Crashes at the kill points (`CIVICGRID_FAULT`, crates/kit/src/faults.rs): each service is made
//! to abort exactly where a crash is most likely to lose or double something, while reports
//! flow, and `civicgrid up` restarts it:
//!
//! - intake after committing a report, before answering it (the client retries);
//! - intake's relay after the outbox rows are committed, before they are published;
//! - intake's and dispatch's relays after publishing, before deleting the rows (they are
//!   published again: JetStream must drop the repeats);
//! - dispatch's and notify's consumers after applying a batch, before acking it (JetStream
//!   redelivers it: dispatch's inbox must skip it; notify keeps no inbox rows, and its
//!   notifications' keys must make it change nothing).
//!
//! Each point fires once, in the service's process it names (`@<life>`); then the books must
//! balance as after any other fault.

use civicgrid_e2e::{Suite, kills};

use crate::books::{check_books, submit_while};

/// The kill points armed: `<service>.<point>:<hit>@<which process>`.
const ARMED: &[&str] = &[
    "intake.submit.after_commit:5@0",
    "intake.relay.before_publish:5@1",
    "intake.relay.after_publish:5@2",
    "dispatch.inbox.before_ack:5@0",
    "dispatch.relay.after_publish:5@1",
    "notify.inbox.before_ack:5@0",
];

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_at_each_kill_point_loses_nothing_and_applies_nothing_twice() {
    let spec = ARMED.join(",");
    let suite = tokio::task::spawn_blocking(move || {
        Suite::up_with_env(
            &["--no-demo", "--quiet"],
            // A short ack wait: a batch whose ack died with its consumer comes back in 5 s, not 30.
            &[("CIVICGRID_FAULT", spec.as_str()), ("CIVICGRID__BUS__ACK_WAIT_SECS", "5")],
        )
    })
    .await
    .unwrap();
    let accepted = submit_while(&suite, async {}).await;
    check_books(&suite, &accepted, &format!("crashes at the kill points {}", ARMED.join(", "))).await;

    let fired = kills::kill_points_fired(&suite);
    println!("kill points fired: {fired:?}");
    for armed in ARMED {
        let point = armed.split(':').next().unwrap_or_default();
        assert_eq!(fired.get(point), Some(&1), "{point} fired {:?} times", fired.get(point));
    }
}
