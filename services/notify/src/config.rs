//! notify's settings: the common ones plus `[notify]` and `[notify.sms]`.

use chrono::FixedOffset;
use civicgrid_kit::{
    config::{CommonSettings, ConfigError, ExposeSecret, Secret, ServiceSettings},
    seal::Cipher,
};
use serde::Deserialize;

/// notify's built-in defaults (see `docs/configuration.md`).
pub const DEFAULTS: &str = r#"
[grpc]
listen = "0.0.0.0:50053"

[notify]
utc_offset = "+08:00"
default_locale = "zh-CN"
worker_interval_ms = 100
worker_batch = 500
worker_concurrency = 64
claim_lease_secs = 120
max_attempts = 12
retry_initial_ms = 1000
retry_max_secs = 900
webhook_timeout_ms = 5000
breaker_failures = 5
breaker_open_secs = 60
watch_poll_ms = 250
max_fact_age_hours = 24
allow_private_webhooks = false

[notify.sms]
provider = "log"
timeout_ms = 5000
"#;

/// All of notify's settings.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// Shared settings (`nats`, `database`, `grpc`, `telemetry`, `auth`, `bus`).
    #[serde(flatten)]
    pub common: CommonSettings,
    /// `[notify]`
    pub notify: NotifySettings,
}

/// `[notify]`
#[derive(Debug, Clone, Deserialize)]
pub struct NotifySettings {
    /// A rules-and-templates TOML file; unset uses the rules compiled in
    /// (`services/notify/data/rules.toml`).
    pub rules_file: Option<String>,
    /// The platform's offset from UTC, for quiet hours and the times written into messages.
    pub utc_offset: String,
    /// The language of recipients without a preference: "zh-CN" or "en".
    pub default_locale: Locale,
    /// base64 of 32 random bytes: seals recipients' phone numbers at rest. Required; never
    /// printed.
    pub contact_key: Option<Secret>,
    /// How often the delivery worker looks for due deliveries, in milliseconds (it is also woken
    /// whenever new deliveries are committed).
    pub worker_interval_ms: u64,
    /// Deliveries claimed per round.
    pub worker_batch: i64,
    /// Calls in flight at once (webhook and SMS).
    pub worker_concurrency: usize,
    /// How long a claimed delivery stays reserved for the replica that claimed it; after a crash
    /// another replica takes it over once this has passed.
    pub claim_lease_secs: i64,
    /// Attempts per delivery before it fails for good (a dead-letter record and `notify-failed`).
    pub max_attempts: i32,
    /// The delay before the second attempt, in milliseconds; later ones double, with jitter.
    pub retry_initial_ms: u64,
    /// The longest delay between attempts, in seconds.
    pub retry_max_secs: u64,
    /// How long a webhook call may take, in milliseconds.
    pub webhook_timeout_ms: u64,
    /// Failed calls in a row that open an endpoint's circuit.
    pub breaker_failures: i32,
    /// How long an open circuit holds calls back before one trial call, in seconds.
    pub breaker_open_secs: i64,
    /// How often a WatchInbox stream polls for notifications made by other replicas, in ms.
    pub watch_poll_ms: u64,
    /// Facts older than this (by their own time) notify nobody; they still teach notify who
    /// reported each event. Keeps a first start, or a replayed stream, from announcing the past.
    /// 0 announces every fact however old.
    pub max_fact_age_hours: i64,
    /// Accept webhook URLs on loopback, private and link-local addresses (and `localhost`).
    /// Off by default, so a caller cannot point notify at the cluster's own services; `civicgrid
    /// up` and the tests turn it on for their loopback receivers.
    pub allow_private_webhooks: bool,
    /// `[notify.sms]`
    pub sms: SmsSettings,
}

civicgrid_kit::setting_enum! {
    /// A language notify writes in (`notify.default_locale`).
    pub enum Locale("notify.default_locale") {
        /// Simplified Chinese.
        ZhCn = "zh-CN",
        /// English.
        En = "en",
    }
}

civicgrid_kit::setting_enum! {
    /// Where SMS messages go (`notify.sms.provider`).
    pub enum SmsProvider("notify.sms.provider") {
        /// Development: the message is written to the log.
        Log = "log",
        /// A provider's HTTP API (`notify.sms.url`).
        Http = "http",
    }
}

/// `[notify.sms]`: the SMS gateway.
#[derive(Debug, Clone, Deserialize)]
pub struct SmsSettings {
    /// `log` (development: writes the message to the log) or `http` (a provider's HTTP API).
    pub provider: SmsProvider,
    /// For `http`: the URL messages are POSTed to as JSON `{"to", "text", "reference"}`.
    pub url: Option<String>,
    /// For `http`: the value of the `Authorization` header, e.g. "Bearer …"; never printed.
    pub authorization: Option<Secret>,
    /// For "http": how long a call may take, in milliseconds.
    pub timeout_ms: u64,
}

impl ServiceSettings for Settings {
    const DEFAULTS: &'static str = DEFAULTS;

    fn common(&self) -> &CommonSettings {
        &self.common
    }

    fn check(&self) -> Result<(), ConfigError> {
        self.cipher()?;
        self.utc_offset()?;
        if self.notify.sms.provider == SmsProvider::Http && self.notify.sms.url.as_deref().is_none_or(str::is_empty) {
            return Err(ConfigError::Missing { key: "notify.sms.url", hint: "the HTTP SMS gateway needs its URL" });
        }
        Ok(())
    }
}

impl Settings {
    /// The cipher of `notify.contact_key`, or an error naming the key.
    pub fn cipher(&self) -> Result<Cipher, ConfigError> {
        let key =
            self.notify.contact_key.as_ref().map(|k| k.expose_secret()).filter(|k| !k.is_empty()).ok_or(ConfigError::Missing {
                key: "notify.contact_key",
                hint: "set CIVICGRID__NOTIFY__CONTACT_KEY to the base64 of 32 random bytes, e.g. `openssl rand -base64 32`",
            })?;
        Cipher::from_base64(key).map_err(|e| ConfigError::Invalid { key: "notify.contact_key", reason: e.to_string() })
    }

    /// The `Authorization` header of the HTTP SMS gateway; an empty value (an unset key in a
    /// Secret) means none.
    pub fn sms_authorization(&self) -> Option<String> {
        self.notify.sms.authorization.as_ref().map(|a| a.expose_secret().trim().to_string()).filter(|a| !a.is_empty())
    }

    /// The platform's offset from UTC.
    pub fn utc_offset(&self) -> Result<FixedOffset, ConfigError> {
        self.notify.utc_offset.parse::<FixedOffset>().map_err(|_| ConfigError::Invalid {
            key: "notify.utc_offset",
            reason: format!("`{}` is not an offset like +08:00", self.notify.utc_offset),
        })
    }
}
