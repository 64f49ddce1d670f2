//! dispatch's settings: the common ones plus `[dispatch]`.

use civicgrid_kit::config::{CommonSettings, ConfigError, ServiceSettings};
use serde::Deserialize;

/// dispatch's built-in defaults (see `docs/configuration.md`).
pub const DEFAULTS: &str = r#"
[grpc]
listen = "0.0.0.0:50052"

[dispatch]
ticker_interval_ms = 200
ticker_batch = 500
escalation_grace = 0.5
watch_poll_ms = 250
"#;

/// All of dispatch's settings.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// Shared settings (`nats`, `database`, `grpc`, `telemetry`, `auth`, `bus`).
    #[serde(flatten)]
    pub common: CommonSettings,
    /// `[dispatch]`
    pub dispatch: DispatchSettings,
}

/// `[dispatch]`
#[derive(Debug, Clone, Deserialize)]
pub struct DispatchSettings {
    /// A directory with `catalog.toml`, `regions.toml`, `departments.toml` and `calendar.toml`;
    /// unset uses the example dataset compiled in.
    pub reference_dir: Option<String>,
    /// How often the warning ticker looks for due colour changes, in milliseconds.
    pub ticker_interval_ms: u64,
    /// Tasks the ticker handles per round.
    pub ticker_batch: i64,
    /// Share of its limit an overdue (orange) task may run over before it escalates (red);
    /// 0 escalates at the deadline.
    pub escalation_grace: f64,
    /// How often a WatchTasks stream polls for changes made by other replicas, in milliseconds.
    pub watch_poll_ms: u64,
}

impl ServiceSettings for Settings {
    const DEFAULTS: &'static str = DEFAULTS;

    fn common(&self) -> &CommonSettings {
        &self.common
    }

    fn check(&self) -> Result<(), ConfigError> {
        let grace = self.dispatch.escalation_grace;
        if !(0.0..=10.0).contains(&grace) {
            return Err(ConfigError::Invalid {
                key: "dispatch.escalation_grace",
                reason: format!("{grace}: must be from 0 to 10 (a share of the limit)"),
            });
        }
        Ok(())
    }
}
