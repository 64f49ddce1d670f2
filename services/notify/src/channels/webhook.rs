//! Signed webhook calls: `POST` of a JSON body with the headers of `docs/notifications.md`, and
//! the W3C `traceparent` of the call.

use std::time::{Duration, Instant};

use super::{Failed, Sent};
use crate::domain::signature;

/// The header with the signature (`v1=<hex>`).
pub const SIGNATURE: &str = "X-Civicgrid-Signature";
/// The header with the unix time the signature covers.
pub const TIMESTAMP: &str = "X-Civicgrid-Timestamp";
/// The header with the delivery id (the same on every retry: receivers deduplicate on it).
pub const DELIVERY: &str = "X-Civicgrid-Delivery";
/// The header with the endpoint id.
pub const ENDPOINT: &str = "X-Civicgrid-Endpoint";
/// The header with the fact (`task-assigned`, or `digest`).
pub const FACT: &str = "X-Civicgrid-Fact";

/// Makes webhook calls.
#[derive(Clone)]
pub struct WebhookClient {
    http: reqwest::Client,
}

/// One call to make.
#[derive(Debug)]
pub struct Call<'a> {
    /// The endpoint's URL.
    pub url: &'a str,
    /// Its secret.
    pub secret: &'a str,
    /// Its id.
    pub endpoint_id: &'a str,
    /// The delivery id.
    pub delivery_id: &'a str,
    /// The fact.
    pub fact: &'a str,
    /// The JSON body.
    pub body: Vec<u8>,
    /// The unix time to sign with.
    pub timestamp: i64,
}

impl WebhookClient {
    /// A client whose calls time out after `timeout`. Redirects are not followed: a receiver
    /// answers at the registered URL or the call fails.
    pub fn new(timeout: Duration) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("civicgrid-notify/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(WebhookClient { http })
    }

    /// Makes `call`: any 2xx answer is a success, anything else a failure with the reason.
    pub async fn post(&self, call: Call<'_>) -> Result<Sent, Failed> {
        let started = Instant::now();
        let elapsed = || started.elapsed().as_millis() as i64;
        let sig = signature::sign(call.secret.as_bytes(), call.timestamp, &call.body);
        let mut request = self
            .http
            .post(call.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE, sig)
            .header(TIMESTAMP, call.timestamp.to_string())
            .header(DELIVERY, call.delivery_id)
            .header(ENDPOINT, call.endpoint_id)
            .header(FACT, call.fact);
        // W3C `traceparent` (and `tracestate`) of the call's span: the receiver's system goes on
        // in the trace of the report behind the notification.
        for (name, value) in civicgrid_kit::telemetry::current_trace_headers() {
            request = request.header(name, value);
        }
        let response = request.body(call.body).send().await;
        match response {
            Ok(r) if r.status().is_success() => {
                Ok(Sent { http_status: i32::from(r.status().as_u16()), duration_ms: elapsed() })
            }
            Ok(r) => {
                let status = r.status();
                // Only the start of the answer is kept: read no more than that.
                let mut r = r;
                let mut head = Vec::new();
                while head.len() < 1024 {
                    match r.chunk().await {
                        Ok(Some(chunk)) => head.extend_from_slice(&chunk),
                        _ => break,
                    }
                }
                let snippet: String = String::from_utf8_lossy(&head).chars().take(200).collect();
                Err(Failed {
                    http_status: i32::from(status.as_u16()),
                    error: format!(
                        "HTTP {status}{}",
                        if snippet.is_empty() { String::new() } else { format!(": {snippet}") }
                    ),
                    duration_ms: elapsed(),
                })
            }
            Err(e) => Err(Failed {
                http_status: 0,
                error: if e.is_timeout() { format!("timed out: {e}") } else { format!("{e}") },
                duration_ms: elapsed(),
            }),
        }
    }
}
