//! k6's end-of-test summary as `bin/bench/k6/submit_event.js` writes it (`handleSummary`: the
//! summary data as JSON), read into the figures the bench prints beside its own client's.

use anyhow::{Context, Result};
use serde_json::Value;

use crate::suite::figures::Percentiles;

/// The submetric of the SubmitEvent calls alone (the script tags them and sets a threshold
/// on it, which is what makes k6 keep it apart from the reflection calls).
const SUBMIT: &str = "grpc_req_duration{call:submit}";

/// What one k6 run reported.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// SubmitEvent calls timed.
    pub calls: u64,
    /// Answered OK.
    pub accepted: u64,
    /// Of those, answered `merged`.
    pub merged: u64,
    /// Refused or failed.
    pub refused: u64,
    /// The test run's seconds (k6's `testRunDurationMs`: the VUs' start to their end).
    pub secs: f64,
    /// SubmitEvent's answer as k6 timed it.
    pub answered: Percentiles,
}

impl Summary {
    /// Reads the summary JSON. A counter that never counted is absent from k6's summary and
    /// reads as 0.
    pub fn parse(bytes: &[u8]) -> Result<Summary> {
        let data: Value = serde_json::from_slice(bytes).context("reading k6's summary JSON")?;
        let metrics = data.get("metrics").context("k6's summary has no metrics")?;
        let count = |name: &str| metrics[name]["values"]["count"].as_f64().unwrap_or(0.0).max(0.0) as u64;
        let submit = &metrics[SUBMIT]["values"];
        let ms = |stat: &str| submit[stat].as_f64().unwrap_or(0.0);
        let calls = submit["count"].as_f64().unwrap_or(0.0).max(0.0) as u64;
        Ok(Summary {
            calls,
            accepted: count("accepted"),
            merged: count("merged"),
            refused: count("refused"),
            secs: data["state"]["testRunDurationMs"].as_f64().unwrap_or(0.0) / 1000.0,
            answered: if calls == 0 {
                Percentiles::default()
            } else {
                Percentiles {
                    count: calls,
                    p50_ms: ms("med"),
                    p95_ms: ms("p(95)"),
                    p99_ms: ms("p(99)"),
                    max_ms: ms("max"),
                }
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_is_read() {
        let json = serde_json::json!({
            "state": { "testRunDurationMs": 2012.1 },
            "metrics": {
                "accepted": { "values": { "count": 384, "rate": 190.8 } },
                "grpc_req_duration": { "values": { "count": 400, "med": 1.0 } },
                SUBMIT: { "values": { "count": 384, "med": 17.8, "p(95)": 41.6, "p(99)": 51.1, "max": 65.9 } }
            }
        });
        let s = Summary::parse(json.to_string().as_bytes()).expect("parses");
        assert_eq!((s.calls, s.accepted, s.merged, s.refused), (384, 384, 0, 0));
        assert!((s.secs - 2.0121).abs() < 1e-9);
        assert_eq!(s.answered.count, 384);
        assert!((s.answered.p99_ms - 51.1).abs() < 1e-9);
    }

    #[test]
    fn an_aborted_run_sent_nothing() {
        let json = r#"{"state":{"testRunDurationMs":12},"metrics":{"vus":{"values":{"value":4}}}}"#;
        let s = Summary::parse(json.as_bytes()).expect("parses");
        assert_eq!((s.calls, s.accepted), (0, 0));
        assert_eq!(s.answered.count, 0);
        assert!(Summary::parse(b"not json").is_err());
    }
}
