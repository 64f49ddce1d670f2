//! Facts as intake, dispatch, mediation and patrol publish them: building them, and publishing
//! them on the bus with their CloudEvents headers.

use chrono::Utc;
use civicgrid_kit::{
    bus::{self, Envelope, envelope::to_header_map},
    time::to_proto,
};
use civicgrid_proto::v1::{
    Actor, CaseDeadline, CaseSource, CaseState, CheckInMethod, DisputeType, Event, EventMerged, EventReport,
    EventReported, Location, MediationCaseEvent, Party, PartyRole, PatrolEvent, RiskLevel, Role, TaskEvent, TaskStatus,
    WarningColour,
};
use prost::Message;

use super::{
    COUNTY, DEPT, GRID, GRID_WORKER, MEDIATOR, ORGANISATION, PATROL_TEAM, PATROL_UNIT, SUPERVISORS, TestApp,
    monday_9am, path,
};

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

    /// Publishes a mediation case fact as mediation does (`Envelope::family` of the contract's
    /// `CASE_FACTS`, on `CIVICGRID_MEDIATION`); returns its ce-id.
    pub async fn publish_case(&self, e: &MediationCaseEvent) -> String {
        let id = uuid::Uuid::now_v7();
        self.publish_case_as(e, id).await;
        id.to_string()
    }

    /// Publishes a case fact with a chosen ce-id (to test redelivery), with a fresh Nats-Msg-Id.
    pub async fn publish_case_as(&self, e: &MediationCaseEvent, ce_id: uuid::Uuid) {
        let region = e.region.clone().unwrap_or_default();
        let envelope = Envelope::family(&civicgrid_contracts::mediation::CASE_FACTS, &e.fact, &region, &e.case_id, e);
        let mut headers = envelope.headers(civicgrid_contracts::mediation::SERVICE, ce_id, self.clock.now());
        headers.insert("Nats-Msg-Id".into(), uuid::Uuid::now_v7().to_string());
        self.js
            .publish_with_headers(envelope.subject.clone(), to_header_map(&headers), envelope.payload.clone().into())
            .await
            .expect("publish")
            .await
            .expect("ack");
    }

    /// Publishes a patrol fact as patrol does (`Envelope::family` of the contract's `FACTS`, on
    /// `CIVICGRID_PATROL`); returns its ce-id.
    pub async fn publish_patrol(&self, e: &PatrolEvent) -> String {
        let id = uuid::Uuid::now_v7();
        self.publish_patrol_as(e, id).await;
        id.to_string()
    }

    /// Publishes a patrol fact with a chosen ce-id (to test redelivery), with a fresh Nats-Msg-Id.
    pub async fn publish_patrol_as(&self, e: &PatrolEvent, ce_id: uuid::Uuid) {
        let region = e.region.clone().unwrap_or_default();
        let aggregate = if e.shift_id.is_empty() { e.date.clone() } else { e.shift_id.clone() };
        let envelope = Envelope::family(&civicgrid_contracts::patrol::FACTS, &e.fact, &region, aggregate, e);
        let mut headers = envelope.headers(civicgrid_contracts::patrol::SERVICE, ce_id, self.clock.now());
        headers.insert("Nats-Msg-Id".into(), uuid::Uuid::now_v7().to_string());
        self.js
            .publish_with_headers(envelope.subject.clone(), to_header_map(&headers), envelope.payload.clone().into())
            .await
            .expect("publish")
            .await
            .expect("ack");
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

/// A case fact about case `case`: a neighbours' dispute in the test village, before the test
/// village's committee [`ORGANISATION`], mediated by [`MEDIATOR`], with two masked parties.
pub fn case_fact(fact: &str, case: &str) -> MediationCaseEvent {
    let party = |id: &str, role: PartyRole, name: &str| Party {
        party_id: id.into(),
        role: role as i32,
        name_masked: name.into(),
        phone_masked: "138****5678".into(),
        ..Default::default()
    };
    MediationCaseEvent {
        fact: fact.into(),
        case_id: case.into(),
        case_number: format!("调411602-20261116-{:04}", rand_seq() % 10_000),
        state: CaseState::Applied as i32,
        dispute_type: DisputeType::Neighbour as i32,
        risk: RiskLevel::Low as i32,
        region: Some(path()),
        organisation_id: ORGANISATION.into(),
        mediator_id: MEDIATOR.into(),
        parties: vec![party("p1", PartyRole::Applicant, "张*"), party("p2", PartyRole::Respondent, "李*")],
        version: 1,
        actor: Some(Actor { subject: "civicgrid-mediation".into(), role: Role::Admin as i32, ..Default::default() }),
        occurred_at: Some(to_proto(monday_9am())),
        source: CaseSource::Application as i32,
        ..Default::default()
    }
}

/// A `case-warning` of case `case` for its deadline `deadline`, passed or near.
pub fn case_warning(case: &str, deadline: &str, passed: bool) -> MediationCaseEvent {
    MediationCaseEvent {
        state: CaseState::InMediation as i32,
        reason: deadline.into(),
        deadline: Some(CaseDeadline {
            name: deadline.into(),
            due: Some(to_proto(monday_9am() + chrono::Duration::hours(15))),
            overdue: passed,
        }),
        ..case_fact("case-warning", case)
    }
}

/// A patrol fact about shift `shift` of the test county's team [`PATROL_TEAM`] (run by
/// [`PATROL_UNIT`], supervised by [`SUPERVISORS`]) on a route in the test village, concerning
/// member 王强 at checkpoint 实验小学东门.
pub fn patrol_fact(fact: &str, shift: &str) -> PatrolEvent {
    PatrolEvent {
        fact: fact.into(),
        shift_id: shift.into(),
        team_id: PATROL_TEAM.into(),
        team_name: "川汇区专职巡防一中队".into(),
        unit_id: PATROL_UNIT.into(),
        supervisor_ids: SUPERVISORS.iter().map(|s| s.to_string()).collect(),
        route_id: "411602001001-school".into(),
        route_name: "人民路校园周边".into(),
        region: Some(path()),
        member_id: "pm-411602-07".into(),
        member_name: "王强".into(),
        checkpoint_id: "cp-3".into(),
        checkpoint_name: "实验小学东门".into(),
        method: CheckInMethod::Unspecified as i32,
        occurred_at: Some(to_proto(monday_9am())),
        actor: Some(Actor { subject: "civicgrid-patrol".into(), role: Role::Admin as i32, ..Default::default() }),
        ..Default::default()
    }
}

/// `presence-daily` of the test county for `date`.
pub fn presence_daily(date: &str, members: i64, online: i64) -> PatrolEvent {
    PatrolEvent {
        fact: "presence-daily".into(),
        region: Some(civicgrid_proto::v1::RegionPath {
            city: path().city,
            county: COUNTY.into(),
            ..Default::default()
        }),
        date: date.into(),
        members,
        online,
        online_rate: if members == 0 { 0.0 } else { online as f64 / members as f64 },
        occurred_at: Some(to_proto(monday_9am())),
        actor: Some(Actor { subject: "civicgrid-patrol".into(), role: Role::Admin as i32, ..Default::default() }),
        ..Default::default()
    }
}

pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
