//! notify's own facts (`notify-delivered`, `notify-failed`) as outbox rows, written in the
//! transaction of the change they report; the relay publishes them on `CIVICGRID_NOTIFY`.

use chrono::{DateTime, Utc};
use civicgrid_contracts::notify::NOTIFY_FACTS;
use civicgrid_kit::{
    bus::{Envelope, OutboxBatch, outbox::OutboxRow},
    time::to_proto,
};
use civicgrid_proto::v1::{NotifyEvent, RegionPath};
use sqlx::PgConnection;

use super::{StoreError, deliveries::DeliveryRow};
use crate::SERVICE;

/// The outbox row of a notify fact.
pub(crate) fn notify_row(event: &NotifyEvent, region: &RegionPath, at: DateTime<Utc>) -> OutboxRow {
    let envelope = Envelope::family(&NOTIFY_FACTS, &event.fact, region, &event.delivery_id, event);
    OutboxRow::new(SERVICE, &envelope, at)
}

/// The outbox row of `fact` (`notify-delivered` or `notify-failed`, with `error`) about
/// delivery `d`, at `now`.
pub(crate) fn verdict_row(d: &DeliveryRow, fact: &str, error: &str, now: DateTime<Utc>) -> OutboxRow {
    let event = NotifyEvent {
        fact: fact.into(),
        delivery_id: d.id.to_string(),
        notification_id: d.notification_id.map(|n| n.to_string()).unwrap_or_default(),
        recipient: d.recipient.clone(),
        channel: d.channel as i32,
        endpoint_id: d.endpoint_id.map(|e| e.to_string()).unwrap_or_default(),
        source_event_id: d.source_event_id.clone(),
        source_fact: d.fact.clone(),
        attempts: d.attempts,
        error: error.into(),
        region: Some(d.region.clone()),
        occurred_at: Some(to_proto(now)),
    };
    notify_row(&event, &d.region, now)
}

/// Writes `rows` to the outbox in `tx`, in order.
pub(crate) async fn insert(tx: &mut PgConnection, rows: &[OutboxRow]) -> Result<(), StoreError> {
    rows.iter().cloned().collect::<OutboxBatch>().insert(tx).await?;
    Ok(())
}
