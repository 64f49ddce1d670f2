//! Reports (work in progress).

use civicgrid_proto::v1::{
    Coverage, Finding, GetCoverageRequest, GetPresenceRequest, GetTrackRequest, PresenceReport, ReportFindingRequest,
    Track,
};
use tonic::{Request, Status};

use super::{Answer, PatrolApi};

pub(super) async fn report_finding(_: &PatrolApi, _: Request<ReportFindingRequest>) -> Answer<Finding> {
    Err(Status::unimplemented("soon"))
}
pub(super) async fn get_track(_: &PatrolApi, _: Request<GetTrackRequest>) -> Answer<Track> {
    Err(Status::unimplemented("soon"))
}
pub(super) async fn get_coverage(_: &PatrolApi, _: Request<GetCoverageRequest>) -> Answer<Coverage> {
    Err(Status::unimplemented("soon"))
}
pub(super) async fn get_presence(_: &PatrolApi, _: Request<GetPresenceRequest>) -> Answer<PresenceReport> {
    Err(Status::unimplemented("soon"))
}
