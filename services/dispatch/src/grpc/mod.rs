//! `civicgrid.v1.DispatchService`: validate → lifecycle (in the store's transaction) → answer;
//! errors mapped to gRPC status here. The handlers live by area — [`tasks`] (listings, one
//! task, the change feed), [`actions`] (the lifecycle), [`kpis`] (assessment), [`reference`]
//! (reference data) — and the trait implementation below only routes each call to its area.

mod actions;
mod kpis;
mod reference;
mod tasks;

use std::{sync::Arc, time::Duration};

use civicgrid_kit::{
    clock::Clock,
    grpc::watch::{Follow, WatchStream},
};
use civicgrid_proto::v1::{
    ApproveExtensionRequest, GetGridWorkerKpisRequest, GetKpisRequest, GetReferenceVersionsRequest, GetTaskRequest,
    GridWorkerKpis, Kpis, ListTasksRequest, ListTasksResponse, LoadReferenceDataRequest, ReferenceVersions,
    RequestExtensionRequest, ResolveRequest, Task, TaskChange, TaskReasonRequest, TaskRequest, TriageRequest,
    WatchTasksRequest, dispatch_service_server::DispatchService,
};
use tonic::{Request, Response, Status};

use crate::store::Store;

/// The gRPC handlers.
pub struct DispatchApi {
    store: Arc<Store>,
    clock: Clock,
    /// How WatchTasks follows the change feed (and ends when the service stops taking calls).
    follow: Follow,
}

impl DispatchApi {
    /// Handlers over `store`; WatchTasks polls every `watch_poll` and ends when `stopping` is
    /// cancelled, so a watching client cannot hold up a shutdown.
    pub fn new(store: Arc<Store>, clock: Clock, watch_poll: Duration, stopping: civicgrid_kit::Shutdown) -> Self {
        let follow = Follow { wake: store.change_signal(), poll: watch_poll, stopping, batch: 200 };
        DispatchApi { store, clock, follow }
    }
}

#[tonic::async_trait]
impl DispatchService for DispatchApi {
    async fn list_tasks(&self, request: Request<ListTasksRequest>) -> Result<Response<ListTasksResponse>, Status> {
        tasks::list_tasks(self, request).await
    }

    async fn get_task(&self, request: Request<GetTaskRequest>) -> Result<Response<Task>, Status> {
        tasks::get_task(self, request).await
    }

    type WatchTasksStream = WatchStream<TaskChange>;

    async fn watch_tasks(
        &self,
        request: Request<WatchTasksRequest>,
    ) -> Result<Response<Self::WatchTasksStream>, Status> {
        tasks::watch_tasks(self, request).await
    }

    async fn triage(&self, request: Request<TriageRequest>) -> Result<Response<Task>, Status> {
        actions::triage(self, request).await
    }

    async fn dismiss(&self, request: Request<TaskReasonRequest>) -> Result<Response<Task>, Status> {
        actions::dismiss(self, request).await
    }

    async fn sign_for(&self, request: Request<TaskRequest>) -> Result<Response<Task>, Status> {
        actions::sign_for(self, request).await
    }

    async fn return_task(&self, request: Request<TaskReasonRequest>) -> Result<Response<Task>, Status> {
        actions::return_task(self, request).await
    }

    async fn request_extension(&self, request: Request<RequestExtensionRequest>) -> Result<Response<Task>, Status> {
        actions::request_extension(self, request).await
    }

    async fn approve_extension(&self, request: Request<ApproveExtensionRequest>) -> Result<Response<Task>, Status> {
        actions::approve_extension(self, request).await
    }

    async fn refuse_extension(&self, request: Request<TaskReasonRequest>) -> Result<Response<Task>, Status> {
        actions::refuse_extension(self, request).await
    }

    async fn suspend(&self, request: Request<TaskReasonRequest>) -> Result<Response<Task>, Status> {
        actions::suspend(self, request).await
    }

    async fn resume(&self, request: Request<TaskRequest>) -> Result<Response<Task>, Status> {
        actions::resume(self, request).await
    }

    async fn resolve(&self, request: Request<ResolveRequest>) -> Result<Response<Task>, Status> {
        actions::resolve(self, request).await
    }

    async fn verify(&self, request: Request<TaskRequest>) -> Result<Response<Task>, Status> {
        actions::verify(self, request).await
    }

    async fn reject_verification(&self, request: Request<TaskReasonRequest>) -> Result<Response<Task>, Status> {
        actions::reject_verification(self, request).await
    }

    async fn close(&self, request: Request<TaskRequest>) -> Result<Response<Task>, Status> {
        actions::close(self, request).await
    }

    async fn get_kpis(&self, request: Request<GetKpisRequest>) -> Result<Response<Kpis>, Status> {
        kpis::get_kpis(self, request).await
    }

    async fn get_grid_worker_kpis(
        &self,
        request: Request<GetGridWorkerKpisRequest>,
    ) -> Result<Response<GridWorkerKpis>, Status> {
        kpis::get_grid_worker_kpis(self, request).await
    }

    async fn get_reference_versions(
        &self,
        request: Request<GetReferenceVersionsRequest>,
    ) -> Result<Response<ReferenceVersions>, Status> {
        reference::get_reference_versions(self, request).await
    }

    async fn load_reference_data(
        &self,
        request: Request<LoadReferenceDataRequest>,
    ) -> Result<Response<ReferenceVersions>, Status> {
        reference::load_reference_data(self, request).await
    }
}
