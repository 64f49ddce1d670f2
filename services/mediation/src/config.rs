//! mediation's settings: the common ones plus `[mediation]`.

use std::collections::BTreeMap;

use civicgrid_kit::{
    config::{CommonSettings, ConfigError, ExposeSecret, Secret, ServiceSettings},
    seal::Cipher,
};
use serde::Deserialize;

use crate::domain::deadlines::Policy;

/// mediation's built-in defaults (see `docs/configuration.md`).
pub const DEFAULTS: &str = r#"
[grpc]
listen = "0.0.0.0:50054"

[mediation]
acceptance_working_days = 3
justice_office_kinds = ["sifa"]
dispatch_url = "http://127.0.0.1:50052"
ticker_interval_ms = 1000
dispatch_retry_ms = 2000

[mediation.dispute_items]
"06.01.001" = "family"
"06.01.002" = "neighbour"
"06.01.003" = "land"
"06.01.004" = "debt"
"06.01.005" = "damages"
"06.01.006" = "land"
"06.01.007" = "family"
"06.01.008" = "family"
"06.02.001" = "labour"
"06.02.002" = "debt"
"06.02.003" = "consumer"
"06.02.004" = "property_management"
"06.02.005" = "land"
"06.02.006" = "medical"
"06.02.007" = "tenancy"
"#;

/// All of mediation's settings.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// Shared settings (`nats`, `database`, `grpc`, `metrics`, `runtime`, `telemetry`, `auth`,
    /// `bus`).
    #[serde(flatten)]
    pub common: CommonSettings,
    /// `[mediation]`
    pub mediation: MediationSettings,
}

/// `[mediation]`
#[derive(Debug, Clone, Deserialize)]
pub struct MediationSettings {
    /// Base64 of the 32-byte AES-256-GCM key that seals parties' names, phones, ID numbers and
    /// addresses. Required; never printed.
    pub pii_key: Option<Secret>,
    /// A directory with `organisations.toml`, `mediators.toml` and `calendar.toml`, read on the
    /// first start only; unset seeds from the shipped demo-city set.
    pub reference_dir: Option<String>,
    /// Working days an organisation has to accept or refuse an application.
    pub acceptance_working_days: u32,
    /// Catalog items that are disputes, and their dispute type: a `task-assigned` of such an
    /// item to a justice office opens a case.
    pub dispute_items: BTreeMap<String, String>,
    /// Department kinds (the part after `<region>-` of a department id) that are justice
    /// offices (司法所).
    pub justice_office_kinds: Vec<String>,
    /// dispatch's gRPC address, to keep the tasks of cases that came from dispatch in step.
    pub dispatch_url: String,
    /// How often the warning job looks for deadlines, in milliseconds.
    pub ticker_interval_ms: u64,
    /// How long the dispatch link waits before it retries a call dispatch did not answer, in
    /// milliseconds (it doubles up to a minute).
    pub dispatch_retry_ms: u64,
}

impl MediationSettings {
    /// The cipher of `pii_key`, or an error naming the key.
    pub fn cipher(&self) -> Result<Cipher, ConfigError> {
        let key = self.pii_key.as_ref().map(|k| k.expose_secret()).filter(|k| !k.is_empty()).ok_or(ConfigError::Missing {
            key: "mediation.pii_key",
            hint: "set CIVICGRID__MEDIATION__PII_KEY to the base64 of 32 random bytes, e.g. `openssl rand -base64 32`",
        })?;
        Cipher::from_base64(key).map_err(|e| ConfigError::Invalid { key: "mediation.pii_key", reason: e.to_string() })
    }

    /// The deadline policy.
    pub fn policy(&self) -> Policy {
        Policy { acceptance_working_days: self.acceptance_working_days.clamp(1, 30), ..Policy::default() }
    }
}

impl ServiceSettings for Settings {
    const DEFAULTS: &'static str = DEFAULTS;

    fn common(&self) -> &CommonSettings {
        &self.common
    }

    fn check(&self) -> Result<(), ConfigError> {
        self.mediation.cipher()?;
        for (item, kind) in &self.mediation.dispute_items {
            if crate::reference::dispute_type_of(kind).is_none() {
                return Err(ConfigError::Invalid {
                    key: "mediation.dispute_items",
                    reason: format!("item {item}: `{kind}` is not a dispute type"),
                });
            }
        }
        if !self.mediation.dispatch_url.starts_with("http://") && !self.mediation.dispatch_url.starts_with("https://") {
            return Err(ConfigError::Invalid {
                key: "mediation.dispatch_url",
                reason: format!("`{}` must be an http:// or https:// URL", self.mediation.dispatch_url),
            });
        }
        Ok(())
    }
}
