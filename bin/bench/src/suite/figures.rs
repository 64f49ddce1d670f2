//! The figures of `raw` and `loop` as they are printed and written to `--json`.

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::{
    baseline::Closed,
    stats::{self, ms},
};

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Percentiles {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest.
    pub max_ms: f64,
}

impl Percentiles {
    /// The percentiles of a histogram in microseconds ([`stats::histogram`]).
    pub fn of(h: &Histogram<u64>) -> Percentiles {
        if h.is_empty() {
            return Percentiles::default();
        }
        let at = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        Percentiles {
            count: h.len(),
            p50_ms: at(0.50),
            p95_ms: at(0.95),
            p99_ms: at(0.99),
            max_ms: h.max() as f64 / 1000.0,
        }
    }

    /// `p50 1.20 · p95 3.40 · p99 9.90 · max 20.1 ms`
    pub fn line(&self) -> String {
        if self.count == 0 {
            return "no samples".into();
        }
        format!(
            "p50 {} · p95 {} · p99 {} · max {} ms",
            ms(self.p50_ms),
            ms(self.p95_ms),
            ms(self.p99_ms),
            ms(self.max_ms)
        )
    }

    /// `1.20 / 3.40 / 9.90` (p50 / p95 / p99), for a table cell.
    pub fn cell(&self) -> String {
        if self.count == 0 {
            return "–".into();
        }
        format!("{} / {} / {}", ms(self.p50_ms), ms(self.p95_ms), ms(self.p99_ms))
    }
}

/// A rate measured by a closed loop.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RateFigure {
    /// What was measured.
    pub what: String,
    /// Successful operations per second.
    pub per_sec: f64,
    /// Successful operations.
    pub ok: u64,
    /// Seconds measured.
    pub secs: f64,
    /// Failed operations.
    pub errors: u64,
    /// One failure's message, if any.
    pub error_example: Option<String>,
    /// Latency of the successful operations.
    pub latency: Percentiles,
}

impl RateFigure {
    /// The figure of a closed loop.
    pub fn of(what: impl Into<String>, c: &Closed) -> RateFigure {
        RateFigure {
            what: what.into(),
            per_sec: c.rate(),
            ok: c.ok,
            secs: c.secs,
            errors: c.errors.total(),
            error_example: c.errors.example.clone(),
            latency: Percentiles::of(&c.hist),
        }
    }

    /// `12,345/s (123,456 in 10.0 s; errors 0) · p50 … ms`
    pub fn line(&self) -> String {
        format!(
            "{}/s  ({} in {:.1} s; errors {}) · {}",
            stats::rate(self.per_sec),
            stats::int(self.ok),
            self.secs,
            stats::int(self.errors),
            self.latency.line()
        )
    }
}

/// Resident memory of a process, in MiB, from `/proc/<pid>/status` (`VmRSS`).
pub fn rss_mib(pid: u32) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 = text.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// `12.3` or `–`.
pub fn opt(v: Option<f64>, digits: usize) -> String {
    v.map(|v| format!("{v:.digits$}")).unwrap_or_else(|| "–".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_histogram() {
        let mut h = stats::histogram();
        for i in 1..=100 {
            stats::record(&mut h, std::time::Duration::from_millis(i));
        }
        let p = Percentiles::of(&h);
        assert_eq!(p.count, 100);
        assert!((p.p95_ms - 95.0).abs() < 0.1, "{p:?}");
        assert!(p.line().starts_with("p50 50.0"), "{}", p.line());
        assert_eq!(Percentiles::default().cell(), "–");
    }

    #[test]
    fn own_memory_is_read() {
        assert!(rss_mib(std::process::id()).is_some_and(|m| m > 0.0));
    }
}
