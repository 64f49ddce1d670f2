//! `GET /api/track/{number}`: an event's whole history across the services, as a timeline.

use axum::{
    Json,
    extract::{Path, State},
};
use chrono::{DateTime, Utc};
use civicgrid_proto::v1::{GetEventByTrackingNumberRequest, ListTasksRequest};
use serde_json::{Value, json};

use super::{ApiError, AppState, Caller};

fn time(t: Option<&prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::from_timestamp(t.seconds, t.nanos.clamp(0, 999_999_999) as u32))
}

/// The event as intake has it (intake decides who may read it), its tasks as dispatch has them,
/// and every fact the bus carried about its tracking number (intake, dispatch, mediation,
/// patrol), oldest first.
pub async fn track(
    State(app): State<AppState>,
    caller: Caller,
    Path(number): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let number = number.trim().to_string();
    if number.is_empty() || number.len() > 64 {
        return Err(ApiError::bad("number", "a tracking number such as 411602-20261206-000123"));
    }
    let mut intake = app.clients.intake.clone();
    let event = intake
        .get_event_by_tracking_number(
            caller.request(GetEventByTrackingNumberRequest { tracking_number: number.clone(), ..Default::default() }),
        )
        .await?
        .into_inner();
    let mut dispatch = app.clients.dispatch.clone();
    let tasks = dispatch
        .list_tasks(caller.request(ListTasksRequest {
            event_id: event.id.clone(),
            page_size: 50,
            ..Default::default()
        }))
        .await
        .map(|r| r.into_inner().tasks)
        .unwrap_or_default();
    let mut steps: Vec<Value> = app
        .state
        .read()
        .await
        .steps
        .get(&number)
        .map(|s| s.iter().map(|p| serde_json::to_value(p).unwrap_or(Value::Null)).collect())
        .unwrap_or_default();
    // Before the console saw the report (it replays the stream, so only if the stream no
    // longer holds it), intake's own record still dates it.
    if !steps.iter().any(|s| s["fact"] == "event-reported") {
        steps.insert(
            0,
            json!({ "at": time(event.reported_at.as_ref()), "service": "intake", "fact": "event-reported", "detail": event.item_code }),
        );
    }
    steps.sort_by(|a, b| a["at"].as_str().cmp(&b["at"].as_str()));
    let location = event.location.clone().unwrap_or_default();
    Ok(Json(json!({
        "event": {
            "id": event.id, "tracking_number": event.tracking_number, "item_code": event.item_code,
            "description": event.description, "status": event.status().as_str_name(),
            "source": event.source().as_str_name(), "reported_at": time(event.reported_at.as_ref()),
            "grid_code": location.grid_code, "address": location.address, "reports": event.reports.len(),
        },
        "tasks": tasks.iter().map(|t| json!({
            "id": t.id, "department_id": t.department_id, "status": t.status().as_str_name(),
            "colour": t.colour().as_str_name(), "escalated": t.escalated, "rework_count": t.rework_count,
            "lead": t.lead, "result": t.result,
        })).collect::<Vec<_>>(),
        "timeline": steps,
    })))
}
