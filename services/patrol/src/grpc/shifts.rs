//! Shifts (work in progress).

use civicgrid_proto::v1::{
    CheckInRequest, GetShiftRequest, ListShiftsRequest, ListShiftsResponse, ScheduleShiftRequest, Shift,
    ShiftReasonRequest, ShiftRequest,
};
use tonic::{Request, Status};

use super::{Answer, PatrolApi};

pub(super) async fn schedule(_: &PatrolApi, _: Request<ScheduleShiftRequest>) -> Answer<Shift> {
    Err(Status::unimplemented("soon"))
}
pub(super) async fn cancel(_: &PatrolApi, _: Request<ShiftReasonRequest>) -> Answer<Shift> {
    Err(Status::unimplemented("soon"))
}
pub(super) async fn start(_: &PatrolApi, _: Request<ShiftRequest>) -> Answer<Shift> {
    Err(Status::unimplemented("soon"))
}
pub(super) async fn end(_: &PatrolApi, _: Request<ShiftRequest>) -> Answer<Shift> {
    Err(Status::unimplemented("soon"))
}
pub(super) async fn get(_: &PatrolApi, _: Request<GetShiftRequest>) -> Answer<Shift> {
    Err(Status::unimplemented("soon"))
}
pub(super) async fn list(_: &PatrolApi, _: Request<ListShiftsRequest>) -> Answer<ListShiftsResponse> {
    Err(Status::unimplemented("soon"))
}
pub(super) async fn check_in(_: &PatrolApi, _: Request<CheckInRequest>) -> Answer<Shift> {
    Err(Status::unimplemented("soon"))
}
