//! The command center's console (一屏统揽): one web page with the city's map coloured by
//! warnings, the triage queue, what is overdue and escalated, KPI tiles, the live feed of every
//! service's facts and an event's history by tracking number. See docs/console.md.
//!
//! The console owns no data. It reads the services' streams into an in-memory read model
//! ([`projection`], fed by [`follow`]), draws the map from the city's own geometry file
//! ([`atlas`]) and calls the services' public gRPC APIs ([`clients`]) with the caller's token
//! for figures and actions. A restart replays the streams.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let settings = civicgrid_console::Settings::load(None)?;
//! let console = civicgrid_console::Console::build(settings).await?;
//! println!("console on http://{}", console.local_addr());
//! console.run_until_stopped(civicgrid_kit::Shutdown::new()).await?;
//! # Ok(()) }
//! ```

use std::{net::SocketAddr, path::Path, sync::Arc};

use civicgrid_kit::{
    Shutdown,
    auth::Authenticator,
    config::{AuthSettings, ConfigError, NatsSettings, TelemetrySettings},
};
use serde::Deserialize;
use tokio::sync::{RwLock, broadcast};

pub mod atlas;
pub mod clients;
pub mod follow;
pub mod http;
pub mod projection;

/// The console's settings: `[nats]` and `[auth]` as every service has them, and `[console]`.
/// Environment variables `CIVICGRID__CONSOLE__LISTEN` etc. override the file.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// Where the streams are.
    pub nats: NatsSettings,
    /// Bearer-token checking, the same secret as the services'.
    pub auth: AuthSettings,
    /// Logs and traces.
    pub telemetry: TelemetrySettings,
    /// `[console]`.
    pub console: ConsoleSection,
}

/// `[console]`
#[derive(Debug, Clone, Deserialize)]
pub struct ConsoleSection {
    /// HTTP listen address, e.g. `0.0.0.0:8080`.
    pub listen: String,
    /// The city's geometry: a GeoJSON FeatureCollection of regions and grids (docs/console.md).
    /// Unset: no map is drawn; the region tree, lists and figures still work.
    pub geometry_path: Option<String>,
    /// intake's gRPC URL.
    pub intake_url: String,
    /// dispatch's gRPC URL.
    pub dispatch_url: String,
    /// mediation's gRPC URL.
    pub mediation_url: String,
    /// patrol's gRPC URL.
    pub patrol_url: String,
    /// Days a finished task (and its timeline) stays in memory after its last change; open
    /// tasks stay as long as they are open.
    pub keep_finished_days: u32,
    /// For `https://` service URLs: the CA that signed the services' certificates (PEM).
    #[serde(default)]
    pub tls_ca_file: Option<std::path::PathBuf>,
    /// For services that require mTLS: the console's client certificate (PEM)…
    #[serde(default)]
    pub tls_cert_file: Option<std::path::PathBuf>,
    /// …and its private key (PEM).
    #[serde(default)]
    pub tls_key_file: Option<std::path::PathBuf>,
}

impl ConsoleSection {
    /// The TLS of its calls to the services, in the kit's terms.
    pub fn grpc(&self) -> civicgrid_kit::config::GrpcSettings {
        civicgrid_kit::config::GrpcSettings {
            listen: String::new(),
            tls_cert_file: self.tls_cert_file.clone(),
            tls_key_file: self.tls_key_file.clone(),
            tls_client_ca_file: None,
            tls_ca_file: self.tls_ca_file.clone(),
        }
    }
}

/// The console's defaults (the ports `civicgrid up` uses).
pub const DEFAULTS: &str = r#"
[console]
listen = "127.0.0.1:8080"
intake_url = "http://127.0.0.1:50051"
dispatch_url = "http://127.0.0.1:50052"
mediation_url = "http://127.0.0.1:50054"
patrol_url = "http://127.0.0.1:50055"
keep_finished_days = 7
"#;

impl Settings {
    /// Defaults, then `file` (or `CIVICGRID_CONFIG`), then `CIVICGRID__…` variables; a token
    /// secret left at a template's placeholder is refused.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        let settings: Settings = civicgrid_kit::config::load(DEFAULTS, file)?;
        settings.auth.refuse_placeholder()?;
        Ok(settings)
    }
}

/// What can stop the console from starting.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// A setting is missing or wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The geometry file could not be read.
    #[error(transparent)]
    Atlas(#[from] atlas::AtlasError),
    /// NATS could not be reached.
    #[error("nats: {0}")]
    Nats(String),
    /// The listener could not be bound or failed.
    #[error("http on {addr}: {source}")]
    Http {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
}

/// A console, bound and following the bus.
pub struct Console {
    keep_finished_days: u32,
    listener: tokio::net::TcpListener,
    app: http::AppState,
    nats: async_nats::Client,
}

impl Console {
    /// Loads the geometry, connects to NATS, binds the listener.
    pub async fn build(settings: Settings) -> Result<Console, ConsoleError> {
        let s = &settings.console;
        let atlas = match &s.geometry_path {
            Some(path) if !path.is_empty() => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || atlas::Atlas::load(&path))
                    .await
                    .map_err(|e| ConsoleError::Nats(format!("loading geometry: {e}")))??
            }
            _ => atlas::Atlas::default(),
        };
        tracing::info!(areas = atlas.len(), "console: geometry loaded");
        let nats = civicgrid_kit::bus::connect(&settings.nats, "console")
            .await
            .map_err(|e| ConsoleError::Nats(e.to_string()))?;
        let listener = tokio::net::TcpListener::bind(&s.listen)
            .await
            .map_err(|source| ConsoleError::Http { addr: s.listen.clone(), source })?;
        let (live, _) = broadcast::channel(4096);
        let app = http::AppState {
            state: Arc::new(RwLock::new(projection::State::default())),
            atlas: Arc::new(atlas),
            live,
            clients: clients::Clients::lazy(s)?,
            auth: Authenticator::new(&settings.auth)?,
            shutdown: civicgrid_kit::Shutdown::new(),
            nats: nats.clone(),
        };
        Ok(Console { keep_finished_days: settings.console.keep_finished_days, listener, app, nats })
    }

    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Follows the streams and serves until `shutdown`; open live feeds end then.
    pub async fn run_until_stopped(self, shutdown: Shutdown) -> Result<(), ConsoleError> {
        let js = async_nats::jetstream::new(self.nats.clone());
        let mut followers = Vec::new();
        for service in follow::SERVICES {
            followers.push(tokio::spawn(follow::follow(
                js.clone(),
                service,
                self.app.state.clone(),
                self.app.live.clone(),
                shutdown.clone(),
            )));
        }
        followers.push(tokio::spawn(prune(self.app.state.clone(), self.keep_finished_days, shutdown.clone())));
        let addr = self.local_addr().to_string();
        let feeds = self.app.shutdown.clone();
        let stop = shutdown.clone();
        let served = axum::serve(self.listener, http::router(self.app))
            .with_graceful_shutdown(async move {
                stop.cancelled().await;
                feeds.cancel();
            })
            .await;
        shutdown.cancel();
        for f in followers {
            let _ = f.await;
        }
        let _ = self.nats.drain().await;
        served.map_err(|source| ConsoleError::Http { addr, source })
    }
}

/// Every ten minutes, forgets finished tasks older than `days` (see [`projection::State::prune`]).
async fn prune(state: Arc<RwLock<projection::State>>, days: u32, shutdown: Shutdown) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(600)) => {}
            _ = shutdown.cancelled() => return,
        }
        let before = chrono::Utc::now() - chrono::Duration::days(i64::from(days));
        let gone = state.write().await.prune(before);
        if gone > 0 {
            tracing::info!(tasks = gone, "console: forgot finished tasks");
        }
    }
}
