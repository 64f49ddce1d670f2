//! intake's settings: the common ones plus `[intake]`.

use chrono::FixedOffset;
use civicgrid_kit::config::{CommonSettings, ConfigError, ExposeSecret, Secret, ServiceSettings};
use serde::Deserialize;

use crate::pii::PiiCipher;

/// intake's built-in defaults (see `docs/configuration.md`).
pub const DEFAULTS: &str = r#"
[intake]
duplicate_radius_m = 50.0
duplicate_window_hours = 72
tracking_utc_offset = "+08:00"
idempotency_retention_days = 7
pii_retention_days = 365
housekeeping_interval_secs = 600
batch_max = 128
batch_window_ms = 1
batch_writers = 2
failed_lookups_per_minute = 30
failed_lookups_per_number_per_hour = 10

[intake.open311]
listen = ""
default_region = ""
catalog_file = ""
private_categories = "06,15,16,17,18"
"#;

/// All of intake's settings.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// Shared settings (`nats`, `database`, `grpc`, `telemetry`, `auth`, `bus`).
    #[serde(flatten)]
    pub common: CommonSettings,
    /// `[intake]`
    pub intake: IntakeSettings,
}

/// `[intake]`
#[derive(Debug, Clone, Deserialize)]
pub struct IntakeSettings {
    /// Base64 of the 32-byte AES-256-GCM key that encrypts reporter PII. Required; never
    /// printed.
    pub pii_key: Option<Secret>,
    /// A report within this many metres of an open event of the same item is merged into it.
    pub duplicate_radius_m: f64,
    /// ... if that event was reported within this many hours.
    pub duplicate_window_hours: i64,
    /// The platform's time zone for tracking-number days, as a UTC offset like `+08:00`.
    pub tracking_utc_offset: String,
    /// How long the answer to a `request_id` is kept for retries, in days.
    pub idempotency_retention_days: i64,
    /// Days after an event is closed before its reporters' personal data (name, phone, masked
    /// phone, account) is erased by the housekeeping job.
    pub pii_retention_days: i64,
    /// How often the housekeeping job runs, in seconds.
    pub housekeeping_interval_secs: u64,
    /// Group commit: the most submissions written in one transaction.
    pub batch_max: usize,
    /// Group commit: how long a writer holding fewer than `batch_max` submissions waits for
    /// more when none are queued, in milliseconds (0: never waits).
    pub batch_window_ms: u64,
    /// Group commit: how many batches may be written at once.
    pub batch_writers: usize,
    /// Failed lookups by tracking number (NOT_FOUND of GetEventByTrackingNumber and
    /// RateOutcome, 404 of Open311's `GET requests/{id}`) one client address may make per
    /// minute, a burst of as many refilled evenly; past it, RESOURCE_EXHAUSTED. 0: no limit.
    pub failed_lookups_per_minute: u32,
    /// Failed lookups with a proof (`phone_last4`) of one tracking number per hour, from all
    /// clients together; past it, RESOURCE_EXHAUSTED. 0: no limit.
    pub failed_lookups_per_number_per_hour: u32,
    /// `[intake.open311]`: the Open311 GeoReport v2 facade.
    pub open311: Open311Settings,
}

/// `[intake.open311]`: the Open311 GeoReport v2 HTTP facade (docs/open311.md).
#[derive(Debug, Clone, Deserialize)]
pub struct Open311Settings {
    /// Where the facade listens, e.g. `0.0.0.0:8311`; empty: not served.
    pub listen: String,
    /// The keys that may POST requests: comma-separated `<channel>:<source>:<key>` entries.
    /// Never printed.
    pub api_keys: Option<Secret>,
    /// The region (county, township or village code) of a request without `address_id`;
    /// empty: `address_id` is required.
    pub default_region: String,
    /// A `catalog.toml` in dispatch's format whose items are the services; empty: the catalog
    /// shipped with dispatch (`services/dispatch/data/catalog.toml`).
    pub catalog_file: String,
    /// Comma-separated category codes whose requests are never listed, and shown without
    /// description, place or media by id.
    pub private_categories: String,
}

impl IntakeSettings {
    /// The group-commit settings.
    pub fn batch(&self) -> crate::batcher::BatchSettings {
        crate::batcher::BatchSettings {
            max: self.batch_max.max(1),
            window: std::time::Duration::from_millis(self.batch_window_ms),
            writers: self.batch_writers.max(1),
        }
    }

    /// The failed-lookup budgets.
    pub fn lookup_limits(&self) -> crate::lookups::LookupLimits {
        crate::lookups::LookupLimits {
            per_client_per_minute: self.failed_lookups_per_minute,
            per_number_per_hour: self.failed_lookups_per_number_per_hour,
        }
    }

    /// The cipher of `pii_key`, or an error naming the key.
    pub fn cipher(&self) -> Result<PiiCipher, ConfigError> {
        let key =
            self.pii_key.as_ref().map(|k| k.expose_secret()).filter(|k| !k.is_empty()).ok_or(ConfigError::Missing {
                key: "intake.pii_key",
                hint: "set CIVICGRID__INTAKE__PII_KEY to the base64 of 32 random bytes, e.g. `openssl rand -base64 32`",
            })?;
        PiiCipher::from_base64(key).map_err(|e| ConfigError::Invalid { key: "intake.pii_key", reason: e.to_string() })
    }

    /// The tracking time zone.
    pub fn offset(&self) -> Result<FixedOffset, ConfigError> {
        self.tracking_utc_offset.parse::<FixedOffset>().map_err(|e| ConfigError::Invalid {
            key: "intake.tracking_utc_offset",
            reason: format!("`{}`: {e}; write it like +08:00", self.tracking_utc_offset),
        })
    }
}

impl ServiceSettings for Settings {
    const DEFAULTS: &'static str = DEFAULTS;

    fn common(&self) -> &CommonSettings {
        &self.common
    }

    fn check(&self) -> Result<(), ConfigError> {
        self.intake.cipher()?;
        self.intake.offset()?;
        crate::open311::check(&self.intake.open311)?;
        Ok(())
    }
}
