//! Which tasks a reported event becomes ([`plan_tasks`]): routed by its catalog item and
//! region to a lead department (and assisting ones), each with its sign-for clock running, or
//! one task waiting for triage when no route exists. Pure: the caller stores the rows and
//! records and publishes their facts.

use chrono::{DateTime, Utc};
use civicgrid_proto::v1::{self as pb, EventReported, Role};
use sqlx::types::Json;
use uuid::Uuid;

use crate::{
    domain::{
        kpi::RecordedFact,
        routing::{self, WhistleLevel},
        sla::StageClock,
    },
    reference::ReferenceData,
    tasks::{Clocks, TaskRow},
};

/// A task to create, with the fact that announces it.
#[derive(Debug, Clone)]
pub struct PlannedTask {
    /// The new row, its colour and next ticker visit computed.
    pub row: TaskRow,
    /// `task-assigned` or `task-awaiting-triage`.
    pub fact: &'static str,
    /// What assessment records of its creation.
    pub recorded: Vec<RecordedFact>,
}

/// The tasks of new event `event` (id `event_id`) reported in `reported`, created at `now`:
/// the lead task first, then the assisting ones. `grace` is the share of a limit an overdue
/// task may run over before it escalates.
pub fn plan_tasks(
    refdata: &ReferenceData,
    event_id: Uuid,
    reported: &EventReported,
    event: &pb::Event,
    now: DateTime<Utc>,
    grace: f64,
) -> Vec<PlannedTask> {
    let cal = &refdata.calendar.calendar;
    let location = event.location.clone().unwrap_or_default();
    let region = location.region.clone().unwrap_or_default();
    let item = refdata.catalog.item(&event.item_code);
    let route = item.and_then(|i| routing::route(&i.route_rule(), &region, refdata.departments.directory()));
    let whistle = item.map(|i| i.whistle).unwrap_or(WhistleLevel::Routine);
    let reporter = reported.actor.clone().unwrap_or_default();
    let grid_worker_id = (reporter.role == Role::GridWorker as i32).then(|| reporter.subject.clone());

    // (department, lead) of each task; no route leaves one task for the triage queue,
    // coordinated by the township (or the county when the location names no township).
    let mut plan: Vec<(Option<String>, bool)> = Vec::new();
    let center_region = match &route {
        Some(r) => {
            plan.push((Some(r.lead.clone()), true));
            plan.extend(r.assisting.iter().map(|d| (Some(d.clone()), false)));
            r.center_region.clone()
        }
        None => {
            plan.push((None, true));
            if region.township.is_empty() { region.county.clone() } else { region.township.clone() }
        }
    };
    plan.into_iter()
        .map(|(department, lead)| {
            let mut row = TaskRow {
                id: Uuid::now_v7(),
                event_id,
                tracking_number: event.tracking_number.clone(),
                item_code: event.item_code.clone(),
                city: region.city.clone(),
                county: region.county.clone(),
                township: region.township.clone(),
                village: region.village.clone(),
                grid_code: (!location.grid_code.is_empty()).then(|| location.grid_code.clone()),
                description: event.description.clone(),
                address: location.address.clone(),
                department_id: department.clone(),
                state: if department.is_some() { "assigned" } else { "awaiting_triage" }.into(),
                resume_to: None,
                lead,
                whistle: whistle.as_str().into(),
                center_region: center_region.clone(),
                rework_count: 0,
                returned_by: vec![],
                extension_requested: None,
                clocks: Json(Clocks::default()),
                colour: 0,
                escalated: false,
                escalated_to: None,
                next_change_at: None,
                result: None,
                result_evidence_urls: vec![],
                version: 1,
                created_at: now,
                updated_at: now,
            };
            let mut recorded = vec![RecordedFact::Reported { grid_worker_id: grid_worker_id.clone() }];
            let fact = match (&department, item) {
                (Some(d), Some(item)) => {
                    row.clocks.0.sign_for = Some(StageClock::new(now, item.sign_for));
                    let sign_due = row.clocks.0.sign_for.as_ref().and_then(|c| c.deadline(cal));
                    recorded.push(RecordedFact::Assigned { department_id: d.clone(), sign_due });
                    "task-assigned"
                }
                _ => "task-awaiting-triage",
            };
            row.refresh_warning(cal, now, grace);
            PlannedTask { row, fact, recorded }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use civicgrid_kit::region;
    use civicgrid_proto::v1::{Actor, Event, Location, RegionPath};

    use super::*;

    fn refdata() -> ReferenceData {
        ReferenceData::shipped().unwrap_or_else(|e| panic!("{e}"))
    }

    fn reported(item_code: &str, region: RegionPath, reporter: Role) -> (EventReported, Event) {
        let event = Event {
            id: Uuid::now_v7().to_string(),
            tracking_number: "T-1".into(),
            item_code: item_code.into(),
            description: "a report".into(),
            location: Some(Location {
                region: Some(region),
                grid_code: "411602001001001".into(),
                address: "somewhere".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let actor = Actor { subject: "gw-1".into(), role: reporter as i32, ..Default::default() };
        (EventReported { event: Some(event.clone()), actor: Some(actor) }, event)
    }

    fn village() -> RegionPath {
        region::path_of("411602001001").unwrap()
    }

    #[test]
    fn a_routed_event_becomes_a_lead_task_and_assisting_ones() {
        let d = refdata();
        let item = d.catalog.items().iter().find(|i| !i.assisting_kinds.is_empty()).unwrap();
        let (r, e) = reported(&item.code, village(), Role::GridWorker);
        let now = Utc::now();
        let planned = plan_tasks(&d, Uuid::now_v7(), &r, &e, now, 0.5);
        assert_eq!(planned.len(), 1 + item.assisting_kinds.len());
        assert!(planned[0].row.lead);
        assert!(planned[1..].iter().all(|p| !p.row.lead));
        for p in &planned {
            assert_eq!(p.fact, "task-assigned");
            assert_eq!(p.row.state, "assigned");
            assert!(p.row.department_id.is_some());
            assert_eq!(p.row.whistle, item.whistle.as_str());
            assert!(p.row.clocks.0.sign_for.is_some(), "the sign-for clock runs");
            assert!(p.row.next_change_at.is_some_and(|t| t > now));
            assert_eq!(p.row.grid_code.as_deref(), Some("411602001001001"));
            assert!(matches!(
                &p.recorded[0],
                RecordedFact::Reported { grid_worker_id: Some(g) } if g == "gw-1"
            ));
            assert!(matches!(&p.recorded[1], RecordedFact::Assigned { sign_due: Some(_), .. }));
        }
    }

    #[test]
    fn an_unknown_item_waits_for_triage() {
        let d = refdata();
        let (r, e) = reported("no-such-item", village(), Role::Department);
        let planned = plan_tasks(&d, Uuid::now_v7(), &r, &e, Utc::now(), 0.5);
        assert_eq!(planned.len(), 1);
        let p = &planned[0];
        assert_eq!((p.fact, p.row.state.as_str(), p.row.lead), ("task-awaiting-triage", "awaiting_triage", true));
        assert_eq!(p.row.department_id, None);
        assert_eq!(p.row.center_region, "411602001", "the township coordinates");
        assert_eq!(p.row.next_change_at, None, "no clock runs");
        assert!(matches!(p.recorded.as_slice(), [RecordedFact::Reported { grid_worker_id: None }]));
    }

    #[test]
    fn without_a_township_the_county_coordinates_the_triage() {
        let d = refdata();
        let county = RegionPath { city: "411600".into(), county: "411602".into(), ..Default::default() };
        let (r, e) = reported("no-such-item", county, Role::GridWorker);
        let planned = plan_tasks(&d, Uuid::now_v7(), &r, &e, Utc::now(), 0.5);
        assert_eq!(planned[0].row.center_region, "411602");
    }
}
