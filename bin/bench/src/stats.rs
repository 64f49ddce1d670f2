//! Latency histograms and number formatting.

use std::{collections::BTreeMap, time::Duration};

use hdrhistogram::Histogram;

/// A latency histogram in microseconds (1 µs to 1 h, 3 significant digits).
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

/// Records `d` (clamped into the histogram's range).
pub fn record(h: &mut Histogram<u64>, d: Duration) {
    h.saturating_record(d.as_micros().clamp(1, u64::MAX as u128) as u64);
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Latency {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

impl Latency {
    /// The percentiles of `h`.
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Latency::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Latency {
            count: h.len(),
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            max: ms(h.max()),
        }
    }

    /// `p50 1.2 · p90 3.4 · p99 9.9 · max 20.1 ms`
    pub fn line(&self) -> String {
        if self.count == 0 {
            return "no samples".into();
        }
        format!("p50 {} · p90 {} · p99 {} · max {} ms", ms(self.p50), ms(self.p90), ms(self.p99), ms(self.max))
    }
}

/// A millisecond figure with a precision that suits its size.
pub fn ms(v: f64) -> String {
    if v < 10.0 {
        format!("{v:.2}")
    } else if v < 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    }
}

/// `12,345`
pub fn int(v: u64) -> String {
    let s = v.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A rate rounded to a whole number, with thousands separators.
pub fn rate(v: f64) -> String {
    if v.is_finite() && v >= 0.0 { int(v.round() as u64) } else { "n/a".into() }
}

/// `n` per second over `secs`.
pub fn per_sec(n: u64, secs: f64) -> f64 {
    if secs > 0.0 { n as f64 / secs } else { 0.0 }
}

/// Failed calls by kind, with one example message.
#[derive(Debug, Clone, Default)]
pub struct Errors {
    /// Count per kind (a gRPC code, "publish", "database" …).
    pub by_kind: BTreeMap<String, u64>,
    /// The first message seen.
    pub example: Option<String>,
}

impl Errors {
    /// Counts one failure.
    pub fn add(&mut self, kind: impl Into<String>, message: impl std::fmt::Display) {
        *self.by_kind.entry(kind.into()).or_default() += 1;
        if self.example.is_none() {
            self.example = Some(message.to_string());
        }
    }

    /// Adds `other`'s counts.
    pub fn merge(&mut self, other: Errors) {
        for (k, n) in other.by_kind {
            *self.by_kind.entry(k).or_default() += n;
        }
        if self.example.is_none() {
            self.example = other.example;
        }
    }

    /// All failures.
    pub fn total(&self) -> u64 {
        self.by_kind.values().sum()
    }

    /// `0` or `12 (Unavailable 10, Internal 2; e.g. "…")`
    pub fn line(&self) -> String {
        if self.total() == 0 {
            return "0".into();
        }
        let kinds: Vec<String> = self.by_kind.iter().map(|(k, n)| format!("{k} {n}")).collect();
        let example = self.example.as_deref().unwrap_or("");
        let example: String = example.chars().take(160).collect();
        format!("{} ({}; e.g. \"{example}\")", int(self.total()), kinds.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands() {
        assert_eq!(int(0), "0");
        assert_eq!(int(999), "999");
        assert_eq!(int(1000), "1,000");
        assert_eq!(int(1234567), "1,234,567");
    }

    #[test]
    fn percentiles() {
        let mut h = histogram();
        for i in 1..=100 {
            record(&mut h, Duration::from_millis(i));
        }
        let l = Latency::of(&h);
        assert_eq!(l.count, 100);
        assert!((l.p50 - 50.0).abs() < 0.1, "{l:?}");
        assert!((l.p99 - 99.0).abs() < 0.1, "{l:?}");
        assert!((l.max - 100.0).abs() < 0.1, "{l:?}");
    }
}
