//! The gRPC server of a service and the error shapes every service answers with.
//!
//! [`serve`] runs a service's routes behind the [`edge`] (readiness, authentication, metrics),
//! with a tracing span per call (a child of the caller's `traceparent`), `TCP_NODELAY` on every
//! accepted connection, and graceful shutdown. [`reflection`] describes exactly the services a
//! server serves. [`health`] keeps `grpc.health.v1.Health` in step with PostgreSQL and NATS.
//! [`Violations`] collects field errors into `INVALID_ARGUMENT` with `google.rpc.BadRequest`;
//! [`paging`] reads and writes `page_size`/`page_token`; [`watch`] streams a feed from a cursor.

pub mod edge;
pub mod health;
pub mod paging;
pub mod tls;
pub mod watch;

use std::{collections::HashMap, net::SocketAddr};

use tokio::net::TcpListener;
use tonic::{
    Code, Status,
    service::Routes,
    transport::{Server, server::TcpIncoming},
};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::Shutdown;

/// Binds the listen address (port 0 picks a free port).
pub async fn bind(listen: &str) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

/// The health service's own name, listed by reflection.
pub const HEALTH_SERVICE: &str = "grpc.health.v1.Health";

fn reflection_builder(services: &[&str]) -> tonic_reflection::server::Builder<'static> {
    let mut builder = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(civicgrid_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(civicgrid_proto::GOOGLE_RPC_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        // Both protocols' descriptors in both services: each lists the other, and a client that
        // resolves every listed service (k6 does) fails on one it cannot describe.
        .include_reflection_service(false)
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET)
        .with_service_name(HEALTH_SERVICE)
        .with_service_name("grpc.reflection.v1.ServerReflection")
        .with_service_name("grpc.reflection.v1alpha.ServerReflection");
    for s in services {
        builder = builder.with_service_name(*s);
    }
    builder
}

/// Adds server reflection to `routes`, in both the `v1` and the older `v1alpha` protocol (many
/// grpcurl builds still ask for `v1alpha`). It lists exactly `services`, health and itself:
/// what this server serves, not every contract of the suite.
pub fn reflection(routes: Routes, services: &[&str]) -> Result<Routes, tonic_reflection::server::Error> {
    let v1 = reflection_builder(services).build_v1()?;
    let v1alpha = reflection_builder(services).build_v1alpha()?;
    Ok(routes.add_service(v1).add_service(v1alpha))
}

/// Serves `routes` behind `edge` on `listener` until `shutdown`, then lets in-flight calls
/// finish. Every accepted socket gets `TCP_NODELAY`: without it a lone small answer waits for
/// the client's delayed ACK (~40 ms a call from grpcio, grpcurl or k6).
pub async fn serve(
    listener: TcpListener,
    routes: Routes,
    edge: edge::Edge,
    tls: Option<tonic::transport::ServerTlsConfig>,
    shutdown: Shutdown,
) -> Result<(), tonic::transport::Error> {
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let mut server = Server::builder();
    if let Some(tls) = tls {
        server = server.tls_config(tls)?;
    }
    server
        .trace_fn(|request: &http::Request<()>| {
            // Named as OpenTelemetry names RPC spans: `civicgrid.v1.IntakeService/SubmitEvent`.
            let name = request.uri().path().trim_start_matches('/');
            let (service, method) = name.split_once('/').unwrap_or((name, ""));
            let span = tracing::info_span!(parent: None, "grpc", otel.name = %name, otel.kind = %"server");
            // Attributes of the exported span only, not fields of every log line of the call.
            span.set_attribute("rpc.system", "grpc");
            span.set_attribute("rpc.service", service.to_string());
            span.set_attribute("rpc.method", method.to_string());
            let headers: HashMap<String, String> = request
                .headers()
                .iter()
                .filter(|(k, _)| k.as_str() == "traceparent" || k.as_str() == "tracestate")
                .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
                .collect();
            crate::telemetry::set_parent_from(&span, &headers);
            span
        })
        .layer(edge)
        .add_routes(routes)
        .serve_with_incoming_shutdown(incoming, shutdown.cancelled_owned())
        .await
}

/// Field errors of one request, answered as `INVALID_ARGUMENT` with `google.rpc.BadRequest`.
#[derive(Debug, Default)]
pub struct Violations(Vec<(String, String)>);

impl Violations {
    /// No violations yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `field` (dotted path, as in the proto) is wrong, and why. A description
    /// longer than 300 characters (one that echoes a huge value) is cut.
    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        let mut description: String = description.into();
        if description.chars().count() > 300 {
            description = description.chars().take(300).collect::<String>() + "…";
        }
        self.0.push((field.into(), description));
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
