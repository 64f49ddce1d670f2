//! The bus: NATS JetStream with CloudEvents headers, a transactional outbox and an idempotent
//! inbox consumer.
//!
//! Subjects are `civicgrid.<service>.<fact>.<city>.<county>.<township>.<village>`; each service
//! owns one stream `CIVICGRID_<SERVICE>` over `civicgrid.<service>.>`. Messages that cannot be
//! applied go to `civicgrid.deadletter.<service>.<consumer>` on stream `CIVICGRID_DEADLETTER`.
//! See `docs/events.md`.

pub mod envelope;
pub mod inbox;
pub mod outbox;

use std::time::Duration;

use async_nats::jetstream::{self, stream};
use civicgrid_proto::v1::RegionPath;

use crate::config::NatsSettings;

pub use envelope::{Envelope, Incoming};
pub use inbox::{ConsumerSpec, HandleError, Handler, run_consumer};
pub use outbox::{OutboxBatch, OutboxSignal, enqueue, spawn_relay};

/// Errors of the bus plumbing.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// Bad settings.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// Could not connect to NATS.
    #[error("nats connect: {0}")]
    Connect(#[from] async_nats::ConnectError),
    /// A JetStream call failed.
    #[error("jetstream: {0}")]
    JetStream(String),
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

/// The subject of a fact about something in `region`:
/// `civicgrid.<service>.<fact>.<city>.<county>.<township>.<village>`.
pub fn subject(service: &str, fact: &str, region: &RegionPath) -> String {
    format!("civicgrid.{service}.{fact}.{}", crate::region::subject_tokens(region))
}

/// The stream a service owns: `CIVICGRID_<SERVICE>`.
pub fn stream_name(service: &str) -> String {
    format!("CIVICGRID_{}", service.to_ascii_uppercase())
}

/// The dead-letter stream's name.
pub const DEADLETTER_STREAM: &str = "CIVICGRID_DEADLETTER";

/// The dead-letter subject of one consumer.
pub fn deadletter_subject(service: &str, consumer: &str) -> String {
    format!("civicgrid.deadletter.{service}.{consumer}")
}

/// Connects to NATS with the configured URL and credentials, trying for up to 30 s (a service
/// may start before its NATS server); once connected, the client reconnects forever.
pub async fn connect(settings: &NatsSettings, name: &str) -> Result<async_nats::Client, BusError> {
    let url = settings.require_url()?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut options = async_nats::ConnectOptions::new()
            .name(format!("civicgrid-{name}"))
            .connection_timeout(Duration::from_secs(5));
        if let Some(file) = &settings.credentials_file {
            options = options.credentials_file(file).await.map_err(|e| crate::config::ConfigError::Invalid {
                key: "nats.credentials_file",
                reason: e.to_string(),
            })?;
        }
        if let (Some(user), Some(password)) = (&settings.user, &settings.password) {
            options = options.user_and_password(user.clone(), password.clone());
        }
        match options.connect(url).await {
            Ok(client) => return Ok(client),
            Err(e) if tokio::time::Instant::now() < deadline => {
                tracing::info!(%url, error = %e, "NATS not reachable yet; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Creates (or leaves as it is) the stream of `service` and the dead-letter stream.
pub async fn ensure_streams(js: &jetstream::Context, service: &str, settings: &NatsSettings) -> Result<(), BusError> {
    let base = stream::Config {
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::Limits,
        max_age: Duration::from_secs(settings.stream_max_age_days * 86_400),
        duplicate_window: Duration::from_secs(settings.duplicate_window_secs),
        num_replicas: settings.stream_replicas.max(1),
        ..Default::default()
    };
    let wanted = [
        stream::Config {
            name: stream_name(service),
            subjects: vec![format!("civicgrid.{service}.>")],
            description: Some(format!("facts published by civicgrid {service}")),
            ..base.clone()
        },
        stream::Config {
            name: DEADLETTER_STREAM.to_string(),
            subjects: vec!["civicgrid.deadletter.>".to_string()],
            description: Some("messages civicgrid consumers could not apply, with the reason".into()),
            ..base
        },
    ];
    let [own, deadletter] = wanted;
    // The service owns its stream, so changed settings (retention, replicas) are applied; the
    // shared dead-letter stream is only created, never changed by one service.
    let name = own.name.clone();
    js.create_or_update_stream(own).await.map_err(|e| BusError::JetStream(format!("stream {name}: {e}")))?;
    js.get_or_create_stream(deadletter)
        .await
        .map_err(|e| BusError::JetStream(format!("stream {DEADLETTER_STREAM}: {e}")))?;
    Ok(())
}

/// The migration that creates the outbox and inbox tables in a service's schema.
pub const TABLES_SQL: &str = include_str!("tables.sql");
