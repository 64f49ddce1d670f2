//! What every part of the running service shares: the pool, the outbox signal, the clock,
//! the settings, the metrics and intake's client.

use civicgrid_kit::{bus::OutboxSignal, clock::Clock};
use civicgrid_proto::v1::intake_service_client::IntakeServiceClient;
use sqlx::PgPool;
use tonic::transport::Channel;

use crate::{config::PatrolSettings, metrics::PatrolMetrics};

/// The shared parts.
pub struct Core {
    /// The pool, confined to patrol's schema.
    pub pool: PgPool,
    /// Wakes the outbox relay after a commit that wrote facts.
    pub signal: OutboxSignal,
    /// The time source.
    pub clock: Clock,
    /// `[patrol]`.
    pub settings: PatrolSettings,
    /// patrol's own metrics.
    pub metrics: PatrolMetrics,
    /// intake's gRPC client (findings).
    pub intake: IntakeServiceClient<Channel>,
}
