//! The SMS gateway behind a trait: [`HttpSms`] for a provider's HTTP API, [`LogSms`] for
//! development (writes the message to the log and succeeds).

use std::{future::Future, pin::Pin, time::Instant};

use super::{Failed, Sent};

/// A boxed future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Sends text messages.
pub trait SmsGateway: Send + Sync + 'static {
    /// Sends `text` to `phone`; `reference` is the delivery id (providers echo it in receipts).
    fn send<'a>(&'a self, phone: &'a str, text: &'a str, reference: &'a str) -> BoxFuture<'a, Result<Sent, Failed>>;
}

/// Writes messages to the log instead of sending them.
pub struct LogSms;

impl SmsGateway for LogSms {
    fn send<'a>(&'a self, phone: &'a str, text: &'a str, reference: &'a str) -> BoxFuture<'a, Result<Sent, Failed>> {
        Box::pin(async move {
            tracing::info!(to = %crate::store::mask_phone(phone), %reference, %text, "SMS (log-only gateway)");
            Ok(Sent { http_status: 0, duration_ms: 0 })
        })
    }
}

/// A provider's HTTP API: `POST <url>` with JSON `{"to", "text", "reference"}` and the configured
/// `Authorization` header; a 2xx answer means accepted.
pub struct HttpSms {
    http: reqwest::Client,
    url: String,
    authorization: Option<String>,
}

impl HttpSms {
    /// A gateway at `url`.
    pub fn new(
        url: String,
        authorization: Option<String>,
        timeout: std::time::Duration,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder().timeout(timeout).build()?;
        Ok(HttpSms { http, url, authorization })
    }
}

impl SmsGateway for HttpSms {
    fn send<'a>(&'a self, phone: &'a str, text: &'a str, reference: &'a str) -> BoxFuture<'a, Result<Sent, Failed>> {
        Box::pin(async move {
            let started = Instant::now();
            let elapsed = || started.elapsed().as_millis() as i64;
            let body = serde_json::json!({ "to": phone, "text": text, "reference": reference });
            let mut request = self.http.post(&self.url).header(reqwest::header::CONTENT_TYPE, "application/json");
            if let Some(auth) = &self.authorization {
                request = request.header(reqwest::header::AUTHORIZATION, auth);
            }
            match request.body(body.to_string()).send().await {
                Ok(r) if r.status().is_success() => {
                    Ok(Sent { http_status: i32::from(r.status().as_u16()), duration_ms: elapsed() })
                }
                Ok(r) => Err(Failed {
                    http_status: i32::from(r.status().as_u16()),
                    error: format!("SMS gateway answered HTTP {}", r.status()),
                    duration_ms: elapsed(),
                }),
                Err(e) => Err(Failed { http_status: 0, error: format!("SMS gateway: {e}"), duration_ms: elapsed() }),
            }
        })
    }
}
