//! One trace across the suite: a report's path from intake's gRPC call through the outbox,
//! JetStream, dispatch and notify to the department's webhook is one OpenTelemetry trace, as a
//! real OTLP/gRPC receiver (the published `opentelemetry-proto` service) takes it from every
//! service. Several reports are sent at once, so intake commits them together and the relays
//! and consumers handle them in batches; each still has a trace of its own. The exporters wait
//! long between batches here, so what arrives after `civicgrid up` is stopped proves that the
//! drain flushes them.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use civicgrid_e2e::Suite;
use civicgrid_proto::v1::{
    EventSource, GeoPoint, Location, RegisterWebhookRequest, Reporter, SubmitEventRequest,
    intake_service_client::IntakeServiceClient, notify_service_client::NotifyServiceClient,
};
use opentelemetry_proto::tonic::{
    collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
        trace_service_server::{TraceService, TraceServiceServer},
    },
    common::v1::any_value::Value,
    trace::v1::span::SpanKind,
};
use tonic::{Request, Response, Status};

/// The department the report's item and grid are routed to (as in departments.rs).
const DEPARTMENT: &str = "411602001-chengguan";

/// A span as received, with the `service.name` of its resource.
#[derive(Debug, Clone)]
struct Received {
    service: String,
    name: String,
    kind: i32,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
}

/// The OTLP trace service: keeps every span it is sent.
#[derive(Clone, Default)]
struct Collector(Arc<Mutex<Vec<Received>>>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let mut kept = self.0.lock().unwrap();
        for resource_spans in request.into_inner().resource_spans {
            let service = resource_spans
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|a| a.key == "service.name")
                .and_then(|a| match a.value.as_ref()?.value.as_ref()? {
                    Value::StringValue(s) => Some(s.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            for span in resource_spans.scope_spans.into_iter().flat_map(|s| s.spans) {
                kept.push(Received {
                    service: service.clone(),
                    name: span.name,
                    kind: span.kind,
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: hex(&span.parent_span_id),
                });
            }
        }
        Ok(Response::new(ExportTraceServiceResponse { partial_success: None }))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Serves the collector on a free port; returns its endpoint, `http://127.0.0.1:<port>`.
async fn start_collector(collector: Collector) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(collector))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    endpoint
}

/// A webhook call as received: its headers (lower-case names) and body.
type Call = (HashMap<String, String>, serde_json::Value);

/// Answers every POST with 200 and keeps it; returns its URL.
async fn start_webhook_receiver(calls: Arc<Mutex<Vec<Call>>>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/civicgrid", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
        let calls = calls.clone();
        async move {
            let headers = headers
                .iter()
                .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
                .collect();
            calls.lock().unwrap().push((headers, serde_json::from_slice(&body).unwrap_or_default()));
            axum::http::StatusCode::OK
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// The spans of `trace_id` received so far.
fn spans_of(collector: &Collector, trace_id: &str) -> Vec<Received> {
    collector.0.lock().unwrap().iter().filter(|s| s.trace_id == trace_id).cloned().collect()
}

/// The path a report takes, as spans: (service, span name, kind), each the child of the one
/// before. The first is the trace's root.
const PATH: [(&str, &str, SpanKind); 6] = [
    ("civicgrid-intake", "civicgrid.v1.IntakeService/SubmitEvent", SpanKind::Server),
    ("civicgrid-intake", "publish event-reported", SpanKind::Producer),
    ("civicgrid-dispatch", "process event-reported", SpanKind::Consumer),
    ("civicgrid-dispatch", "publish task-assigned", SpanKind::Producer),
    ("civicgrid-notify", "process task-assigned", SpanKind::Consumer),
    ("civicgrid-notify", "webhook task-assigned", SpanKind::Client),
];

/// How many reports are sent at once: intake commits them together and dispatch may apply them
/// in one batch, yet each must keep a trace of its own.
const REPORTS: usize = 6;

/// Report `i`: the same item and grid, 220 m apart (not duplicates of each other).
fn report(i: usize) -> SubmitEventRequest {
    SubmitEventRequest {
        request_id: format!("trace-report-{i:04}"),
        source: EventSource::GridWorker as i32,
        item_code: "01.02.003".into(),
        location: Some(Location {
            point: Some(GeoPoint { latitude: 33.6261 + 0.002 * i as f64, longitude: 114.6421 }),
            grid_code: "411602001001002".into(),
            ..Default::default()
        }),
        description: format!("井盖缺失，夜间行人易跌落（{i}）"),
        reporter: Some(Reporter { name: "网格员".into(), phone: "13800003333".into(), account_id: String::new() }),
        ..Default::default()
    }
}

/// The (trace id, span id) of a webhook call's `traceparent`.
fn trace_context(headers: &HashMap<String, String>) -> (String, String) {
    let traceparent = headers.get("traceparent").unwrap_or_else(|| panic!("no traceparent: {headers:?}"));
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert!(
        parts.len() == 4 && parts[0] == "00" && parts[1].len() == 32 && parts[2].len() == 16 && parts[3] == "01",
        "{traceparent}"
    );
    (parts[1].to_string(), parts[2].to_string())
}

/// Checks the trace of one report, given the span its webhook call was made in.
fn check_trace(trace: &[Received], trace_id: &str, call_span: &str) {
    let shown: Vec<String> = trace
        .iter()
        .map(|s| format!("{} {:?} kind {} span {} parent {}", s.service, s.name, s.kind, s.span_id, s.parent_span_id))
        .collect();
    let shown = format!("trace {trace_id}:\n{}", shown.join("\n"));
    let by_id: HashMap<&str, &Received> = trace.iter().map(|s| (s.span_id.as_str(), s)).collect();
    // From the webhook call up to the gRPC call, each span the child of the one before it on the
    // path, each from its own service.
    let mut at = call_span;
    for (i, (service, name, kind)) in PATH.iter().enumerate().rev() {
        let span = by_id.get(at).unwrap_or_else(|| panic!("no span {at} for {name:?} in {shown}"));
        assert_eq!((span.service.as_str(), span.name.as_str(), span.kind), (*service, *name, *kind as i32), "{shown}");
        if i == 0 {
            assert!(span.parent_span_id.is_empty(), "the gRPC call is the root: {shown}");
        }
        at = &span.parent_span_id;
    }
    // One root, and every other span's parent is a span of the trace.
    assert_eq!(trace.iter().filter(|s| s.parent_span_id.is_empty()).count(), 1, "{shown}");
    for s in trace {
        assert!(
            s.parent_span_id.is_empty() || by_id.contains_key(s.parent_span_id.as_str()),
            "{s:?} has no parent in {shown}"
        );
    }
    // The facts it caused are published by the services that made them.
    for s in trace {
        let own = match s.name.as_str() {
            "publish event-reported" => "civicgrid-intake",
            "publish task-assigned" => "civicgrid-dispatch",
            "publish notify-delivered" => "civicgrid-notify",
            _ => continue,
        };
        assert_eq!(s.service, own, "{shown}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn one_trace_follows_each_report_from_intake_to_the_departments_webhook() {
    let collector = Collector::default();
    let endpoint = start_collector(collector.clone()).await;
    let calls = Arc::new(Mutex::new(Vec::new()));
    let hook = start_webhook_receiver(calls.clone()).await;
    let env = [
        ("CIVICGRID__TELEMETRY__OTLP_ENDPOINT", endpoint.clone()),
        // Ten minutes between batches: spans reach the collector in time only if the services
        // flush their exporters when they stop.
        ("OTEL_BSP_SCHEDULE_DELAY", "600000".to_string()),
    ];
    let mut suite = tokio::task::spawn_blocking(move || {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Suite::up_with_env(&["--no-demo", "--quiet"], &env)
    })
    .await
    .unwrap();

    let mut notify = NotifyServiceClient::connect(format!("http://{}", suite.notify)).await.unwrap();
    notify
        .register_webhook(RegisterWebhookRequest {
            recipient: format!("department:{DEPARTMENT}"),
            url: hook,
            secret: "trace-test-webhook-secret".into(),
            description: "the trace test's receiver".into(),
            request_id: "trace-hook-0001".into(),
        })
        .await
        .unwrap();
    let intake = IntakeServiceClient::connect(format!("http://{}", suite.intake)).await.unwrap();
    let answers = futures::future::join_all((0..REPORTS).map(|i| {
        let mut intake = intake.clone();
        async move { intake.submit_event(report(i)).await.unwrap().into_inner() }
    }))
    .await;

    // The duty desk's webhook is called about each new task, with the W3C trace context.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let contexts: Vec<(String, String)> = loop {
        let calls = calls.lock().unwrap().clone();
        let found: Vec<Option<(String, String)>> = answers
            .iter()
            .map(|a| {
                calls
                    .iter()
                    .find(|(h, body)| {
                        h.get("x-civicgrid-fact").is_some_and(|f| f == "task-assigned")
                            && body.to_string().contains(&a.tracking_number)
                    })
                    .map(|(h, _)| trace_context(h))
            })
            .collect();
        if found.iter().all(Option::is_some) {
            break found.into_iter().flatten().collect();
        }
        assert!(tokio::time::Instant::now() < deadline, "not every report's task-assigned call came: {calls:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut traces: Vec<&str> = contexts.iter().map(|(t, _)| t.as_str()).collect();
    traces.sort();
    traces.dedup();
    assert_eq!(traces.len(), REPORTS, "each report has its own trace");

    // Nothing of the traces is exported yet: the exporters wait ten minutes between batches.
    // Stopped, every service's drain flushes what its exporter holds.
    assert!(contexts.iter().all(|(t, _)| spans_of(&collector, t).is_empty()), "spans exported before the stop");
    let (stopped, suite) =
        tokio::task::spawn_blocking(move || (suite.terminate(Duration::from_secs(90)), suite)).await.unwrap();
    assert!(stopped, "civicgrid up did not stop");
    drop(suite);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let arrived = |(trace, call): &(String, String)| spans_of(&collector, trace).iter().any(|s| &s.span_id == call);
    while !contexts.iter().all(arrived) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for (trace_id, call_span) in &contexts {
        check_trace(&spans_of(&collector, trace_id), trace_id, call_span);
    }
}
