//! A webhook receiver on loopback that records every call and answers from a script, and the
//! probe that proves the delivery worker made a whole pass.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use super::{TestApp, WITHIN, admin, authed, new_id};

/// One call the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
    pub at: std::time::Instant,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str).unwrap_or("")
    }
}

/// How the receiver answers.
#[derive(Debug, Clone, Copy)]
pub enum Answer {
    /// With this status.
    Status(u16),
    /// After this long (longer than the webhook timeout makes a timeout), with 200.
    Slow(Duration),
}

/// A real HTTP server that records every call and answers from a script (then 200).
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    calls: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<std::collections::VecDeque<Answer>>>,
}

impl Receiver {
    /// Starts a receiver on a free loopback port.
    pub async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind receiver");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        let receiver =
            Receiver { url, calls: Arc::new(Mutex::new(Vec::new())), script: Arc::new(Mutex::new(Default::default())) };
        let r = receiver.clone();
        let app = axum::Router::new().fallback(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let r = r.clone();
            async move {
                let answer = r.script.lock().expect("script").pop_front();
                r.calls.lock().expect("calls").push(Received {
                    headers: headers
                        .iter()
                        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or_default().to_string()))
                        .collect(),
                    body: body.to_vec(),
                    at: std::time::Instant::now(),
                });
                match answer {
                    Some(Answer::Status(code)) => {
                        axum::http::StatusCode::from_u16(code).unwrap_or(axum::http::StatusCode::OK)
                    }
                    Some(Answer::Slow(d)) => {
                        tokio::time::sleep(d).await;
                        axum::http::StatusCode::OK
                    }
                    None => axum::http::StatusCode::OK,
                }
            }
        });
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        receiver
    }

    /// Answers the next calls like this, in order.
    pub fn script(&self, answers: &[Answer]) {
        self.script.lock().expect("script").extend(answers.iter().copied());
    }

    pub fn calls(&self) -> Vec<Received> {
        self.calls.lock().expect("calls").clone()
    }

    /// Waits until at least `n` calls arrived.
    pub async fn wait_calls(&self, n: usize) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + WITHIN;
        loop {
            let calls = self.calls();
            if calls.len() >= n {
                return calls;
            }
            assert!(tokio::time::Instant::now() < deadline, "receiver got {} of {n} calls", calls.len());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Registers `url` as a webhook of `recipient` with `secret`; returns the endpoint id.
pub async fn register(app: &TestApp, recipient: &str, url: &str, secret: &str) -> String {
    let mut c = app.client.clone();
    let req = civicgrid_proto::v1::RegisterWebhookRequest {
        recipient: recipient.into(),
        url: url.into(),
        secret: secret.into(),
        description: "test receiver".into(),
        request_id: new_id(),
    };
    c.register_webhook(authed(req, &admin())).await.expect("register webhook").into_inner().id
}

/// Proves that the delivery worker has made a whole pass (digests, re-escalations, a claim of
/// what is due) after the moment it is called, without sleeping: it reads the worker's claim
/// rounds (`civicgrid_notify_worker_rounds_total{found="none"|"some"}`) and waits until two
/// more have been made. The first may have begun before the call; the second began after it,
/// with the timed look before it (in these tests every claim round is part of a timed look: no
/// worker has two rounds' worth in hand, so none is woken to claim). A delivery handed to the
/// worker at its creation is no proof: it is sent without a claim.
pub struct Probe;

impl Probe {
    /// Returns once the worker has made a pass that began after this call.
    pub async fn pass(&self, app: &TestApp) {
        let claims = |s: &civicgrid_dev::testing::metrics::Scrape| {
            ["none", "some"]
                .iter()
                .map(|f| s.value("civicgrid_notify_worker_rounds_total", &[("found", f)]).unwrap_or(0.0))
                .sum::<f64>()
        };
        let before = claims(&civicgrid_dev::testing::metrics::scrape(app.metrics).await);
        let deadline = tokio::time::Instant::now() + WITHIN;
        while claims(&civicgrid_dev::testing::metrics::scrape(app.metrics).await) < before + 2.0 {
            assert!(tokio::time::Instant::now() < deadline, "the worker made no pass");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
