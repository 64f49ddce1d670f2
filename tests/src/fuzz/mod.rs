//! Fuzzing the gRPC edge of a running suite: random and mutated requests for every RPC of every
//! service ([`generate`]), sent as raw bytes like any client could. What must hold:
//! - a well-formed request is never answered INTERNAL or UNKNOWN (a client's mistake is
//!   INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION, …);
//! - no call loses its connection or hangs (a unary answer within the call timeout);
//! - afterwards every service is still SERVING, in the same process (no crash, no restart: the
//!   caller checks the pids).
//!
//! `cargo run -p civicgrid-e2e --bin civicgrid-fuzz` runs it long; tests/e2e/fuzz.rs briefly.

pub mod generate;

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use civicgrid_dev::testing::raw;
use futures::StreamExt;
use prost_reflect::{DescriptorPool, MethodDescriptor, SerializeOptions};
use tonic::{Code, transport::Channel};

use generate::{Case, Generator};

/// How a run goes.
#[derive(Debug, Clone)]
pub struct Options {
    /// How many requests in all, spread evenly over the RPCs.
    pub cases: usize,
    /// The seed of the requests (the same seed, the same requests).
    pub seed: u64,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// How long a unary call may take, and how long a stream is watched for its first message.
    pub call_timeout: Duration,
}

/// One gRPC service of the suite and where it listens (`127.0.0.1:<port>`).
pub struct Target {
    /// Its full name, `civicgrid.v1.IntakeService`.
    pub service: String,
    /// Its address.
    pub address: String,
}

/// A request that broke a rule.
#[derive(Debug)]
pub struct Failure {
    /// `/civicgrid.v1.IntakeService/SubmitEvent`.
    pub rpc: String,
    /// What came back.
    pub outcome: String,
    /// The request in JSON, or its bytes in hex when malformed (shortened).
    pub request: String,
}

/// What a run found.
#[derive(Debug, Default)]
pub struct Report {
    /// Requests sent.
    pub calls: usize,
    /// How many requests ended with each outcome (`OK`, `InvalidArgument`, …, `stream open`).
    pub outcomes: BTreeMap<String, usize>,
    /// Requests per RPC.
    pub per_rpc: BTreeMap<String, usize>,
    /// Every request that broke a rule.
    pub failures: Vec<Failure>,
    /// How long it took.
    pub elapsed: Duration,
}

impl Report {
    /// A short table: calls, outcomes, RPCs covered, failures with their first examples.
    pub fn summary(&self) -> String {
        let mut out = format!(
            "fuzz: {} requests over {} RPCs in {:.1?} ({:.0}/s)\n",
            self.calls,
            self.per_rpc.len(),
            self.elapsed,
            self.calls as f64 / self.elapsed.as_secs_f64().max(1e-9)
        );
        for (outcome, n) in &self.outcomes {
            out.push_str(&format!("  {outcome:<20} {n}\n"));
        }
        out.push_str(&format!("  failures             {}\n", self.failures.len()));
        for f in self.failures.iter().take(20) {
            out.push_str(&format!("    {} -> {}\n      {}\n", f.rpc, f.outcome, f.request));
        }
        out
    }
}

/// Sends `options.cases` requests to the RPCs of `targets` and reports what came back.
pub async fn run(targets: &[Target], options: &Options) -> Result<Report, String> {
    let pool = DescriptorPool::decode(civicgrid_proto::FILE_DESCRIPTOR_SET).map_err(|e| e.to_string())?;
    let mut rpcs: Vec<(MethodDescriptor, Channel)> = Vec::new();
    for target in targets {
        let service =
            pool.get_service_by_name(&target.service).ok_or_else(|| format!("no service {}", target.service))?;
        let channel = Channel::from_shared(format!("http://{}", target.address))
            .map_err(|e| e.to_string())?
            .connect()
            .await
            .map_err(|e| format!("{}: {e}", target.address))?;
        rpcs.extend(service.methods().map(|m| (m, channel.clone())));
    }
    if rpcs.is_empty() {
        return Err("no RPC to call".into());
    }
    let started = Instant::now();
    let mut generator = Generator::new(options.seed);
    let timeout = options.call_timeout;
    let calls = (0..options.cases).map(|i| {
        let (method, channel) = rpcs[i % rpcs.len()].clone();
        let case = generator.case(&method.input());
        async move {
            let outcome = call(&method, channel, case.bytes.clone(), timeout).await;
            (method, case, outcome)
        }
    });
    let mut results = futures::stream::iter(calls).buffer_unordered(options.concurrency.max(1));
    let mut report = Report::default();
    while let Some((method, case, outcome)) = results.next().await {
        let rpc = format!("/{}/{}", method.parent_service().full_name(), method.name());
        report.calls += 1;
        *report.per_rpc.entry(rpc.clone()).or_default() += 1;
        *report.outcomes.entry(outcome.name()).or_default() += 1;
        if outcome.breaks_a_rule(case.message.is_some(), method.is_server_streaming()) {
            report.failures.push(Failure { rpc, outcome: outcome.describe(), request: render(&case) });
        }
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

/// What one call ended with.
enum Outcome {
    /// A unary answer, or a stream's first message (or its clean end).
    Ok,
    /// A status.
    Status(tonic::Status),
    /// A stream still open, quietly, when the timeout came: what a watch does.
    StreamOpen,
    /// No answer within the timeout.
    Hung,
}

impl Outcome {
    fn name(&self) -> String {
        match self {
            Outcome::Ok => "OK".into(),
            Outcome::Status(s) => format!("{:?}", s.code()),
            Outcome::StreamOpen => "stream open".into(),
            Outcome::Hung => "no answer".into(),
        }
    }

    fn describe(&self) -> String {
        match self {
            Outcome::Status(s) => format!("{:?}: {}", s.code(), s.message()),
            other => other.name(),
        }
    }

    /// Whether the answer is wrong: INTERNAL or UNKNOWN for a well-formed request, a lost
    /// connection (UNAVAILABLE) or a unary call with no answer for any request.
    fn breaks_a_rule(&self, well_formed: bool, streaming: bool) -> bool {
        match self {
            Outcome::Status(s) => match s.code() {
                Code::Internal | Code::Unknown => well_formed,
                Code::Unavailable => true,
                _ => false,
            },
            Outcome::Hung => !streaming,
            Outcome::Ok | Outcome::StreamOpen => false,
        }
    }
}

async fn call(method: &MethodDescriptor, channel: Channel, body: Vec<u8>, timeout: Duration) -> Outcome {
    let path = format!("/{}/{}", method.parent_service().full_name(), method.name());
    if method.is_server_streaming() {
        return match tokio::time::timeout(timeout, raw::first_streamed(channel, &path, body, "")).await {
            Ok(Ok(_)) => Outcome::Ok,
            Ok(Err(status)) => Outcome::Status(status),
            Err(_) => Outcome::StreamOpen,
        };
    }
    match tokio::time::timeout(timeout, raw::unary(channel, &path, body, "")).await {
        Ok(Ok(_)) => Outcome::Ok,
        Ok(Err(status)) => Outcome::Status(status),
        Err(_) => Outcome::Hung,
    }
}

/// The request as JSON (or hex when malformed), at most 600 characters.
fn render(case: &Case) -> String {
    let text = match &case.message {
        Some(m) => m
            .serialize_with_options(serde_json::value::Serializer, &SerializeOptions::new().use_proto_field_name(true))
            .map(|v| v.to_string())
            .unwrap_or_else(|e| format!("(not JSON: {e})")),
        None => case.bytes.iter().map(|b| format!("{b:02x}")).collect(),
    };
    text.chars().take(600).collect()
}

/// Whether the gRPC health service at `address` answers SERVING.
pub async fn serving(address: &str) -> bool {
    let Ok(channel) = Channel::from_shared(format!("http://{address}")) else { return false };
    let Ok(channel) = channel.connect().await else { return false };
    // HealthCheckResponse { status: SERVING (1) } is the two bytes 08 01.
    matches!(raw::unary(channel, "/grpc.health.v1.Health/Check", Vec::new(), "").await, Ok(b) if b.as_ref() == [8, 1])
}
