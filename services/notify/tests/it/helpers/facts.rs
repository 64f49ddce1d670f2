//! Facts as intake and dispatch publish them: building them, and publishing them on the bus
//! with their CloudEvents headers.

use chrono::Utc;
use civicgrid_kit::{
    bus::{self, Envelope, envelope::to_header_map},
    time::to_proto,
};
use civicgrid_proto::v1::{
    Actor, Event, EventMerged, EventReport, EventReported, Location, Role, TaskEvent, TaskStatus, WarningColour,
};
use prost::Message;

use super::{DEPT, GRID, GRID_WORKER, TestApp, path};

impl TestApp {
    /// Publishes `msg` on `subject` with CloudEvents headers; returns the ce-id.
    pub async fn publish<M: Message + prost::Name>(
        &self,
        service: &str,
        subject: String,
        aggregate: &str,
        msg: &M,
    ) -> String {
        let id = uuid::Uuid::now_v7();
        self.publish_as(service, subject, aggregate, msg, id).await;
        id.to_string()
    }

    /// Publishes with a chosen ce-id (to test redelivery); the Nats-Msg-Id is fresh, so
    /// JetStream's own de-duplication does not hide the copy.
    pub async fn publish_as<M: Message + prost::Name>(
        &self,
        service: &str,
        subject: String,
        aggregate: &str,
        msg: &M,
        ce_id: uuid::Uuid,
    ) {
        let envelope = Envelope::of(subject.clone(), aggregate, msg);
        let mut headers = envelope.headers(service, ce_id, self.clock.now());
        headers.insert("Nats-Msg-Id".into(), uuid::Uuid::now_v7().to_string());
        self.js
            .publish_with_headers(subject, to_header_map(&headers), envelope.payload.clone().into())
            .await
            .expect("publish")
            .await
            .expect("ack");
    }

    /// Publishes a dispatch task fact; returns its ce-id.
    pub async fn publish_task(&self, e: &TaskEvent) -> String {
        let region = e.region.clone().unwrap_or_default();
        self.publish("dispatch", bus::subject("dispatch", &e.fact, &region), &e.task_id, e).await
    }

    /// Publishes intake's `event-reported`; returns its ce-id.
    pub async fn publish_reported(&self, r: &EventReported) -> String {
        let event = r.event.clone().unwrap_or_default();
        let region = event.location.clone().unwrap_or_default().region.unwrap_or_default();
        self.publish("intake", bus::subject("intake", "event-reported", &region), &event.id, r).await
    }

    /// Publishes intake's `event-merged`; returns its ce-id.
    pub async fn publish_merged(&self, m: &EventMerged) -> String {
        let region = m.region.clone().unwrap_or_default();
        self.publish("intake", bus::subject("intake", "event-merged", &region), &m.event_id, m).await
    }
}

/// A task fact about task `task` of event `event`, in the test village, for department `DEPT`.
pub fn task_fact(fact: &str, task: &str, event: &str) -> TaskEvent {
    TaskEvent {
        task_id: task.into(),
        event_id: event.into(),
        fact: fact.into(),
        status: TaskStatus::Assigned as i32,
        department_id: DEPT.into(),
        region: Some(path()),
        version: 1,
        occurred_at: Some(to_proto(Utc::now())),
        actor: Some(Actor { subject: "civicgrid-dispatch".into(), role: Role::Admin as i32, ..Default::default() }),
        lead: true,
        colour: WarningColour::Blue as i32,
        item_code: "0101001".into(),
        grid_code: GRID.into(),
        grid_worker_id: GRID_WORKER.into(),
        tracking_number: format!("411602-20261116-{:06}", rand_seq()),
        ..Default::default()
    }
}

fn rand_seq() -> u32 {
    (uuid::Uuid::now_v7().as_u128() % 999_999) as u32
}

/// intake's `event-reported` of a new event by `reporter_id`.
pub fn reported(event: &str, reporter_id: &str) -> EventReported {
    EventReported {
        event: Some(Event {
            id: event.into(),
            tracking_number: format!("411602-20261116-{:06}", rand_seq()),
            item_code: "0101001".into(),
            location: Some(Location {
                grid_code: GRID.into(),
                region: Some(path()),
                address: "人民路 1 号".into(),
                ..Default::default()
            }),
            reports: vec![EventReport { reporter_id: reporter_id.into(), ..Default::default() }],
            ..Default::default()
        }),
        actor: None,
    }
}

/// intake's `event-merged` of another report by `reporter_id`.
pub fn merged(event: &str, reporter_id: &str, count: i32) -> EventMerged {
    EventMerged {
        event_id: event.into(),
        tracking_number: "411602-20261116-000001".into(),
        report: Some(EventReport { reporter_id: reporter_id.into(), ..Default::default() }),
        report_count: count,
        version: 2,
        region: Some(path()),
        actor: None,
    }
}

pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
