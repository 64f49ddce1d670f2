//! Removing a webhook endpoint: it is deactivated, and its waiting deliveries fail and are
//! published as `notify-failed`, in one transaction.

use chrono::{DateTime, Utc};
use civicgrid_kit::bus::outbox::OutboxRow;
use uuid::Uuid;

use crate::store::{Store, StoreError, deliveries, endpoints, outbox};

impl Store {
    /// Deactivates endpoint `id`; its waiting deliveries fail ("endpoint removed") and, like
    /// every delivery given up, are published as `notify-failed`. A delivery the worker has
    /// claimed is left to it: its call may succeed, and if not, the worker gives it up on its
    /// next claim because the endpoint is inactive, so each delivery gets one verdict.
    pub async fn delete_webhook(&self, id: Uuid, now: DateTime<Utc>) -> Result<(), StoreError> {
        const WHY: &str = "endpoint removed";
        let mut tx = self.pool.begin().await?;
        endpoints::deactivate(&mut tx, id).await?;
        let failed = deliveries::fail_waiting_for(&mut tx, id, WHY).await?;
        let rows: Vec<OutboxRow> = failed.iter().map(|d| outbox::verdict_row(d, "notify-failed", WHY, now)).collect();
        outbox::insert(&mut tx, &rows).await?;
        tx.commit().await?;
        if !rows.is_empty() {
            self.signal.wake();
        }
        Ok(())
    }
}
