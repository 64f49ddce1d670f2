//! The bus: NATS JetStream with CloudEvents headers, a transactional outbox and an idempotent
//! inbox consumer.
//!
//! What travels where is declared once in `civicgrid-contracts` (streams, facts with their
//! payload types, durable consumers); this module puts it on the wire. Subjects are
//! `civicgrid.<service>.<fact>.<city>.<county>.<township>.<village>`; each service owns one
//! stream `CIVICGRID_<SERVICE>` over `civicgrid.<service>.>`. Messages that cannot be applied go
//! to `civicgrid.deadletter.<service>.<consumer>` on stream `CIVICGRID_DEADLETTER`. See
//! `docs/events.md`. A [`feed`] is a stream of inputs taken in at a high rate (patrol's
//! positions), read in batches without an inbox table.

mod deadletter;
pub mod envelope;
pub mod feed;
pub mod inbox;
pub mod outbox;
mod publish;
mod vacuum;

use std::time::Duration;

use async_nats::jetstream::{self, stream};
pub use civicgrid_contracts::{DEADLETTER_STREAM, deadletter_subject, stream_name, subject};
use civicgrid_contracts::{DEADLETTER_SUBJECTS, Stream};

use crate::config::{ExposeSecret, NatsSettings};

pub use envelope::{Envelope, Incoming};
pub use feed::{FeedHandler, FeedOptions, Poison, run_feed};
pub use inbox::{HandleError, Handler, run_consumer};
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

/// The reply-subject prefix of `name`'s client: `_INBOX_<name>`. Each NATS user may then be
/// allowed only its own replies (deploy/nats/gen-auth.py), so no user reads another's.
pub fn inbox_prefix(name: &str) -> String {
    format!("_INBOX_{name}")
}

/// The servers of `nats.url`: one URL or several separated by commas (the members of a cluster;
/// the client connects to one and fails over to the others, and to members it discovers).
pub fn servers(url: &str) -> Result<Vec<async_nats::ServerAddr>, crate::config::ConfigError> {
    url.split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(|u| {
            u.parse::<async_nats::ServerAddr>()
                .map_err(|e| crate::config::ConfigError::Invalid { key: "nats.url", reason: format!("`{u}`: {e}") })
        })
        .collect()
}

/// The `user:password@` of a NATS URL. async-nats parses them but does not log in with them, so
/// whoever connects with a URL alone passes them on ([`connect`] does).
pub fn url_login(url: &str) -> Option<(String, String)> {
    let addr: async_nats::ServerAddr = url.split(',').next()?.trim().parse().ok()?;
    Some((addr.username()?.to_string(), addr.password().unwrap_or_default().to_string()))
}

/// Connects to NATS with the configured URL and credentials, trying for up to 30 s (a service
/// may start before its NATS server); once connected, the client reconnects forever. Replies
/// come under [`inbox_prefix`]`(name)`.
pub async fn connect(settings: &NatsSettings, name: &str) -> Result<async_nats::Client, BusError> {
    let url = settings.require_url()?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut options = async_nats::ConnectOptions::new()
            .name(format!("civicgrid-{name}"))
            .custom_inbox_prefix(inbox_prefix(name))
            .connection_timeout(Duration::from_secs(5));
        if let Some(file) = &settings.credentials_file {
            options = options.credentials_file(file).await.map_err(|e| crate::config::ConfigError::Invalid {
                key: "nats.credentials_file",
                reason: e.to_string(),
            })?;
        }
        if let (Some(user), Some(password)) = (&settings.user, &settings.password) {
            options = options.user_and_password(user.clone(), password.expose_secret().to_string());
        } else if let Some((user, password)) = url_login(url) {
            options = options.user_and_password(user, password);
        }
        let servers = servers(url)?;
        match options.connect(servers.as_slice()).await {
            Ok(client) => return Ok(client),
            Err(e) if tokio::time::Instant::now() < deadline => {
                // Host and port only: the URL may carry a password.
                let at: Vec<String> = servers.iter().map(|s| format!("{}:{}", s.host(), s.port())).collect();
                tracing::info!(servers = %at.join(","), error = %e, "NATS not reachable yet; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Creates (or updates) the stream a service owns, and creates the dead-letter stream if it
/// is missing.
pub async fn ensure_streams(js: &jetstream::Context, own: &Stream, settings: &NatsSettings) -> Result<(), BusError> {
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
            name: own.name(),
            subjects: own.subjects(),
            description: Some(format!("facts published by civicgrid {}", own.service)),
            // The relay publishes a long claim as atomic batches (bus::publish).
            allow_atomic_publish: true,
            ..base.clone()
        },
        stream::Config {
            name: DEADLETTER_STREAM.to_string(),
            subjects: vec![DEADLETTER_SUBJECTS.to_string()],
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_may_name_several_servers_and_carry_a_login() {
        let list = servers("nats://a:4222, nats://b:4223,").unwrap();
        assert_eq!(
            list.iter().map(|s| (s.host().to_string(), s.port())).collect::<Vec<_>>(),
            [("a".to_string(), 4222), ("b".to_string(), 4223)]
        );
        assert!(servers("nats://a:4222,nats://b:notaport").unwrap_err().to_string().contains("nats.url"));
        let login = url_login("nats://county-411602:pw@a:4222,nats://b:4222");
        assert_eq!(login, Some(("county-411602".into(), "pw".into())));
    }
}
