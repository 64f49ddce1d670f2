//! `civicgrid.v1.MediationService`: role → validate (every violation at once) → scope → use
//! case; errors become gRPC statuses here. The handlers live by area — [`cases`] (opening,
//! amending, reading), [`actions`] (the workflow), [`reports`] (statistics, the agreement
//! document), [`reference`] (organisations, mediators, reference data) — and the trait
//! implementation below only routes each call to its area.

mod actions;
mod cases;
mod reference;
mod reports;
mod validate;

use std::sync::Arc;

use civicgrid_kit::{clock::Clock, grpc::invalid_field, storage::store_status};
use civicgrid_proto::v1::{
    AgreementDocument, AmendCaseRequest, ApplyConfirmationRequest, AssignMediatorRequest, CaseReasonRequest,
    CaseRequest, ExtendMediationRequest, GetAgreementDocumentRequest, GetCaseRequest,
    GetMediationReferenceVersionsRequest, GetMediationStatsRequest, ListCasesRequest, ListCasesResponse,
    ListMediatorsRequest, ListMediatorsResponse, ListOrganisationsRequest, ListOrganisationsResponse,
    LoadMediationReferenceDataRequest, MediationCase, MediationReferenceVersions, MediationStats, OpenCaseRequest,
    RecordAgreementRequest, RecordConfirmationRequest, RecordFollowUpRequest, RecordSessionRequest,
    ScheduleSessionRequest, SetRiskRequest, TransferCaseRequest, mediation_service_server::MediationService,
};
use tonic::{Request, Response, Status};

use crate::{domain::case::CaseError, store::Store, usecase::ActError};

/// The gRPC handlers.
pub struct MediationApi {
    store: Arc<Store>,
    clock: Clock,
}

impl MediationApi {
    /// Handlers over `store`, on `clock`.
    pub fn new(store: Arc<Store>, clock: Clock) -> Self {
        MediationApi { store, clock }
    }
}

/// The gRPC status of a change not made.
fn act_status(e: ActError) -> Status {
    match e {
        ActError::NotFound => Status::not_found("no such case"),
        ActError::Denied(why) => Status::permission_denied(why),
        ActError::Case(e @ CaseError::NotAllowed { .. }) => Status::permission_denied(e.to_string()),
        ActError::Case(e @ CaseError::NotNow { .. }) => Status::failed_precondition(e.to_string()),
        ActError::Case(CaseError::Invalid { field, problem }) => invalid_field(field, &problem),
        ActError::Store(e) => store_status("changing a case", e),
    }
}

type Answer<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl MediationService for MediationApi {
    async fn open_case(&self, request: Request<OpenCaseRequest>) -> Answer<MediationCase> {
        cases::open_case(self, request).await
    }

    async fn amend_case(&self, request: Request<AmendCaseRequest>) -> Answer<MediationCase> {
        cases::amend_case(self, request).await
    }

    async fn get_case(&self, request: Request<GetCaseRequest>) -> Answer<MediationCase> {
        cases::get_case(self, request).await
    }

    async fn list_cases(&self, request: Request<ListCasesRequest>) -> Answer<ListCasesResponse> {
        cases::list_cases(self, request).await
    }

    async fn accept_case(&self, request: Request<CaseRequest>) -> Answer<MediationCase> {
        actions::accept_case(self, request).await
    }

    async fn refuse_case(&self, request: Request<CaseReasonRequest>) -> Answer<MediationCase> {
        actions::refuse_case(self, request).await
    }

    async fn assign_mediator(&self, request: Request<AssignMediatorRequest>) -> Answer<MediationCase> {
        actions::assign_mediator(self, request).await
    }

    async fn set_risk(&self, request: Request<SetRiskRequest>) -> Answer<MediationCase> {
        actions::set_risk(self, request).await
    }

    async fn schedule_session(&self, request: Request<ScheduleSessionRequest>) -> Answer<MediationCase> {
        actions::schedule_session(self, request).await
    }

    async fn record_session(&self, request: Request<RecordSessionRequest>) -> Answer<MediationCase> {
        actions::record_session(self, request).await
    }

    async fn extend_mediation(&self, request: Request<ExtendMediationRequest>) -> Answer<MediationCase> {
        actions::extend_mediation(self, request).await
    }

    async fn record_agreement(&self, request: Request<RecordAgreementRequest>) -> Answer<MediationCase> {
        actions::record_agreement(self, request).await
    }

    async fn record_no_agreement(&self, request: Request<CaseReasonRequest>) -> Answer<MediationCase> {
        actions::record_no_agreement(self, request).await
    }

    async fn withdraw_case(&self, request: Request<CaseReasonRequest>) -> Answer<MediationCase> {
        actions::withdraw_case(self, request).await
    }

    async fn transfer_case(&self, request: Request<TransferCaseRequest>) -> Answer<MediationCase> {
        actions::transfer_case(self, request).await
    }

    async fn apply_confirmation(&self, request: Request<ApplyConfirmationRequest>) -> Answer<MediationCase> {
        actions::apply_confirmation(self, request).await
    }

    async fn record_confirmation(&self, request: Request<RecordConfirmationRequest>) -> Answer<MediationCase> {
        actions::record_confirmation(self, request).await
    }

    async fn record_follow_up(&self, request: Request<RecordFollowUpRequest>) -> Answer<MediationCase> {
        actions::record_follow_up(self, request).await
    }

    async fn close_case(&self, request: Request<CaseRequest>) -> Answer<MediationCase> {
        actions::close_case(self, request).await
    }

    async fn get_agreement_document(&self, request: Request<GetAgreementDocumentRequest>) -> Answer<AgreementDocument> {
        reports::get_agreement_document(self, request).await
    }

    async fn get_stats(&self, request: Request<GetMediationStatsRequest>) -> Answer<MediationStats> {
        reports::get_stats(self, request).await
    }

    async fn list_organisations(
        &self,
        request: Request<ListOrganisationsRequest>,
    ) -> Answer<ListOrganisationsResponse> {
        reference::list_organisations(self, request).await
    }

    async fn list_mediators(&self, request: Request<ListMediatorsRequest>) -> Answer<ListMediatorsResponse> {
        reference::list_mediators(self, request).await
    }

    async fn get_mediation_reference_versions(
        &self,
        request: Request<GetMediationReferenceVersionsRequest>,
    ) -> Answer<MediationReferenceVersions> {
        reference::get_versions(self, request).await
    }

    async fn load_mediation_reference_data(
        &self,
        request: Request<LoadMediationReferenceDataRequest>,
    ) -> Answer<MediationReferenceVersions> {
        reference::load(self, request).await
    }
}
