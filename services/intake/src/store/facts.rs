//! What a submission publishes and answers: `event-reported` for a new event, `event-merged` for
//! a report merged into an open one. Built here for both ways of writing a submission, written
//! to the outbox in the transaction that stores what they describe.

use civicgrid_kit::{auth::Principal, bus::Envelope};
use civicgrid_proto::v1::{EventMerged, EventReport, EventReported, SubmitEventResponse};
use uuid::Uuid;

use super::events::{EventRow, MergedInto};
use civicgrid_contracts::intake::{EVENT_MERGED, EVENT_REPORTED};

/// The answer to a submission whose `report` went into event `event_id`.
fn answer(event_id: Uuid, tracking_number: &str, merged: bool, report: &EventReport) -> SubmitEventResponse {
    SubmitEventResponse {
        event_id: event_id.to_string(),
        tracking_number: tracking_number.to_string(),
        merged,
        report_id: report.report_id.clone(),
        reporter_id: report.reporter_id.clone(),
    }
}

/// The `event-reported` message and the answer for a new event.
pub(super) fn reported_event(
    row: &EventRow,
    report: EventReport,
    caller: &Principal,
) -> (Envelope, SubmitEventResponse) {
    let response = answer(row.id, &row.tracking_number, false, &report);
    let reported =
        EventReported { event: Some(row.clone().into_event(vec![report], vec![])), actor: Some(caller.actor()) };
    let envelope = Envelope::fact(&EVENT_REPORTED, &row.region(), row.id, &reported);
    (envelope, response)
}

/// The `event-merged` message and the answer for a report merged into `into`.
pub(super) fn merged_event(
    report: EventReport,
    caller: &Principal,
    into: MergedInto,
) -> (Envelope, SubmitEventResponse) {
    let response = answer(into.event_id, &into.tracking_number, true, &report);
    let merged = EventMerged {
        event_id: into.event_id.to_string(),
        tracking_number: into.tracking_number,
        report: Some(report),
        report_count: into.report_count,
        version: into.version,
        region: Some(into.region.clone()),
        actor: Some(caller.actor()),
    };
    let envelope = Envelope::fact(&EVENT_MERGED, &into.region, into.event_id, &merged);
    (envelope, response)
}
