//! SendPositions: a client stream of batches from a device that cannot speak NATS, through the
//! same ingest as the feed; every batch is stored before the next is read, so the answer
//! counts only what is stored.

use civicgrid_kit::{auth::principal, grpc::invalid_field, storage::store_status};
use civicgrid_proto::v1::{PositionBatch, PositionSummary, RejectedCount, Role};
use tonic::{Request, Response, Status, Streaming};

use super::{Answer, PatrolApi};
use crate::engine::ingest::Summary;

/// The most fixes in one batch.
pub const MAX_BATCH: usize = 1_000;

pub(super) async fn send(api: &PatrolApi, request: Request<Streaming<PositionBatch>>) -> Answer<PositionSummary> {
    let caller = principal(&request)?;
    let mut stream = request.into_inner();
    let mut total = Summary::default();
    while let Some(batch) = stream.message().await? {
        if batch.fixes.len() > MAX_BATCH {
            return Err(invalid_field("fixes", "at most 1000 fixes a batch"));
        }
        // An unscoped administrator (a device gateway) sends anyone's; everyone else their own.
        let gateway = caller.role == Role::Admin && caller.region_scope.is_empty();
        if !gateway && let Some(i) = batch.fixes.iter().position(|f| f.member_id != caller.subject) {
            return Err(Status::permission_denied(format!(
                "fixes[{i}].member_id: a member sends only their own positions"
            )));
        }
        let summary = api.engine.ingest(&batch.fixes).await.map_err(|e| store_status("storing positions", e))?;
        total.add(&summary);
    }
    Ok(Response::new(PositionSummary {
        accepted: i64::try_from(total.accepted).unwrap_or(i64::MAX),
        rejected: total
            .rejected
            .iter()
            .map(|(reason, n)| RejectedCount {
                reason: (*reason).to_string(),
                count: i64::try_from(*n).unwrap_or(i64::MAX),
            })
            .collect(),
    }))
}
