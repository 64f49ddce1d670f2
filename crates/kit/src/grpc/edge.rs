//! The edge every call passes before its handler: readiness, authentication, metrics.
//!
//! - Health and reflection always pass (Kubernetes probes and grpcurl need no token).
//! - While PostgreSQL is unreachable ([`Readiness`]), a call is answered `UNAVAILABLE` at
//!   once: a retryable code, so clients retry with the same `request_id`, instead of waiting
//!   for a pool timeout. (While only NATS is away, calls are still served: what they publish
//!   waits in the outbox. Health says NOT_SERVING in both cases, so a load balancer sends new
//!   traffic elsewhere.)
//! - The bearer token is checked ([`Authenticator`]) and the caller's
//!   [`Principal`](crate::auth::Principal) put into the request's extensions. A failure is
//!   logged with the client's address; past `auth.failed_per_minute` failures from one address,
//!   its calls with a bad token are answered `RESOURCE_EXHAUSTED` (and no longer logged one by
//!   one) until its budget refills. Good tokens always pass.
//! - The caller's role is checked against the RPC's row of the service's access table
//!   ([`Policy`]): a role not listed is answered `PERMISSION_DENIED` before the handler runs.
//! - Every answered call is counted by method and code, with its latency.

use std::{
    net::IpAddr,
    num::NonZeroU32,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll},
    time::Instant,
};

use governor::{DefaultKeyedRateLimiter, Quota};
use http_body::Frame;
use tonic::{
    Code, Status,
    body::Body,
    transport::server::{TcpConnectInfo, TlsConnectInfo},
};

use crate::{access::Policy, auth::Authenticator, metrics::GrpcMetrics};

/// Whether the service's database answers; set by the health loop, read by every call.
#[derive(Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    /// True when PostgreSQL answered the last check.
    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// Records the result of a check.
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::Relaxed);
    }
}

/// The tower layer of the edge.
#[derive(Clone)]
pub struct Edge {
    auth: Authenticator,
    ready: Readiness,
    metrics: GrpcMetrics,
    failures: Option<Arc<DefaultKeyedRateLimiter<IpAddr>>>,
    policy: Arc<Policy>,
}

impl Edge {
    /// An edge checking tokens with `auth`, refusing calls while not `ready`, recording into
    /// `metrics`.
    pub fn new(auth: Authenticator, ready: Readiness, metrics: GrpcMetrics) -> Self {
        Edge { auth, ready, metrics, failures: None, policy: Arc::default() }
    }

    /// Admits each call by `policy` (the access tables of what is served); without one, every
    /// authenticated caller passes to the handler.
    pub fn admit_by(mut self, policy: Policy) -> Self {
        self.policy = Arc::new(policy);
        self
    }

    /// Allows each client address `per_minute` failed authentications (a burst of as many,
    /// refilled evenly over the minute); 0: no limit.
    pub fn limit_failed_auth(mut self, per_minute: u32) -> Self {
        self.failures =
            NonZeroU32::new(per_minute).map(|n| Arc::new(DefaultKeyedRateLimiter::keyed(Quota::per_minute(n))));
        self
    }

    /// What to answer a failed authentication from `client`: the failure, or RESOURCE_EXHAUSTED
    /// once the client is over its budget.
    fn failed(&self, client: Option<IpAddr>, path: &str, status: Status) -> Status {
        let limited = match (&self.failures, client) {
            (Some(limiter), Some(ip)) => {
                let limited = limiter.check_key(&ip).is_err();
                // The map keeps a state per address seen: forget the idle ones now and then.
                if limiter.len() > 10_000 {
                    limiter.retain_recent();
                }
                limited
            }
            _ => false,
        };
        let client = client.map(|ip| ip.to_string()).unwrap_or_default();
        if limited {
            tracing::debug!(%client, path, "authentication failed again; client over its budget");
            return Status::resource_exhausted(
                "too many failed authentications from this address; wait a minute and use a valid token",
            );
        }
        tracing::warn!(%client, path, reason = status.message(), "authentication failed");
        status
    }
}

/// The client's address, over plain TCP or TLS.
fn client_ip<B>(request: &http::Request<B>) -> Option<IpAddr> {
    let ext = request.extensions();
    ext.get::<TcpConnectInfo>()
        .and_then(TcpConnectInfo::remote_addr)
        .or_else(|| ext.get::<TlsConnectInfo<TcpConnectInfo>>().and_then(|t| t.get_ref().remote_addr()))
        .map(|a| a.ip())
}

impl<S> tower::Layer<S> for Edge {
    type Service = EdgeService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        EdgeService { inner, edge: self.clone() }
    }
}

/// The service [`Edge`] wraps around the routes.
#[derive(Clone)]
pub struct EdgeService<S> {
    inner: S,
    edge: Edge,
}

/// Health checks and reflection: open to anyone, always.
fn is_infrastructure(path: &str) -> bool {
    path.starts_with("/grpc.health.") || path.starts_with("/grpc.reflection.")
}

type BoxFuture<T, E> = Pin<Box<dyn std::future::Future<Output = Result<T, E>> + Send>>;

impl<S, B> tower::Service<http::Request<B>> for EdgeService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let path = request.uri().path().to_string();
        if is_infrastructure(&path) {
            return Box::pin(self.inner.call(request));
        }
        let started = Instant::now();
        let metrics = self.edge.metrics.clone();
        let refuse = |status: Status| -> Self::Future {
            metrics.record(&path, status.code(), started.elapsed());
            Box::pin(std::future::ready(Ok(status.into_http())))
        };
        if !self.edge.ready.is_ready() {
            return refuse(Status::unavailable(
                "the service cannot reach its database right now; retry with the same request_id",
            ));
        }
        let header = request.headers().get("authorization").and_then(|v| v.to_str().ok());
        match self.edge.auth.authenticate(header) {
            Ok(principal) => {
                if let Err(refused) = self.edge.policy.admit(&path, &principal) {
                    tracing::debug!(
                        path,
                        role = principal.role.as_str_name(),
                        subject = principal.subject,
                        "role refused"
                    );
                    return refuse(refused);
                }
                request.extensions_mut().insert(principal);
            }
            Err(status) => {
                let answer = self.edge.failed(client_ip(&request), &path, status);
                return refuse(answer);
            }
        }
        // The ready clone serves this call; the fresh one waits for the next poll_ready.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let mut response = inner.call(request).await?;
            shorten_message(response.headers_mut());
            Ok(observe(response, path, started, metrics))
        })
    }
}

/// The longest status message sent, in bytes of its percent-encoded header value.
const MAX_MESSAGE: usize = 2048;

/// The largest `grpc-status-details-bin` sent (base64 bytes).
const MAX_DETAILS: usize = 8192;

/// Cuts a status message that echoes a huge value of the request (an id of 100,000 characters
/// in "no organisation `…`"): past HTTP/2's header limits the client gets a protocol error
/// instead of the INVALID_ARGUMENT it was sent. The cut never splits a `%XX` escape.
fn shorten_message(headers: &mut http::HeaderMap) {
    // The binary details (google.rpc.BadRequest) can echo the same values many times over: past
    // MAX_DETAILS they go, and the message, which names every field, stays.
    if headers.get("grpc-status-details-bin").is_some_and(|v| v.len() > MAX_DETAILS) {
        headers.remove("grpc-status-details-bin");
    }
    let Some(value) = headers.get("grpc-message") else { return };
    let bytes = value.as_bytes();
    if bytes.len() <= MAX_MESSAGE {
        return;
    }
    let mut end = MAX_MESSAGE;
    if let Some(percent) = bytes[end - 2..end].iter().rposition(|b| *b == b'%') {
        end = end - 2 + percent;
    }
    let mut short = bytes[..end].to_vec();
    short.extend_from_slice(b"%E2%80%A6"); // "…"
    if let Ok(v) = http::HeaderValue::from_bytes(&short) {
        headers.insert("grpc-message", v);
    }
}

/// The status in a response's headers (a trailers-only answer: errors and refusals).
fn header_code(headers: &http::HeaderMap) -> Option<Code> {
    headers.get("grpc-status").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<i32>().ok()).map(Code::from)
}

/// Records the call when its status is known: now for a trailers-only answer, else when the
/// body's trailers pass (or when the body is dropped early: the client went away).
fn observe(
    response: http::Response<Body>,
    method: String,
    started: Instant,
    metrics: GrpcMetrics,
) -> http::Response<Body> {
    if let Some(code) = header_code(response.headers()) {
        metrics.record(&method, code, started.elapsed());
        return response;
    }
    response.map(|inner| Body::new(Observed { inner, pending: Some(Pending { method, started, metrics }) }))
}

struct Pending {
    method: String,
    started: Instant,
    metrics: GrpcMetrics,
}

impl Pending {
    fn record(self, code: Code) {
        self.metrics.record(&self.method, code, self.started.elapsed());
    }
}

/// A response body that records the call's status from its trailers.
struct Observed {
    inner: Body,
    pending: Option<Pending>,
}

impl http_body::Body for Observed {
    type Data = bytes::Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(code) = frame.trailers_ref().and_then(header_code)
                    && let Some(p) = self.pending.take()
                {
                    p.record(code);
                }
            }
            Poll::Ready(Some(Err(_))) => {
                if let Some(p) = self.pending.take() {
                    p.record(Code::Internal);
                }
            }
            Poll::Ready(None) => {
                if let Some(p) = self.pending.take() {
                    p.record(Code::Unknown);
                }
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Observed {
    fn drop(&mut self) {
        if let Some(p) = self.pending.take() {
            p.record(Code::Cancelled);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_status_messages_are_cut_between_escapes() {
        let mut headers = http::HeaderMap::new();
        headers.insert("grpc-message", http::HeaderValue::from_static("short"));
        shorten_message(&mut headers);
        assert_eq!(headers["grpc-message"], "short");
        for prefix in ["", "a", "ab"] {
            let long = format!("{prefix}{}", "%E6%B2".repeat(1000));
            headers.insert("grpc-message", http::HeaderValue::from_str(&long).unwrap());
            shorten_message(&mut headers);
            let cut = headers["grpc-message"].to_str().unwrap().strip_suffix("%E2%80%A6").unwrap().to_string();
            assert!(cut.len() <= MAX_MESSAGE && cut.len() >= MAX_MESSAGE - 2, "{}", cut.len());
            assert!(long.starts_with(&cut));
            let tail = &cut[cut.len() - 3..];
            assert!(!tail[1..].contains('%'), "an escape was split: …{tail}");
        }
        headers.insert("grpc-status-details-bin", http::HeaderValue::from_str(&"A".repeat(MAX_DETAILS + 1)).unwrap());
        shorten_message(&mut headers);
        assert!(headers.get("grpc-status-details-bin").is_none());
        headers.insert("grpc-status-details-bin", http::HeaderValue::from_static("AAAA"));
        shorten_message(&mut headers);
        assert_eq!(headers["grpc-status-details-bin"], "AAAA");
    }
}
