//! gRPC calls by method and code, with latency.

use std::time::Duration;

use prometheus_client::{
    metrics::{
        family::Family,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};

use super::{CounterFamily, Labels, labels};

type HistogramFamily = Family<Labels, Histogram, fn() -> Histogram>;

/// `civicgrid_grpc_requests_total{method, code}` and
/// `civicgrid_grpc_request_duration_seconds{method}`.
#[derive(Clone)]
pub struct GrpcMetrics {
    requests: CounterFamily,
    duration: HistogramFamily,
}

fn latency_histogram() -> Histogram {
    // 0.25 ms … ~8 s
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

impl GrpcMetrics {
    pub(super) fn register(registry: &mut Registry) -> Self {
        let requests = CounterFamily::default();
        let duration = HistogramFamily::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register(
            "grpc_requests",
            "gRPC calls answered, by full method and status code (OK, INVALID_ARGUMENT, UNAVAILABLE …)",
            requests.clone(),
        );
        registry.register(
            "grpc_request_duration_seconds",
            "Time from a call's arrival to its status (streams: to their end), by full method",
            duration.clone(),
        );
        GrpcMetrics { requests, duration }
    }

    /// Records one answered call.
    pub fn record(&self, method: &str, code: tonic::Code, took: Duration) {
        self.requests.get_or_create(&labels([("method", method), ("code", code_name(code))])).inc();
        self.duration.get_or_create(&labels([("method", method)])).observe(took.as_secs_f64());
    }
}

/// The canonical name of a status code, as gRPC documents it.
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "CANCELLED",
        Unknown => "UNKNOWN",
        InvalidArgument => "INVALID_ARGUMENT",
        DeadlineExceeded => "DEADLINE_EXCEEDED",
        NotFound => "NOT_FOUND",
        AlreadyExists => "ALREADY_EXISTS",
        PermissionDenied => "PERMISSION_DENIED",
        ResourceExhausted => "RESOURCE_EXHAUSTED",
        FailedPrecondition => "FAILED_PRECONDITION",
        Aborted => "ABORTED",
        OutOfRange => "OUT_OF_RANGE",
        Unimplemented => "UNIMPLEMENTED",
        Internal => "INTERNAL",
        Unavailable => "UNAVAILABLE",
        DataLoss => "DATA_LOSS",
        Unauthenticated => "UNAUTHENTICATED",
    }
}
