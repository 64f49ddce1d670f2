//! intake's facts (`EventReported`, `EventRated`), built and published on `CIVICGRID_INTAKE`
//! exactly as intake publishes them, and the tasks dispatch makes of them.

use std::{
    sync::atomic::{AtomicU32, Ordering},
    time::Duration,
};

use chrono::{DateTime, Utc};
use civicgrid_kit::{bus, region, time::to_proto};
use civicgrid_proto::v1::{
    Actor, Event, EventRated, EventReported, EventSource, EventStatus, GeoPoint, ListTasksRequest, Location, Rating,
    RegionPath, Role, Task,
};
use prost::Message;

use super::{GridPick, TestApp, admin, authed};

static TRACKING_SEQ: AtomicU32 = AtomicU32::new(1);

/// A reported event of `item_code` in `grid`, as intake's `EventReported` carries it.
pub fn reported(item_code: &str, grid: &GridPick, at: DateTime<Utc>) -> EventReported {
    let path = grid.path.clone();
    let seq = TRACKING_SEQ.fetch_add(1, Ordering::Relaxed);
    let id = uuid::Uuid::now_v7().to_string();
    EventReported {
        event: Some(Event {
            id,
            tracking_number: format!("{}-{}-{seq:06}", path.county, at.format("%Y%m%d")),
            source: EventSource::GridWorker as i32,
            item_code: item_code.to_string(),
            location: Some(Location {
                point: Some(GeoPoint { latitude: 33.62, longitude: 114.65 }),
                grid_code: grid.code.clone(),
                region_code: [&path.village, &path.township, &path.county]
                    .into_iter()
                    .find(|c| !c.is_empty())
                    .cloned()
                    .unwrap_or_default(),
                address: "川汇区七一路 12 号".into(),
                region: Some(path.clone()),
            }),
            description: format!("事件 {item_code}：现场需要处置"),
            evidence_urls: vec!["https://img.example.org/report.jpg".into()],
            occurred_at: Some(to_proto(at)),
            reported_at: Some(to_proto(at)),
            status: EventStatus::Reported as i32,
            reports: vec![],
            history: vec![],
            version: 1,
        }),
        actor: Some(if grid.grid_worker.is_empty() {
            Actor {
                subject: "hotline-12345".into(),
                role: Role::CitizenApp as i32,
                department_id: String::new(),
                region_scope: String::new(),
            }
        } else {
            Actor {
                subject: grid.grid_worker.clone(),
                role: Role::GridWorker as i32,
                department_id: String::new(),
                region_scope: grid.code.clone(),
            }
        }),
    }
}

/// A place known only to its county (a hotline report without a grid or street).
pub fn county_only(county: &str) -> GridPick {
    GridPick { code: String::new(), grid_worker: String::new(), path: region::path_of(county).expect("county code") }
}

pub fn event_id(r: &EventReported) -> String {
    r.event.as_ref().expect("event").id.clone()
}

fn event_region(r: &EventReported) -> RegionPath {
    r.event.as_ref().and_then(|e| e.location.as_ref()).and_then(|l| l.region.clone()).expect("region")
}

/// A rating of `r`'s outcome, as intake's `EventRated` carries it.
pub fn rated(r: &EventReported, rating: Rating, comment: &str, at: DateTime<Utc>) -> EventRated {
    let event = r.event.as_ref().expect("event");
    EventRated {
        event_id: event.id.clone(),
        tracking_number: event.tracking_number.clone(),
        rating: rating as i32,
        comment: comment.into(),
        region: Some(event_region(r)),
        version: 2,
        rated_at: Some(to_proto(at)),
        actor: Some(Actor {
            subject: "citizen-app-1".into(),
            role: Role::CitizenApp as i32,
            department_id: String::new(),
            region_scope: String::new(),
        }),
        rating_id: uuid::Uuid::now_v7().to_string(),
    }
}

impl TestApp {
    /// Publishes an intake fact with intake's CloudEvents headers; `ce_id` and `msg_id` are
    /// usually the same fresh UUIDv7 (a publisher's retry keeps `ce-id` under a new
    /// `Nats-Msg-Id` once JetStream's duplicate window has passed).
    #[allow(clippy::too_many_arguments)]
    pub async fn publish_intake(
        &self,
        fact: &str,
        region: &RegionPath,
        type_name: &str,
        subject_id: &str,
        payload: Vec<u8>,
        ce_id: &str,
        msg_id: &str,
    ) {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("ce-specversion", "1.0");
        headers.insert("ce-id", ce_id);
        headers.insert("Nats-Msg-Id", msg_id);
        headers.insert("ce-type", format!("civicgrid.v1.{type_name}").as_str());
        headers.insert("ce-source", "civicgrid/intake");
        headers.insert("ce-time", self.clock.now().to_rfc3339().as_str());
        headers.insert("ce-subject", subject_id);
        headers.insert("content-type", "application/protobuf");
        self.js
            .publish_with_headers(bus::subject("intake", fact, region), headers, payload.into())
            .await
            .expect("publish")
            .await
            .expect("JetStream ack");
    }

    /// Publishes `r` as `event-reported`; returns its ce-id.
    pub async fn publish_reported(&self, r: &EventReported) -> String {
        let ce_id = uuid::Uuid::now_v7().to_string();
        self.publish_reported_as(r, &ce_id, &ce_id).await;
        ce_id
    }

    pub async fn publish_reported_as(&self, r: &EventReported, ce_id: &str, msg_id: &str) {
        let region = event_region(r);
        self.publish_intake("event-reported", &region, "EventReported", &event_id(r), r.encode_to_vec(), ce_id, msg_id)
            .await;
    }

    /// Publishes `rating` as `event-rated`; returns its ce-id.
    pub async fn publish_rated(&self, rating: &EventRated) -> String {
        let ce_id = uuid::Uuid::now_v7().to_string();
        self.publish_rated_as(rating, &ce_id, &ce_id).await;
        ce_id
    }

    pub async fn publish_rated_as(&self, rating: &EventRated, ce_id: &str, msg_id: &str) {
        let region = rating.region.clone().expect("region");
        self.publish_intake(
            "event-rated",
            &region,
            "EventRated",
            &rating.event_id,
            rating.encode_to_vec(),
            ce_id,
            msg_id,
        )
        .await;
    }

    /// Reports an event of `item_code` in `grid` now and waits for its `n` tasks (lead first).
    pub async fn report(&self, item_code: &str, grid: &GridPick, n: usize) -> (EventReported, Vec<Task>) {
        let r = reported(item_code, grid, self.clock.now());
        self.publish_reported(&r).await;
        let tasks = self.tasks_of(&event_id(&r), n).await;
        (r, tasks)
    }

    /// The tasks of an event as an administrator sees them, lead first, once there are `n`.
    pub async fn tasks_of(&self, event_id: &str, n: usize) -> Vec<Task> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let mut tasks = self.list_for_event(event_id).await;
            if tasks.len() >= n {
                tasks.sort_by_key(|t| (!t.lead, t.id.clone()));
                return tasks;
            }
            assert!(tokio::time::Instant::now() < deadline, "event {event_id} has {} of {n} tasks", tasks.len());
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub async fn list_for_event(&self, event_id: &str) -> Vec<Task> {
        let mut client = self.client.clone();
        let req = ListTasksRequest { event_id: event_id.into(), page_size: 500, ..Default::default() };
        client.list_tasks(authed(req, &admin())).await.expect("list tasks").into_inner().tasks
    }

    /// A task as the administrator sees it now.
    pub async fn task(&self, id: &str) -> Task {
        let mut client = self.client.clone();
        let req = civicgrid_proto::v1::GetTaskRequest { task_id: id.into() };
        client.get_task(authed(req, &admin())).await.expect("get task").into_inner()
    }
}
