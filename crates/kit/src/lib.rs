//! Shared plumbing for civicgrid services. No domain logic lives here.
//!
//! - [`config`]: layered settings (built-in defaults → TOML file → `CIVICGRID__…` environment).
//! - [`telemetry`]: `tracing` subscriber with optional OpenTelemetry OTLP export.
//! - [`db`]: a PostgreSQL pool confined to one service's schema, with migrations at start-up.
//! - [`bus`]: JetStream streams, CloudEvents headers, the transactional outbox and the
//!   idempotent inbox consumer with retries and a dead-letter subject.
//! - [`grpc`]: server bootstrap (health, reflection, tracing, graceful shutdown) and
//!   `INVALID_ARGUMENT` field violations.
//! - [`auth`]: bearer-token (JWT) checking and the caller's [`auth::Principal`].
//! - [`region`]: administrative division codes and the region path used in subjects.
//! - [`infra`]: managed nats-server and PostgreSQL for `civicgrid up` and tests.
//! - [`seal`]: AES-256-GCM for personal data at rest.
//! - [`clock`]: the time source domain code is given, with a manual clock for tests.

pub mod auth;
pub mod bus;
pub mod clock;
pub mod config;
pub mod db;
pub mod grpc;
pub mod infra;
pub mod region;
pub mod seal;
pub mod telemetry;
pub mod time;

/// A shutdown signal shared by every task of a service.
pub use tokio_util::sync::CancellationToken as Shutdown;
