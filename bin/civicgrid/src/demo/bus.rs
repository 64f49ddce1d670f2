//! The live line `civicgrid up` prints for every message on the bus.

use civicgrid_kit::Shutdown;
use civicgrid_proto::v1::{Channel, EventMerged, EventReported, MediationCaseEvent, NotifyEvent, TaskEvent};
use futures::StreamExt;
use prost::Message;

/// Prints one line for every message published under `civicgrid.>`.
pub async fn tail_bus(url: String, shutdown: Shutdown) {
    let Ok(client) = super::connect_nats(&url).await else {
        println!("[bus] cannot connect to {url} to show messages");
        return;
    };
    let Ok(mut sub) = client.subscribe("civicgrid.>").await else { return };
    loop {
        let msg = tokio::select! {
            m = sub.next() => m,
            _ = shutdown.cancelled() => return,
        };
        let Some(msg) = msg else { return };
        let ce_type =
            msg.headers.as_ref().and_then(|h| h.get("ce-type")).map(|v| v.as_str().to_string()).unwrap_or_default();
        let summary = match ce_type.as_str() {
            "civicgrid.v1.EventReported" => EventReported::decode(msg.payload.clone())
                .ok()
                .and_then(|e| e.event)
                .map(|e| format!("{} item {} status REPORTED", e.tracking_number, e.item_code)),
            "civicgrid.v1.EventMerged" => EventMerged::decode(msg.payload.clone())
                .ok()
                .map(|e| format!("{} now has {} reports", e.tracking_number, e.report_count)),
            "civicgrid.v1.TaskEvent" => TaskEvent::decode(msg.payload.clone())
                .ok()
                .map(|t| format!("task {} of event {} -> {}", t.task_id, t.event_id, t.fact)),
            "civicgrid.v1.MediationCaseEvent" => MediationCaseEvent::decode(msg.payload.clone()).ok().map(|c| {
                let who = if c.mediator_id.is_empty() { c.organisation_id } else { c.mediator_id };
                format!("case {} ({who}) -> {}", c.case_number, c.fact)
            }),
            "civicgrid.v1.NotifyEvent" => NotifyEvent::decode(msg.payload.clone()).ok().map(|n| {
                let channel = Channel::try_from(n.channel).map(|c| c.as_str_name()).unwrap_or("?");
                let outcome =
                    if n.fact == "notify-delivered" { "delivered".to_string() } else { format!("FAILED: {}", n.error) };
                format!("notice about {} -> {} by {channel}: {outcome}", n.source_fact, n.recipient)
            }),
            _ => None,
        };
        println!("[bus] {} {}", msg.subject, summary.unwrap_or(ce_type));
    }
}
