//! gRPC server bootstrap and the error shapes every service answers with.
//!
//! [`serve`] runs a service's routes with `grpc.health.v1.Health`, server reflection, a tracing
//! span per call (a child of the caller's `traceparent`), and graceful shutdown.
//! [`Violations`] collects field errors into `INVALID_ARGUMENT` with `google.rpc.BadRequest`.

use std::{collections::HashMap, net::SocketAddr, time::Duration};

use tokio::net::TcpListener;
use tonic::{Code, Status, service::Routes, transport::Server};
use tonic_health::{ServingStatus, server::HealthReporter};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

use crate::Shutdown;

/// Binds the listen address (port 0 picks a free port).
pub async fn bind(listen: &str) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

fn reflection_builder() -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(civicgrid_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(civicgrid_proto::GOOGLE_RPC_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
}

/// Adds server reflection over every civicgrid contract to `routes`, in both the `v1` and the
/// older `v1alpha` protocol (many grpcurl builds still ask for `v1alpha`).
pub fn with_reflection(routes: Routes) -> Result<Routes, tonic_reflection::server::Error> {
    Ok(routes.add_service(reflection_builder().build_v1()?).add_service(reflection_builder().build_v1alpha()?))
}

/// Serves `routes` on `listener` until `shutdown`, then lets in-flight calls finish.
pub async fn serve(listener: TcpListener, routes: Routes, shutdown: Shutdown) -> Result<(), tonic::transport::Error> {
    Server::builder()
        .trace_fn(|request: &http::Request<()>| {
            let span = tracing::info_span!("grpc", path = %request.uri().path());
            let headers: HashMap<String, String> = request
                .headers()
                .iter()
                .filter(|(k, _)| k.as_str() == "traceparent" || k.as_str() == "tracestate")
                .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
                .collect();
            crate::telemetry::set_parent_from(&span, &headers);
            span
        })
        .add_routes(routes)
        .serve_with_incoming_shutdown(
            tokio_stream::wrappers::TcpListenerStream::new(listener),
            shutdown.cancelled_owned(),
        )
        .await
}

/// Something whose readiness the health service reports.
pub enum Dependency {
    /// A PostgreSQL pool: ready when `SELECT 1` answers.
    Postgres(sqlx::PgPool),
    /// A NATS client: ready while connected.
    Nats(async_nats::Client),
}

impl Dependency {
    async fn ready(&self) -> bool {
        match self {
            Dependency::Postgres(pool) => {
                tokio::time::timeout(Duration::from_secs(2), sqlx::query("SELECT 1").execute(pool))
                    .await
                    .map(|r| r.is_ok())
                    .unwrap_or(false)
            }
            Dependency::Nats(client) => client.connection_state() == async_nats::connection::State::Connected,
        }
    }
}

/// Keeps the health status of `services` (and the server as a whole, `""`) in step with the
/// readiness of `deps`, checked every `every`.
pub fn spawn_readiness(
    reporter: HealthReporter,
    services: Vec<&'static str>,
    deps: Vec<Dependency>,
    every: Duration,
    shutdown: Shutdown,
) {
    tokio::spawn(async move {
        let mut last = None;
        loop {
            let mut ready = true;
            for d in &deps {
                ready &= d.ready().await;
            }
            if shutdown.is_cancelled() {
                ready = false;
            }
            if last != Some(ready) {
                let status = if ready { ServingStatus::Serving } else { ServingStatus::NotServing };
                tracing::info!(?status, "health");
                reporter.set_service_status("", status).await;
                for s in &services {
                    reporter.set_service_status(*s, status).await;
                }
                last = Some(ready);
            }
            if shutdown.is_cancelled() {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = shutdown.cancelled() => {}
            }
        }
    });
}

/// Field errors of one request, answered as `INVALID_ARGUMENT` with `google.rpc.BadRequest`.
#[derive(Debug, Default)]
pub struct Violations(Vec<(String, String)>);

impl Violations {
    /// No violations yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `field` (dotted path, as in the proto) is wrong, and why.
    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push((field.into(), description.into()));
    }

    /// Records a violation unless `ok`.
    pub fn check(&mut self, ok: bool, field: &str, description: &str) {
        if !ok {
            self.add(field, description);
        }
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok` when nothing was recorded, else the `INVALID_ARGUMENT` status.
    pub fn into_result(self) -> Result<(), Status> {
        if self.0.is_empty() {
            return Ok(());
        }
        let message = self.0.iter().map(|(f, d)| format!("{f}: {d}")).collect::<Vec<_>>().join("; ");
        let violations: Vec<FieldViolation> = self.0.into_iter().map(|(f, d)| FieldViolation::new(f, d)).collect();
        Err(Status::with_error_details(
            Code::InvalidArgument,
            format!("invalid request: {message}"),
            ErrorDetails::with_bad_request(violations),
        ))
    }
}

/// True for a client-chosen idempotency key: 8 to 64 characters of `A-Za-z0-9_.:-`.
pub fn is_request_id(id: &str) -> bool {
    (8..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(&b))
}

/// The description every service gives a bad `request_id`.
pub const REQUEST_ID_RULE: &str = "must be 8 to 64 characters of A-Z a-z 0-9 _ . : -";

/// The opaque `page_token` for a listing that continues below `last` (ids are UUIDv7, so
/// keyset paging by id is paging by time).
pub fn encode_page_token(last: uuid::Uuid) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(last.as_bytes())
}

/// The id a `page_token` from [`encode_page_token`] continues below; `None` for anything else.
pub fn decode_page_token(token: &str) -> Option<uuid::Uuid> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).ok()?;
    uuid::Uuid::from_slice(&bytes).ok()
}

/// One `INVALID_ARGUMENT` status for a single field.
pub fn invalid_field(field: &str, description: &str) -> Status {
    let mut v = Violations::new();
    v.add(field, description);
    v.into_result().err().unwrap_or_else(|| Status::invalid_argument(description.to_string()))
}

/// The field violations of a status (for clients and tests).
pub fn field_violations(status: &Status) -> Vec<(String, String)> {
    status
        .get_details_bad_request()
        .map(|b| b.field_violations.into_iter().map(|v| (v.field, v.description)).collect())
        .unwrap_or_default()
}

/// An internal failure: logged with its cause, answered without it.
pub fn internal(context: &str, error: impl std::fmt::Display) -> Status {
    tracing::error!(%error, "{context}");
    Status::internal(format!("{context}: internal error"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip_and_reject_garbage() {
        let id = uuid::Uuid::now_v7();
        assert_eq!(decode_page_token(&encode_page_token(id)), Some(id));
        assert_eq!(decode_page_token("%%"), None);
        assert_eq!(decode_page_token("YWJj"), None);
    }

    #[test]
    fn violations_become_bad_request_details() {
        let mut v = Violations::new();
        v.check(false, "location.point.latitude", "must be between -90 and 90");
        v.check(true, "item_code", "never");
        v.add("reporter.phone", "must be 11 digits");
        let status = v.into_result().unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
        let fields: Vec<String> = field_violations(&status).into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, vec!["location.point.latitude", "reporter.phone"]);
        assert!(status.message().contains("reporter.phone"));
        assert!(Violations::new().into_result().is_ok());
    }
}
