//! Layered configuration: built-in defaults → an optional TOML file → environment variables.
//!
//! Every service's settings are a [`CommonSettings`] plus its own section. Environment variables
//! use the prefix `CIVICGRID` and `__` between keys: `CIVICGRID__DATABASE__URL`,
//! `CIVICGRID__INTAKE__DUPLICATE_RADIUS_M`. A variable with the service's name in its prefix,
//! `CIVICGRID_INTAKE__GRPC__LISTEN`, applies to that service only and wins over the shared one:
//! several services in one process (`civicgrid service intake dispatch`) share an environment.
//! The TOML file is named by `CIVICGRID_CONFIG` (or the `--config` flag of the binary). Every key
//! is documented in `docs/configuration.md`.

use std::path::Path;

pub use secrecy::{ExposeSecret, SecretString as Secret};
use serde::{Deserialize, de::DeserializeOwned};

/// Defaults shared by every service, embedded so a binary runs with nothing but the URLs.
pub const COMMON_DEFAULTS: &str = r#"
[nats]
stream_replicas = 1
stream_max_age_days = 90
duplicate_window_secs = 600

[database]
max_connections = 20
acquire_timeout_secs = 5

[grpc]
listen = "0.0.0.0:50051"

[metrics]
listen = "0.0.0.0:9090"

[runtime]
drain_timeout_secs = 25
health_interval_ms = 1000

[telemetry]
log = "info"
log_format = "text"

[auth]

[bus]
relay_batch_size = 500
relay_batches_in_flight = 2
relay_poll_ms = 1000
outbox_vacuum_rows = 1000
consumer_batch_size = 200
linger_ms = 2
max_deliver = 5
ack_wait_secs = 30
retry_backoff_ms = 1000
inbox_retention_days = 14
audit_retention_days = 190
"#;

/// Why settings could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A source could not be read or a value has the wrong type.
    #[error("configuration: {0}")]
    Load(#[from] config::ConfigError),
    /// A required key has no value.
    #[error("configuration: `{key}` is required ({hint})")]
    Missing {
        /// The dotted key, e.g. `database.url`.
        key: &'static str,
        /// How to provide it.
        hint: &'static str,
    },
    /// A value is present but unusable.
    #[error("configuration: `{key}` is invalid: {reason}")]
    Invalid {
        /// The dotted key.
        key: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// Settings every service has.
#[derive(Debug, Clone, Deserialize)]
pub struct CommonSettings {
    /// NATS connection and stream settings.
    pub nats: NatsSettings,
    /// PostgreSQL connection settings.
    pub database: DatabaseSettings,
    /// gRPC listener.
    pub grpc: GrpcSettings,
    /// Prometheus metrics listener.
    pub metrics: MetricsSettings,
    /// Health checks and the drain at shutdown.
    pub runtime: RuntimeSettings,
    /// Logs and traces.
    pub telemetry: TelemetrySettings,
    /// Bearer-token checking.
    pub auth: AuthSettings,
    /// Outbox relay and inbox consumer tuning.
    pub bus: BusSettings,
}

/// `[nats]`
#[derive(Debug, Clone, Deserialize)]
pub struct NatsSettings {
    /// Server URL(s), comma separated, e.g. `nats://nats:4222`. Required.
    pub url: Option<String>,
    /// A NATS credentials file (user JWT + seed), when the server requires one.
    pub credentials_file: Option<String>,
    /// User name, when the server uses user/password authorization.
    pub user: Option<String>,
    /// Password for `user` (never printed).
    pub password: Option<Secret>,
    /// Replicas of the streams this service creates (1 single node, 3 in a cluster).
    pub stream_replicas: usize,
    /// How long streams keep messages, in days.
    pub stream_max_age_days: u64,
    /// JetStream duplicate window in seconds; must cover a publisher's retries.
    pub duplicate_window_secs: u64,
}

impl NatsSettings {
    /// The configured URL, or an error naming the key.
    pub fn require_url(&self) -> Result<&str, ConfigError> {
        self.url.as_deref().filter(|u| !u.is_empty()).ok_or(ConfigError::Missing {
            key: "nats.url",
            hint: "set CIVICGRID__NATS__URL, e.g. nats://127.0.0.1:4222",
        })
    }
}

/// `[database]`
#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    /// PostgreSQL URL, e.g. `postgres://intake@db:5432/civicgrid`. Required. Kept secret (it
    /// may hold a password): it never prints in `Debug` or logs.
    pub url: Option<Secret>,
    /// The schema the service works in; defaults to the service name.
    pub schema: Option<String>,
    /// Pool size.
    pub max_connections: u32,
    /// How long a request waits for a pooled connection, in seconds.
    pub acquire_timeout_secs: u64,
}

impl DatabaseSettings {
    /// The configured URL, or an error naming the key.
    pub fn require_url(&self) -> Result<&str, ConfigError> {
        self.url.as_ref().map(|u| u.expose_secret()).filter(|u| !u.is_empty()).ok_or(ConfigError::Missing {
            key: "database.url",
            hint: "set CIVICGRID__DATABASE__URL, e.g. postgres://postgres@127.0.0.1:5432/civicgrid",
        })
    }
}

/// `[grpc]`
#[derive(Debug, Clone, Deserialize)]
pub struct GrpcSettings {
    /// Listen address, e.g. `0.0.0.0:50051`; port 0 picks a free port.
    pub listen: String,
    /// The server's certificate chain (PEM). With `tls_key_file`, the server speaks only TLS;
    /// the service's calls to other services present it as the client certificate too.
    #[serde(default)]
    pub tls_cert_file: Option<std::path::PathBuf>,
    /// The private key of `tls_cert_file` (PEM).
    #[serde(default)]
    pub tls_key_file: Option<std::path::PathBuf>,
    /// mTLS: only callers with a certificate signed by this CA (PEM) are served.
    #[serde(default)]
    pub tls_client_ca_file: Option<std::path::PathBuf>,
    /// The CA (PEM) that signed the other services' certificates, for this service's calls to
    /// them at `https://` URLs.
    #[serde(default)]
    pub tls_ca_file: Option<std::path::PathBuf>,
}

/// `[metrics]`
#[derive(Debug, Clone, Deserialize)]
pub struct MetricsSettings {
    /// Where Prometheus scrapes `GET /metrics`, e.g. `0.0.0.0:9090`; port 0 picks a free port.
    pub listen: String,
}

/// `[runtime]`
#[derive(Debug, Clone, Deserialize)]
pub struct RuntimeSettings {
    /// The whole graceful stop (in-flight calls, consumers, jobs, the outbox's last flush) must
    /// end within this many seconds; what is still running then is abandoned (its work is
    /// redelivered or republished after the next start). Keep it below the orchestrator's
    /// grace period (Kubernetes: `terminationGracePeriodSeconds`, 30 by default).
    pub drain_timeout_secs: u64,
    /// How often health checks PostgreSQL and NATS, in milliseconds. While either is
    /// unreachable, health answers NOT_SERVING and calls answer UNAVAILABLE at once.
    pub health_interval_ms: u64,
}

/// Declares an enumerated setting: the enum, `as_str`, and a `Deserialize` whose error names
/// the setting's key and the values it takes (serde's own message loses the key inside the
/// flattened settings).
///
/// ```
/// civicgrid_kit::setting_enum! {
///     /// How fast.
///     pub enum Speed("demo.speed") {
///         /// Slowly.
///         Slow = "slow",
///         /// Quickly.
///         Fast = "fast",
///     }
/// }
/// assert_eq!(Speed::Fast.as_str(), "fast");
/// ```
#[macro_export]
macro_rules! setting_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident($key:literal) {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// The setting's key.
            pub const KEY: &'static str = $key;

            /// The value as written in configuration.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text ),+
                }
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <String as ::serde::Deserialize>::deserialize(deserializer)?;
                match text.as_str() {
                    $( $text => Ok($name::$variant), )+
                    other => Err(<D::Error as ::serde::de::Error>::custom(format!(
                        "`{}` is invalid: `{}`; use {}",
                        $key,
                        other,
                        [$($text),+].join(" or ")
                    ))),
                }
            }
        }
    };
}

setting_enum! {
    /// How logs are written (`telemetry.log_format`).
    pub enum LogFormat("telemetry.log_format") {
        /// Human-readable lines.
        Text = "text",
        /// One JSON object per line.
        Json = "json",
    }
}

/// `[telemetry]`
#[derive(Debug, Clone, Deserialize)]
pub struct TelemetrySettings {
    /// `tracing` filter directives, e.g. `info,civicgrid_intake=debug`. `RUST_LOG` overrides.
    pub log: String,
    /// `text` or `json`.
    pub log_format: LogFormat,
    /// OTLP gRPC endpoint for traces, e.g. `http://otel-collector:4317`; unset disables export.
    pub otlp_endpoint: Option<String>,
}

/// `[auth]`
#[derive(Debug, Clone, Deserialize)]
pub struct AuthSettings {
    /// HS256 secret that signs bearer tokens. Unset disables authentication (development only:
    /// every caller then acts as an administrator, and the service says so at start-up).
    pub hs256_secret: Option<Secret>,
    /// Required `iss` claim, when set.
    pub issuer: Option<String>,
    /// Required `aud` claim, when set.
    pub audience: Option<String>,
    /// Seconds a token is still accepted after its `exp` (clock skew allowance); 0 by default.
    #[serde(default)]
    pub leeway_secs: u64,
    /// The identity provider's public keys (a JWKS file) for RS256/ES256 tokens.
    #[serde(default)]
    pub jwks_file: Option<std::path::PathBuf>,
    /// …or the URL they are fetched from (and fetched again: `jwks_refresh_secs`).
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// How often the JWKS URL is fetched again, in seconds (and soon after an unknown key id).
    #[serde(default = "default_jwks_refresh_secs")]
    pub jwks_refresh_secs: u64,
    /// Failed authentications a client address may make per minute before its calls with bad
    /// tokens are answered RESOURCE_EXHAUSTED (0: no limit).
    #[serde(default = "default_failed_per_minute")]
    pub failed_per_minute: u32,
}

fn default_failed_per_minute() -> u32 {
    30
}

impl Default for AuthSettings {
    /// No keys, so no checking (development), with the documented defaults.
    fn default() -> Self {
        AuthSettings {
            hs256_secret: None,
            issuer: None,
            audience: None,
            leeway_secs: 0,
            jwks_file: None,
            jwks_url: None,
            jwks_refresh_secs: default_jwks_refresh_secs(),
            failed_per_minute: default_failed_per_minute(),
        }
    }
}

fn default_jwks_refresh_secs() -> u64 {
    300
}

/// `[bus]`
#[derive(Debug, Clone, Deserialize)]
pub struct BusSettings {
    /// Outbox rows the relay publishes per batch.
    pub relay_batch_size: i64,
    /// Batches the relay keeps between send and commit while it works off a backlog: the next
    /// batch is sent while the acks of the previous one come back (1: one batch at a time).
    pub relay_batches_in_flight: usize,
    /// The relay's safety-net poll interval in milliseconds (it is woken on every commit).
    pub relay_poll_ms: u64,
    /// Rows the relay removes from the outbox between two vacuums of it (0: never; autovacuum
    /// alone). See `bus/vacuum.rs`.
    pub outbox_vacuum_rows: u64,
    /// Messages a consumer fetches and applies per transaction.
    pub consumer_batch_size: usize,
    /// How long, in milliseconds, a consumer that has a message waits for more before it
    /// applies them, and a woken relay waits before it reads the outbox (0: not at all). When
    /// messages trickle in, each would otherwise be a transaction (and a WAL flush) of its own;
    /// a short wait lets a few share one, at most this much latency per hop.
    pub linger_ms: u64,
    /// Deliveries of a message before it goes to the dead-letter subject.
    pub max_deliver: i64,
    /// Seconds JetStream waits for an ack before redelivering.
    pub ack_wait_secs: u64,
    /// Delay before a failed message is redelivered, in milliseconds (doubles each try).
    pub retry_backoff_ms: u64,
    /// How long applied message ids are remembered, in days. A message redelivered later than
    /// this (only by replaying a consumer by hand) would be applied again.
    pub inbox_retention_days: u64,
    /// How long the audit trail keeps a record, in days; at least 180 (six months), which the
    /// database itself enforces (crates/kit/src/audit).
    pub audit_retention_days: u64,
}

/// A service's settings: the [`CommonSettings`] every service has (flattened) plus its own
/// section, with the service's defaults.
pub trait ServiceSettings: DeserializeOwned + std::fmt::Debug + Clone + Send + Sync + 'static {
    /// The service's own defaults (TOML), layered over [`COMMON_DEFAULTS`].
    const DEFAULTS: &'static str;

    /// The settings every service has.
    fn common(&self) -> &CommonSettings;

    /// Checks what deserialising cannot (a key a provider needs, a value's range). Errors name
    /// the key.
    fn check(&self) -> Result<(), ConfigError> {
        Ok(())
    }

    /// Loads defaults → `file` (or `CIVICGRID_CONFIG`) → environment (`CIVICGRID__…`, then
    /// `CIVICGRID_<SERVICE>__…`), then [`check`](Self::check)s.
    /// The servers' URLs are required here too, so that a process of several services stops
    /// before any of them starts when one lacks them.
    fn load(service: &str, file: Option<&Path>) -> Result<Self, ConfigError> {
        let settings: Self = load_for(service, Self::DEFAULTS, file)?;
        settings.common().nats.require_url()?;
        settings.common().database.require_url()?;
        settings.common().auth.refuse_placeholder()?;
        settings.check()?;
        Ok(settings)
    }

    /// Settings from the defaults and TOML `layers` only, then checked: for tests, which must
    /// not be steered by the variables of the shell that runs them.
    fn from_layers(layers: &[&str]) -> Result<Self, ConfigError> {
        let mut all = vec![Self::DEFAULTS];
        all.extend_from_slice(layers);
        let settings: Self = from_toml(&all)?;
        settings.check()?;
        Ok(settings)
    }
}

/// How the shipped templates (deploy/systemd/civicgrid.env, deploy/k8s/base/secrets) mark a
/// value to replace.
pub const PLACEHOLDER: &str = "CHANGE-ME";

impl AuthSettings {
    /// Refuses a token secret left at a template's placeholder: unlike a key or a password, a
    /// placeholder secret would work — and anyone who read the template could sign tokens.
    pub fn refuse_placeholder(&self) -> Result<(), ConfigError> {
        match &self.hs256_secret {
            Some(s) if s.expose_secret().starts_with(PLACEHOLDER) => Err(ConfigError::Invalid {
                key: "auth.hs256_secret",
                reason: format!(
                    "still the template's {PLACEHOLDER}…: set a secret of your own (`openssl rand -base64 32`)"
                ),
            }),
            _ => Ok(()),
        }
    }
}

/// Loads settings of type `T` from `defaults` (TOML), then `file` when given, then the
/// environment. `T` normally flattens [`CommonSettings`] and adds the service's section.
pub fn load<T: DeserializeOwned>(defaults: &str, file: Option<&Path>) -> Result<T, ConfigError> {
    Ok(builder(defaults, file, None).build()?.try_deserialize()?)
}

/// As [`load`], for service `service`: variables named `CIVICGRID_<SERVICE>__…` come last and
/// win over `CIVICGRID__…` (the service's own listeners, database login, keys when several
/// services run in one process).
pub fn load_for<T: DeserializeOwned>(service: &str, defaults: &str, file: Option<&Path>) -> Result<T, ConfigError> {
    load_for_env(service, defaults, file, None)
}

/// As [`load_for`], with the variables of `env` in place of the process's environment when
/// given (tests: the process's environment is shared by every test thread).
fn load_for_env<T: DeserializeOwned>(
    service: &str,
    defaults: &str,
    file: Option<&Path>,
    env: Option<config::Map<String, String>>,
) -> Result<T, ConfigError> {
    let own = service_env_prefix(service);
    let builder = builder(defaults, file, env.clone()).add_source(
        config::Environment::with_prefix(&own).prefix_separator("__").separator("__").try_parsing(true).source(env),
    );
    Ok(builder.build()?.try_deserialize()?)
}

/// `intake` → `CIVICGRID_INTAKE`: the prefix (before `__`) of the variables that apply to one
/// service only.
pub fn service_env_prefix(service: &str) -> String {
    format!("CIVICGRID_{}", service.replace('-', "_").to_ascii_uppercase())
}

/// Defaults → file → the shared environment (`env` in place of the process's, when given).
fn builder(
    defaults: &str,
    file: Option<&Path>,
    env: Option<config::Map<String, String>>,
) -> config::ConfigBuilder<config::builder::DefaultState> {
    let mut builder = config::Config::builder()
        .add_source(config::File::from_str(COMMON_DEFAULTS, config::FileFormat::Toml))
        .add_source(config::File::from_str(defaults, config::FileFormat::Toml));
    let named = match &env {
        Some(env) => env.get("CIVICGRID_CONFIG").cloned(),
        None => std::env::var("CIVICGRID_CONFIG").ok(),
    };
    if let Some(path) = file {
        builder = builder.add_source(config::File::from(path).required(true));
    } else if let Some(path) = named {
        builder = builder.add_source(config::File::with_name(&path).required(true));
    }
    builder.add_source(
        config::Environment::with_prefix("CIVICGRID")
            .prefix_separator("__")
            .separator("__")
            .try_parsing(true)
            .source(env),
    )
}

/// Settings from TOML layers only (no file, no environment): for tests, which must not be
/// steered by the variables of the shell that runs them.
pub fn from_toml<T: DeserializeOwned>(layers: &[&str]) -> Result<T, ConfigError> {
    let mut builder =
        config::Config::builder().add_source(config::File::from_str(COMMON_DEFAULTS, config::FileFormat::Toml));
    for layer in layers {
        builder = builder.add_source(config::File::from_str(layer, config::FileFormat::Toml));
    }
    Ok(builder.build()?.try_deserialize()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct S {
        #[serde(flatten)]
        common: CommonSettings,
        demo: Demo,
    }
    #[derive(Debug, Deserialize)]
    struct Demo {
        radius: f64,
    }

    #[test]
    fn defaults_then_file_layering() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "[demo]\nradius = 75.0\n[grpc]\nlisten = \"127.0.0.1:1\"\n").unwrap();
        let s: S = load("[demo]\nradius = 50.0\n", Some(&file)).unwrap();
        assert_eq!(s.demo.radius, 75.0);
        assert_eq!(s.common.grpc.listen, "127.0.0.1:1");
        assert_eq!(s.common.bus.max_deliver, 5);
        assert!(s.common.database.require_url().is_err() || s.common.database.url.is_some());
    }

    #[test]
    fn a_service_own_variables_win_over_the_shared_ones() {
        let env: config::Map<String, String> = [
            ("CIVICGRID__GRPC__LISTEN", "127.0.0.1:1"),
            ("CIVICGRID__METRICS__LISTEN", "127.0.0.1:9"),
            ("CIVICGRID_CFGTEST_A__GRPC__LISTEN", "127.0.0.1:7"),
            ("CIVICGRID_CFGTEST_A__DEMO__RADIUS", "20.5"),
            ("CIVICGRID_LIFE", "3"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let load = |service: &str| load_for_env::<S>(service, "[demo]\nradius = 1.0\n", None, Some(env.clone()));
        let (a, b) = (load("cfgtest-a").unwrap(), load("cfgtest-b").unwrap());
        assert_eq!((a.demo.radius, a.common.grpc.listen.as_str()), (20.5, "127.0.0.1:7"), "its own win");
        assert_eq!((b.demo.radius, b.common.grpc.listen.as_str()), (1.0, "127.0.0.1:1"), "another's do not apply");
        assert_eq!(a.common.metrics.listen, "127.0.0.1:9", "a shared variable applies to both");
        assert_eq!(service_env_prefix("cfgtest-a"), "CIVICGRID_CFGTEST_A");
    }

    #[test]
    fn a_token_secret_left_at_the_placeholder_is_refused() {
        let with =
            |secret: &str| from_toml::<S>(&[&format!("[demo]\nradius = 1.0\n[auth]\nhs256_secret = \"{secret}\"\n")]);
        let err = with("CHANGE-ME").unwrap().common.auth.refuse_placeholder().unwrap_err().to_string();
        assert!(err.contains("auth.hs256_secret") && err.contains("CHANGE-ME"), "{err}");
        assert!(with("a-real-secret").unwrap().common.auth.refuse_placeholder().is_ok());
        assert!(from_toml::<S>(&["[demo]\nradius = 1.0\n"]).unwrap().common.auth.refuse_placeholder().is_ok());
    }

    #[test]
    fn secrets_never_print() {
        let s: S = from_toml(&[
            "[demo]\nradius = 1.0\n[database]\nurl = \"postgres://u:hunter2@db/x\"\n[auth]\nhs256_secret = \"s3cr3t-value\"\n\
             [nats]\nuser = \"u\"\npassword = \"natspw-123\"\n",
        ])
        .unwrap();
        let printed = format!("{:?}", s.common);
        for secret in ["hunter2", "s3cr3t-value", "natspw-123"] {
            assert!(!printed.contains(secret), "{secret} printed in {printed}");
        }
        assert_eq!(s.common.database.require_url().unwrap(), "postgres://u:hunter2@db/x");
    }

    #[test]
    fn an_unknown_enumerated_value_names_its_key() {
        let err = from_toml::<S>(&["[demo]\nradius = 1.0\n[telemetry]\nlog_format = \"yaml\"\n"]).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("telemetry.log_format") && text.contains("yaml"), "{text}");
    }
}
