//! gRPC clients of the services the console reads and acts through.

use civicgrid_kit::{config::ConfigError, grpc::tls::channel};
use civicgrid_proto::v1::{
    dispatch_service_client::DispatchServiceClient, intake_service_client::IntakeServiceClient,
    mediation_service_client::MediationServiceClient, patrol_service_client::PatrolServiceClient,
};
use tonic::transport::Channel;

/// One client per service. Channels connect lazily, so the console starts before the
/// services do and reconnects when one restarts.
#[derive(Clone)]
pub struct Clients {
    /// intake: events by tracking number.
    pub intake: IntakeServiceClient<Channel>,
    /// dispatch: triage by hand, tasks, KPIs.
    pub dispatch: DispatchServiceClient<Channel>,
    /// mediation: its figures.
    pub mediation: MediationServiceClient<Channel>,
    /// patrol: coverage and presence.
    pub patrol: PatrolServiceClient<Channel>,
}

impl Clients {
    /// Clients of the services at the given URLs (`http://host:port`, or `https://` with
    /// `console.tls_ca_file`).
    pub fn lazy(s: &crate::ConsoleSection) -> Result<Clients, ConfigError> {
        let tls = s.grpc();
        Ok(Clients {
            intake: IntakeServiceClient::new(channel("console.intake_url", &s.intake_url, &tls)?),
            dispatch: DispatchServiceClient::new(channel("console.dispatch_url", &s.dispatch_url, &tls)?),
            mediation: MediationServiceClient::new(channel("console.mediation_url", &s.mediation_url, &tls)?),
            patrol: PatrolServiceClient::new(channel("console.patrol_url", &s.patrol_url, &tls)?),
        })
    }
}
