//! What dispatch published on `CIVICGRID_DISPATCH`, read back in stream order, and waits for
//! facts and for WatchTasks changes.

use std::time::Duration;

use civicgrid_dev::testing;
use civicgrid_proto::v1::TaskEvent;
use prost::Message;

use super::{DISPATCH_STREAM, TestApp};

/// One message dispatch published.
#[derive(Debug, Clone)]
pub struct Published {
    pub subject: String,
    pub headers: std::collections::HashMap<String, String>,
    pub event: TaskEvent,
}

impl TestApp {
    /// Every message on CIVICGRID_DISPATCH so far, in stream order, once every change
    /// committed before the call is published.
    pub async fn published(&self) -> Vec<Published> {
        testing::outbox_drained(&self.db, "dispatch").await;
        testing::stream::messages(&self.js, DISPATCH_STREAM)
            .await
            .into_iter()
            .map(|m| Published {
                event: TaskEvent::decode(m.payload.clone()).expect("TaskEvent payload"),
                subject: m.subject,
                headers: m.headers,
            })
            .collect()
    }

    /// The facts published about `task_id`, in order.
    pub async fn published_for(&self, task_id: &str) -> Vec<Published> {
        self.published().await.into_iter().filter(|p| p.event.task_id == task_id).collect()
    }

    /// The fact names published about `task_id`, in order.
    pub async fn facts_of(&self, task_id: &str) -> Vec<String> {
        self.published_for(task_id).await.into_iter().map(|p| p.event.fact).collect()
    }

    /// Waits up to `within` for a published message that `wanted` accepts.
    pub async fn wait_published(&self, what: &str, within: Duration, wanted: impl Fn(&Published) -> bool) -> Published {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(p) = self.published().await.into_iter().find(|p| wanted(p)) {
                return p;
            }
            assert!(tokio::time::Instant::now() < deadline, "no {what} published within {within:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until `task_id` has exactly the facts `expected` on the bus (in order), and
    /// returns them.
    pub async fn wait_facts(&self, task_id: &str, expected: &[&str]) -> Vec<Published> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let got = self.published_for(task_id).await;
            let names: Vec<&str> = got.iter().map(|p| p.event.fact.as_str()).collect();
            if names.len() >= expected.len() {
                assert_eq!(names, expected, "facts published about task {task_id}");
                return got;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "task {task_id}: published {names:?}, expected {expected:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl TestApp {
    /// Waits until at least `n` facts about `task_id` are on the bus and no more arrive for
    /// 300 ms, and returns their names.
    pub async fn wait_facts_at_least(&self, task_id: &str, n: usize) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let mut last = Vec::new();
        loop {
            let got = self.facts_of(task_id).await;
            if got.len() >= n && got == last {
                return got;
            }
            assert!(tokio::time::Instant::now() < deadline, "task {task_id}: only {got:?}, expected {n} facts");
            last = got;
            tokio::time::sleep(Duration::from_millis(if last.len() >= n { 300 } else { 25 })).await;
        }
    }
}

/// The next change of a WatchTasks feed (10 s at most).
pub async fn next_change(
    feed: &mut tonic::Streaming<civicgrid_proto::v1::TaskChange>,
) -> civicgrid_proto::v1::TaskChange {
    tokio::time::timeout(Duration::from_secs(10), feed.message())
        .await
        .expect("a change within 10 s")
        .expect("feed error")
        .expect("feed ended")
}
