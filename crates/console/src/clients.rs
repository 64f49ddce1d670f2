//! gRPC clients of the services the console reads and acts through.

use civicgrid_proto::v1::{
    dispatch_service_client::DispatchServiceClient, intake_service_client::IntakeServiceClient,
    mediation_service_client::MediationServiceClient, patrol_service_client::PatrolServiceClient,
};
use tonic::transport::{Channel, Endpoint};

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

/// A service URL that is not a valid endpoint.
#[derive(Debug, thiserror::Error)]
#[error("configuration: `{key}` = `{url}` is not a valid URL: {reason}")]
pub struct BadUrl {
    /// The setting.
    pub key: &'static str,
    /// Its value.
    pub url: String,
    /// Why.
    pub reason: String,
}

fn channel(key: &'static str, url: &str) -> Result<Channel, BadUrl> {
    let endpoint = Endpoint::from_shared(url.to_string())
        .map_err(|e| BadUrl { key, url: url.into(), reason: e.to_string() })?
        .tcp_nodelay(true)
        .connect_timeout(std::time::Duration::from_secs(3))
        .timeout(std::time::Duration::from_secs(10));
    Ok(endpoint.connect_lazy())
}

impl Clients {
    /// Clients of the services at the given URLs (`http://host:port`).
    pub fn lazy(s: &crate::ConsoleSection) -> Result<Clients, BadUrl> {
        Ok(Clients {
            intake: IntakeServiceClient::new(channel("console.intake_url", &s.intake_url)?),
            dispatch: DispatchServiceClient::new(channel("console.dispatch_url", &s.dispatch_url)?),
            mediation: MediationServiceClient::new(channel("console.mediation_url", &s.mediation_url)?),
            patrol: PatrolServiceClient::new(channel("console.patrol_url", &s.patrol_url)?),
        })
    }
}
