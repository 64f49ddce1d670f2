//! The bus as the tests see it: positions published as a device publishes them, and patrol's
//! facts read back.

use chrono::{DateTime, Utc};
use civicgrid_dev::testing;
use civicgrid_kit::{bus::Incoming, region, time::to_proto};
use civicgrid_proto::v1::{GeoPoint, PatrolEvent, PositionFix};
use prost::Message;

use super::{TOWNSHIP, TestApp};

/// patrol's stream of facts.
pub const PATROL_STREAM: &str = "CIVICGRID_PATROL";

/// A fix of `member` at `at`.
pub fn fix(member: &str, at: DateTime<Utc>, point: GeoPoint) -> PositionFix {
    PositionFix {
        member_id: member.into(),
        device_id: format!("dev-{member}"),
        at: Some(to_proto(at)),
        point: Some(point),
        accuracy_m: 5.0,
        speed_mps: 0.0,
    }
}

impl TestApp {
    /// Publishes raw bytes on the positions subject of the township, as a device would.
    pub async fn publish_raw(&self, payload: Vec<u8>) {
        let path = region::path_of(TOWNSHIP).unwrap();
        let subject = civicgrid_contracts::patrol::POSITIONS.subject(&path);
        self.js.publish(subject, payload.into()).await.unwrap().await.unwrap();
    }

    /// Publishes `fix` on NATS.
    pub async fn publish_fix(&self, fix: &PositionFix) {
        self.publish_raw(fix.encode_to_vec()).await;
    }

    /// Every fact patrol published so far (after its outbox drained).
    pub async fn published(&self) -> Vec<Incoming> {
        testing::outbox_drained(&self.db, "patrol").await;
        testing::stream::messages(&self.js, PATROL_STREAM).await
    }

    /// The facts published about shift `shift_id`, in stream order.
    pub async fn facts_of(&self, shift_id: &str) -> Vec<PatrolEvent> {
        self.published()
            .await
            .iter()
            .filter(|m| m.headers.get("ce-subject").map(String::as_str) == Some(shift_id))
            .map(|m| PatrolEvent::decode(m.payload.clone()).expect("a PatrolEvent"))
            .collect()
    }

    /// The fact names published about `shift_id`.
    pub async fn fact_names(&self, shift_id: &str) -> Vec<String> {
        self.facts_of(shift_id).await.into_iter().map(|f| f.fact).collect()
    }

    /// Waits until a fact `fact` about `shift_id` is published, and returns it.
    pub async fn wait_for_fact(&self, shift_id: &str, fact: &str, what: &str) -> PatrolEvent {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            if let Some(f) = self.facts_of(shift_id).await.into_iter().find(|f| f.fact == fact) {
                return f;
            }
            assert!(tokio::time::Instant::now() < deadline, "no {fact} about {shift_id}: {what}");
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
    }

    /// Waits for the presence-daily fact of `date`.
    pub async fn presence_daily(&self, date: &str) -> PatrolEvent {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let found = self
                .published()
                .await
                .into_iter()
                .filter(|m| m.subject.starts_with("civicgrid.patrol.presence-daily."))
                .map(|m| PatrolEvent::decode(m.payload).expect("a PatrolEvent"))
                .find(|f| f.date == date);
            if let Some(f) = found {
                return f;
            }
            assert!(tokio::time::Instant::now() < deadline, "no presence-daily of {date}");
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
    }
}
