//! The webhook signature as a receiver sees it: `tests/receiver/receiver.py`, written from
//! docs/notifications.md alone (Python standard library), accepts notify's calls signed with the
//! registered secret and refuses them with any other, and a refused call is retried with the
//! same delivery id.

use std::{path::PathBuf, process::Stdio};

use civicgrid_kit::clock::Clock;
use civicgrid_proto::v1::{Channel, Delivery, DeliveryStatus};
use serde_json::Value;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

use crate::helpers::*;

/// The receiver script, running on a free loopback port; killed when dropped.
struct Script {
    url: String,
    log: PathBuf,
    _child: Child,
}

impl Script {
    /// Starts `receiver.py` with `secret`; it prints its port on stdout's first line.
    async fn start(secret: &str) -> Script {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/receiver/receiver.py");
        let log = std::env::temp_dir().join(format!("civicgrid-receiver-{}.jsonl", new_id()));
        let mut child = Command::new("python3")
            .arg(path)
            .arg("0")
            .arg(secret)
            .arg(&log)
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 runs the receiver script");
        let stdout = child.stdout.take().expect("the script's stdout");
        let mut first = String::new();
        tokio::time::timeout(WITHIN, BufReader::new(stdout).read_line(&mut first))
            .await
            .expect("the script prints its port in time")
            .expect("reading the script's stdout");
        let port: u16 = first.trim().parse().unwrap_or_else(|_| panic!("a port on the first line, got {first:?}"));
        Script { url: format!("http://127.0.0.1:{port}/hook"), log, _child: child }
    }

    /// Waits until the script logged at least `n` calls; returns them in order.
    async fn wait_calls(&self, n: usize) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + WITHIN;
        loop {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            let calls: Vec<Value> =
                text.lines().map(|l| serde_json::from_str(l).expect("one JSON object per line")).collect();
            if calls.len() >= n {
                return calls;
            }
            assert!(tokio::time::Instant::now() < deadline, "the script logged {} of {n} calls", calls.len());
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.log);
    }
}

fn webhook(deliveries: &[Delivery]) -> Option<&Delivery> {
    deliveries.iter().find(|d| d.channel == Channel::Webhook as i32)
}

#[tokio::test]
async fn a_receiver_written_from_the_docs_accepts_notifys_signature() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let secret = "docs-receiver-secret-0123456789";
    let script = Script::start(secret).await;
    let desk = format!("department:{DEPT}");
    let endpoint = register(&app, &desk, &script.url, secret).await;

    let assigned = task_fact("task-assigned", &new_id(), &new_id());
    app.publish_task(&assigned).await;
    let note = app.wait_inbox(&desk, 1).await.remove(0);
    let deliveries = app
        .wait_deliveries(&note.id, "the webhook delivered", |d| {
            webhook(d).is_some_and(|w| w.status == DeliveryStatus::Delivered as i32)
        })
        .await;
    let delivery = webhook(&deliveries).expect("a webhook delivery");
    assert_eq!(delivery.endpoint_id, endpoint);
    assert_eq!(delivery.attempt_count, 1);
    let attempt = &delivery.attempts[0];
    assert_eq!((attempt.outcome.as_str(), attempt.http_status), ("delivered", 200));

    let calls = script.wait_calls(1).await;
    assert_eq!(calls.len(), 1, "one call: {calls:#?}");
    let call = &calls[0];
    assert_eq!(call["valid"], true, "the script found the signature valid: {call:#}");
    assert_eq!(call["delivery"], delivery.id.as_str());
    assert_eq!(call["fact"], "task-assigned");
    let body = &call["body"];
    assert_eq!(
        (&body["delivery_id"], &body["endpoint_id"], &body["digest"]),
        (&call["delivery"], &endpoint.into(), &false.into())
    );
    assert_eq!(body["notifications"][0]["id"], note.id.as_str());
    assert_eq!(body["notifications"][0]["data"]["tracking_number"], assigned.tracking_number.as_str());
}

#[tokio::test]
async fn a_wrong_secret_is_refused_with_401_and_the_call_is_retried() {
    let app = spawn_app(Clock::manual(monday_9am())).await;
    let script = Script::start("the-receivers-own-secret-0123").await;
    let desk = format!("department:{DEPT}");
    register(&app, &desk, &script.url, "a-different-secret-registered").await;

    app.publish_task(&task_fact("task-assigned", &new_id(), &new_id())).await;
    let note = app.wait_inbox(&desk, 1).await.remove(0);
    let failed_once = |d: &[Delivery]| webhook(d).is_some_and(|w| w.attempt_count >= 1);
    let deliveries = app.wait_deliveries(&note.id, "a failed webhook attempt", failed_once).await;
    let delivery = webhook(&deliveries).expect("a webhook delivery");
    assert_eq!(delivery.status, DeliveryStatus::Pending as i32, "{delivery:#?}");
    assert_eq!(delivery.attempts.len(), 1);
    let attempt = &delivery.attempts[0];
    assert_eq!((attempt.outcome.as_str(), attempt.http_status), ("failed", 401), "{attempt:#?}");
    assert!(delivery.last_error.contains("401"), "{}", delivery.last_error);
    assert!(
        delivery.next_attempt_at.as_ref().is_some_and(|t| t.seconds > monday_9am().timestamp()),
        "a retry is scheduled: {delivery:#?}"
    );
    let calls = script.wait_calls(1).await;
    assert_eq!((&calls[0]["valid"], &calls[0]["delivery"]), (&false.into(), &delivery.id.as_str().into()));

    // Once the retry is due it goes out again, with the same delivery id, and is refused again.
    app.advance(chrono::Duration::minutes(1));
    let deliveries =
        app.wait_deliveries(&note.id, "a second attempt", |d| webhook(d).is_some_and(|w| w.attempt_count >= 2)).await;
    let retried = webhook(&deliveries).expect("a webhook delivery");
    assert_eq!(retried.status, DeliveryStatus::Pending as i32);
    assert_eq!(retried.attempts.iter().map(|a| a.http_status).collect::<Vec<_>>(), [401, 401]);
    let calls = script.wait_calls(2).await;
    assert!(calls.iter().all(|c| c["valid"] == false && c["delivery"] == delivery.id.as_str()), "{calls:#?}");
}
