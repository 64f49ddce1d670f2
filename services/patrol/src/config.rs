//! patrol's settings: the common ones plus `[patrol]`.

use std::time::Duration;

use chrono::TimeDelta;
use civicgrid_kit::{
    bus::FeedOptions,
    config::{CommonSettings, ConfigError, ServiceSettings},
};
use serde::Deserialize;

use crate::domain::{coverage::PresenceRule, fix::Limits, route::ManualRule, trip::TripRule};

/// patrol's built-in defaults (see `docs/configuration.md`).
pub const DEFAULTS: &str = r#"
[grpc]
listen = "0.0.0.0:50055"

[patrol]
intake_url = "http://127.0.0.1:50051"
position_retention_hours = 720
fix_max_future_secs = 120
fix_max_age_secs = 86400
fix_max_accuracy_m = 200.0
fix_max_speed_mps = 70.0
offline_after_secs = 300
checkin_max_distance_m = 50.0
checkin_max_fix_age_secs = 120
stop_radius_m = 30.0
min_stop_secs = 120
presence_min_minutes = 60
ticker_interval_ms = 1000
ingest_batch_size = 1000
"#;

/// All of patrol's settings.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// Shared settings (`nats`, `database`, `grpc`, `metrics`, `runtime`, `telemetry`, `auth`,
    /// `bus`).
    #[serde(flatten)]
    pub common: CommonSettings,
    /// `[patrol]`
    pub patrol: PatrolSettings,
}

/// `[patrol]`
#[derive(Debug, Clone, Deserialize)]
pub struct PatrolSettings {
    /// intake's gRPC address: findings are submitted there as events with source PATROL.
    pub intake_url: String,
    /// How long stored positions (tracks) are kept, hours.
    pub position_retention_hours: u64,
    /// How far ahead of the service's clock a fix may be, seconds (device clock skew).
    pub fix_max_future_secs: u64,
    /// How old a fix may be when it arrives, seconds (devices buffer while offline); also how
    /// long the positions stream keeps a message.
    pub fix_max_age_secs: u64,
    /// The worst device accuracy accepted, metres.
    pub fix_max_accuracy_m: f32,
    /// The fastest believable movement between two fixes, m/s.
    pub fix_max_speed_mps: f64,
    /// A member on an active shift silent this long is offline (`member-offline`), seconds;
    /// also the longest gap between fixes that counts as online time in presence.
    pub offline_after_secs: u64,
    /// A manual check-in needs the device's last position within this distance of the
    /// checkpoint, metres.
    pub checkin_max_distance_m: f64,
    /// … and that position no older than this, seconds.
    pub checkin_max_fix_age_secs: u64,
    /// A stop on a track stays within this radius, metres.
    pub stop_radius_m: f64,
    /// … for at least this long, seconds.
    pub min_stop_secs: u64,
    /// Online minutes a member needs on a day to count as online (上线).
    pub presence_min_minutes: u64,
    /// How often the alarm job looks for what fell due, milliseconds.
    pub ticker_interval_ms: u64,
    /// The most positions taken from the feed in one batch (one transaction).
    pub ingest_batch_size: usize,
}

fn secs(n: u64) -> TimeDelta {
    TimeDelta::seconds(i64::try_from(n).unwrap_or(i64::MAX / 1_000_000).min(i64::MAX / 1_000_000))
}

impl PatrolSettings {
    /// The bounds a fix must keep.
    pub fn limits(&self) -> Limits {
        Limits {
            max_future: secs(self.fix_max_future_secs),
            max_age: secs(self.fix_max_age_secs),
            max_speed_mps: self.fix_max_speed_mps,
            max_accuracy_m: self.fix_max_accuracy_m,
            ..Limits::default()
        }
    }

    /// When a manual check-in is near enough.
    pub fn manual_rule(&self) -> ManualRule {
        ManualRule { max_distance_m: self.checkin_max_distance_m, max_fix_age: secs(self.checkin_max_fix_age_secs) }
    }

    /// What makes a stop.
    pub fn trip_rule(&self) -> TripRule {
        TripRule { stop_radius_m: self.stop_radius_m, min_stop: secs(self.min_stop_secs) }
    }

    /// What counts as online on a day.
    pub fn presence_rule(&self) -> PresenceRule {
        PresenceRule {
            offline_threshold: self.offline_after(),
            min_online: secs(self.presence_min_minutes.saturating_mul(60)),
        }
    }

    /// The offline threshold.
    pub fn offline_after(&self) -> TimeDelta {
        secs(self.offline_after_secs)
    }

    /// How long stored positions are kept.
    pub fn retention(&self) -> TimeDelta {
        secs(self.position_retention_hours.saturating_mul(3600))
    }

    /// How the positions feed is read: messages kept as long as a fix may be late, batches of
    /// `ingest_batch_size`.
    pub fn feed_options(&self) -> FeedOptions {
        FeedOptions {
            max_age: Duration::from_secs(self.fix_max_age_secs.max(60)),
            batch: self.ingest_batch_size.max(1),
        }
    }
}

fn invalid(key: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { key, reason: reason.into() }
}

impl ServiceSettings for Settings {
    const DEFAULTS: &'static str = DEFAULTS;

    fn common(&self) -> &CommonSettings {
        &self.common
    }

    fn check(&self) -> Result<(), ConfigError> {
        let p = &self.patrol;
        if !p.intake_url.starts_with("http://") && !p.intake_url.starts_with("https://") {
            return Err(invalid("patrol.intake_url", format!("`{}` must be an http:// or https:// URL", p.intake_url)));
        }
        let ranges: [(&'static str, u64, u64, u64); 9] = [
            ("patrol.position_retention_hours", p.position_retention_hours, 1, 24 * 3660),
            ("patrol.fix_max_future_secs", p.fix_max_future_secs, 0, 86_400),
            ("patrol.fix_max_age_secs", p.fix_max_age_secs, 60, 30 * 86_400),
            ("patrol.offline_after_secs", p.offline_after_secs, 10, 86_400),
            ("patrol.checkin_max_fix_age_secs", p.checkin_max_fix_age_secs, 1, 86_400),
            ("patrol.min_stop_secs", p.min_stop_secs, 1, 86_400),
            ("patrol.presence_min_minutes", p.presence_min_minutes, 0, 1_440),
            ("patrol.ticker_interval_ms", p.ticker_interval_ms, 10, 60_000),
            ("patrol.ingest_batch_size", p.ingest_batch_size as u64, 1, 10_000),
        ];
        for (key, value, min, max) in ranges {
            if !(min..=max).contains(&value) {
                return Err(invalid(key, format!("must be from {min} to {max}, got {value}")));
            }
        }
        let floats: [(&'static str, f64, f64, f64); 4] = [
            ("patrol.fix_max_accuracy_m", f64::from(p.fix_max_accuracy_m), 1.0, 10_000.0),
            ("patrol.fix_max_speed_mps", p.fix_max_speed_mps, 1.0, 1_000.0),
            ("patrol.checkin_max_distance_m", p.checkin_max_distance_m, 0.0, 10_000.0),
            ("patrol.stop_radius_m", p.stop_radius_m, 1.0, 10_000.0),
        ];
        for (key, value, min, max) in floats {
            if !(value.is_finite() && (min..=max).contains(&value)) {
                return Err(invalid(key, format!("must be from {min} to {max}, got {value}")));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_load_and_check() {
        let s = Settings::from_layers(&["[nats]\nurl = \"nats://x\"\n[database]\nurl = \"postgres://x\"\n"]).unwrap();
        assert!(s.check().is_ok());
        assert_eq!(s.patrol.limits().max_age, TimeDelta::hours(24));
        assert_eq!(s.common.grpc.listen, "0.0.0.0:50055");
    }

    #[test]
    fn a_bad_value_names_its_key() {
        let e = Settings::from_layers(&[
            "[nats]\nurl = \"nats://x\"\n[database]\nurl = \"postgres://x\"\n[patrol]\nticker_interval_ms = 0\n",
        ])
        .unwrap_err();
        assert!(e.to_string().contains("patrol.ticker_interval_ms"));
    }
}
