//! Shared plumbing for civicgrid services. No domain logic lives here.
//!
//! - [`runtime`]: the one service lifecycle — a service declares itself ([`runtime::Service`])
//!   and the runtime connects, migrates, serves, and drains it in order.
//! - [`config`]: layered settings (built-in defaults → TOML file → `CIVICGRID__…` environment).
//! - [`telemetry`]: `tracing` subscriber with optional OpenTelemetry OTLP export.
//! - [`db`]: a PostgreSQL pool confined to one service's schema, with migrations at start-up.
//! - [`bus`]: JetStream streams, CloudEvents headers, the transactional outbox and the
//!   idempotent inbox consumer with retries and a dead-letter subject.
//! - [`grpc`]: the server and its edge (readiness, authentication, metrics), health,
//!   reflection, paging, and `INVALID_ARGUMENT` field violations.
//! - [`metrics`]: Prometheus metrics on `GET /metrics`.
//! - [`storage`]: the one storage error and its mapping to gRPC status and consumer verdicts.
//! - [`access`]: who may call each RPC, one table per gRPC service, enforced at the edge.
//! - [`auth`]: bearer-token (JWT) checking and the caller's [`auth::Principal`].
//! - [`region`]: administrative division codes and the region path used in subjects.
//! - [`seal`]: AES-256-GCM for personal data at rest.
//! - [`clock`]: the time source domain code is given, with a manual clock for tests.
//! - [`faults`]: kill points the fault tests arm with `CIVICGRID_FAULT`.

pub mod access;
pub mod audit;
pub mod auth;
pub mod bus;
pub mod clock;
pub mod config;
pub mod db;
pub mod faults;
pub mod grpc;
pub mod metrics;
pub mod region;
pub mod requests;
pub mod runtime;
pub mod seal;
pub mod storage;
pub mod telemetry;
pub mod time;

/// A shutdown signal shared by every task of a service.
pub use tokio_util::sync::CancellationToken as Shutdown;
