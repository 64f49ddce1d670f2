//! Scraping a service's `GET /metrics` and parsing it with a real parser: the Prometheus
//! client library's OpenMetrics parser (Python), which refuses what Prometheus would refuse.

use std::{net::SocketAddr, time::Duration};

use serde::Deserialize;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// One sample.
#[derive(Debug, Clone, Deserialize)]
pub struct Sample {
    /// The sample's name (a counter's samples end in `_total`).
    pub name: String,
    /// Its labels.
    pub labels: std::collections::BTreeMap<String, String>,
    /// Its value.
    pub value: f64,
}

/// One metric family.
#[derive(Debug, Clone, Deserialize)]
pub struct Family {
    /// The family's name.
    pub name: String,
    /// `counter`, `gauge`, `histogram` …
    #[serde(rename = "type")]
    pub kind: String,
    /// Its samples.
    pub samples: Vec<Sample>,
}

/// What a scrape said: the content type and the parsed families.
#[derive(Debug, Clone)]
pub struct Scrape {
    /// The `Content-Type` header.
    pub content_type: String,
    /// The families, as the parser read them.
    pub families: Vec<Family>,
}

impl Scrape {
    /// The family named `name`, if present.
    pub fn family(&self, name: &str) -> Option<&Family> {
        self.families.iter().find(|f| f.name == name)
    }

    /// The value of the sample `name` whose labels include `labels`.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.families
            .iter()
            .flat_map(|f| &f.samples)
            .find(|s| s.name == name && labels.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v)))
            .map(|s| s.value)
    }
}

const PARSE: &str = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
out = []
for f in text_string_to_metric_families(sys.stdin.read()):
    out.append({"name": f.name, "type": f.type,
                "samples": [{"name": s.name, "labels": s.labels, "value": s.value} for s in f.samples]})
print(json.dumps(out))
"#;

/// GETs `http://<addr>/metrics` and parses the body with the OpenMetrics parser; panics if the
/// text does not parse.
pub async fn scrape(addr: SocketAddr) -> Scrape {
    let mut stream = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr))
        .await
        .expect("connect to /metrics in time")
        .expect("connect to /metrics");
    stream.write_all(format!("GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes()).await.expect("request");
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response))
        .await
        .expect("a response in time")
        .expect("response");
    let text = String::from_utf8(response).expect("UTF-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("HTTP response");
    assert!(head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"), "GET /metrics: {head}");
    let content_type = head
        .lines()
        .find_map(|l| l.strip_prefix("content-type: ").or_else(|| l.strip_prefix("Content-Type: ")))
        .unwrap_or_default()
        .to_string();
    let body = body.to_string();
    let json =
        tokio::task::spawn_blocking(move || super::python::run(&["prometheus-client"], PARSE, &[], body.as_bytes()))
            .await
            .expect("parser task");
    let families: Vec<Family> = serde_json::from_str(&json).expect("parser output");
    Scrape { content_type, families }
}
