//! SendPositions (work in progress).

use civicgrid_proto::v1::{PositionBatch, PositionSummary};
use tonic::{Request, Status, Streaming};

use super::{Answer, PatrolApi};

pub(super) async fn send(_: &PatrolApi, _: Request<Streaming<PositionBatch>>) -> Answer<PositionSummary> {
    Err(Status::unimplemented("soon"))
}
