//! The bus as the tests see it: dispatch's `task-assigned` published as dispatch publishes it,
//! a dispute reported to dispatch as intake publishes it, and mediation's facts read back.

use chrono::{DateTime, Utc};
use civicgrid_dev::testing;
use civicgrid_kit::{bus, region, time::to_proto};
use civicgrid_proto::v1::{
    Actor, Event, EventReported, EventSource, EventStatus, Location, MediationCaseEvent, RegionPath, Role, TaskEvent,
    TaskStatus,
};
use prost::Message;

use super::TestApp;

/// mediation's stream.
pub const MEDIATION_STREAM: &str = "CIVICGRID_MEDIATION";

/// A `task-assigned` of `item_code` to `department` for an event in `region_code`, as
/// dispatch publishes it.
pub fn task_assigned(item_code: &str, department: &str, region_code: &str) -> TaskEvent {
    let path = region::path_of(region_code).expect("region code");
    TaskEvent {
        task_id: uuid::Uuid::now_v7().to_string(),
        event_id: uuid::Uuid::now_v7().to_string(),
        fact: "task-assigned".into(),
        status: TaskStatus::Assigned as i32,
        department_id: department.into(),
        region: Some(path.clone()),
        version: 1,
        occurred_at: Some(to_proto(Utc::now())),
        actor: Some(Actor { subject: "civicgrid-dispatch".into(), role: Role::Admin as i32, ..Default::default() }),
        lead: true,
        item_code: item_code.into(),
        tracking_number: format!("{}-20261116-000123", path.county),
        ..Default::default()
    }
}

fn headers(type_name: &str, source: &str, subject_id: &str, at: DateTime<Utc>) -> (async_nats::HeaderMap, String) {
    let id = uuid::Uuid::now_v7().to_string();
    let mut h = async_nats::HeaderMap::new();
    h.insert("ce-specversion", "1.0");
    h.insert("ce-id", id.as_str());
    h.insert("Nats-Msg-Id", id.as_str());
    h.insert("ce-type", format!("civicgrid.v1.{type_name}").as_str());
    h.insert("ce-source", format!("civicgrid/{source}").as_str());
    h.insert("ce-time", at.to_rfc3339().as_str());
    h.insert("ce-subject", subject_id);
    h.insert("content-type", "application/protobuf");
    (h, id)
}

impl TestApp {
    /// Publishes `task` on `CIVICGRID_DISPATCH` (a fresh ce-id each time, as a republish
    /// after the duplicate window would have).
    pub async fn publish_task(&self, task: &TaskEvent) {
        let (h, _) = headers("TaskEvent", "dispatch", &task.task_id, self.clock.now());
        let region = task.region.clone().unwrap_or_default();
        let subject = bus::subject("dispatch", &task.fact, &region);
        self.js.publish_with_headers(subject, h, task.encode_to_vec().into()).await.unwrap().await.unwrap();
    }

    /// Reports a dispute of `item_code` in grid `grid` to dispatch, as intake publishes it;
    /// returns the event id.
    pub async fn report_dispute(&self, item_code: &str, grid: &str) -> String {
        let path: RegionPath = region::path_of_grid(grid).expect("grid code");
        let now = self.clock.now();
        let id = uuid::Uuid::now_v7().to_string();
        let reported = EventReported {
            event: Some(Event {
                id: id.clone(),
                tracking_number: format!("{}-{}-000777", path.county, now.format("%Y%m%d")),
                source: EventSource::GridWorker as i32,
                item_code: item_code.into(),
                location: Some(Location {
                    point: None,
                    grid_code: grid.into(),
                    region_code: path.village.clone(),
                    address: "川汇区七一路 12 号".into(),
                    region: Some(path.clone()),
                }),
                description: "两户邻居因装修噪音发生争执".into(),
                evidence_urls: vec![],
                occurred_at: Some(to_proto(now)),
                reported_at: Some(to_proto(now)),
                status: EventStatus::Reported as i32,
                reports: vec![],
                history: vec![],
                version: 1,
            }),
            actor: Some(Actor {
                subject: format!("gw-{grid}"),
                role: Role::GridWorker as i32,
                department_id: String::new(),
                region_scope: grid.into(),
            }),
        };
        let (h, _) = headers("EventReported", "intake", &id, now);
        let subject = bus::subject("intake", "event-reported", &path);
        self.js.publish_with_headers(subject, h, reported.encode_to_vec().into()).await.unwrap().await.unwrap();
        id
    }

    /// Every message mediation published so far (after its outbox drained).
    pub async fn published(&self) -> Vec<civicgrid_kit::bus::Incoming> {
        testing::outbox_drained(&self.db, "mediation").await;
        testing::stream::messages(&self.js, MEDIATION_STREAM).await
    }

    /// The facts published about case `case_id`, in stream order.
    pub async fn facts_of(&self, case_id: &str) -> Vec<MediationCaseEvent> {
        self.published()
            .await
            .iter()
            .filter(|m| m.headers.get("ce-subject").map(String::as_str) == Some(case_id))
            .map(|m| MediationCaseEvent::decode(m.payload.clone()).expect("a MediationCaseEvent"))
            .collect()
    }

    /// The fact names published about `case_id`.
    pub async fn fact_names(&self, case_id: &str) -> Vec<String> {
        self.facts_of(case_id).await.into_iter().map(|f| f.fact).collect()
    }

    /// Waits until a `case-warning` with reason `key` was published about `case_id`.
    pub async fn wait_for_warning(&self, case_id: &str, key: &str) -> MediationCaseEvent {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let facts = self.facts_of(case_id).await;
            if let Some(f) = facts.into_iter().find(|f| f.fact == "case-warning" && f.reason == key) {
                return f;
            }
            assert!(tokio::time::Instant::now() < deadline, "no warning {key} about {case_id}");
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
    }
}
