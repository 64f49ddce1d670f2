//! `civicgrid console`: the command center's web console in the foreground (what its container
//! runs); `civicgrid up` runs the same console inside its own process.

use std::path::PathBuf;

use anyhow::Context;
use civicgrid_console::{Console, Settings};
use civicgrid_kit::Shutdown;

use crate::service::cancel_on_signals;

/// Runs the console until SIGINT/SIGTERM, configured by `file` (or `CIVICGRID_CONFIG`) and
/// `CIVICGRID__…` variables (docs/console.md).
pub async fn run(file: Option<PathBuf>) -> anyhow::Result<()> {
    let settings = Settings::load(file.as_deref()).context("console configuration")?;
    let _telemetry = civicgrid_kit::telemetry::init("console", &settings.telemetry);
    let console = Console::build(settings).await.context("starting the console")?;
    tracing::info!(addr = %console.local_addr(), "console listening");
    let shutdown = Shutdown::new();
    cancel_on_signals(shutdown.clone());
    console.run_until_stopped(shutdown).await.context("console")
}

/// What `civicgrid up` gives the console it runs.
#[cfg(feature = "dev")]
pub struct UpConsole {
    /// Listen port on 127.0.0.1.
    pub port: u16,
    /// The suite's NATS URL.
    pub nats_url: String,
    /// The console's NATS user and password, when the suite's NATS checks them.
    pub nats_login: Option<(String, String)>,
    /// The suite's token secret; empty when tokens are not checked.
    pub auth_secret: String,
    /// The city's geometry file, when the generated city was loaded.
    pub geometry_path: Option<PathBuf>,
    /// Each service's gRPC port: intake, dispatch, mediation, patrol.
    pub ports: [u16; 4],
}

/// Starts the console inside `civicgrid up`'s process and returns its URL and its task.
#[cfg(feature = "dev")]
pub async fn start_in_up(c: UpConsole, shutdown: Shutdown) -> anyhow::Result<(String, tokio::task::JoinHandle<()>)> {
    let quote = |s: &str| toml_string(s);
    let [intake, dispatch, mediation, patrol] = c.ports;
    let login = match &c.nats_login {
        Some((user, password)) => format!("user = {}\npassword = {}\n", quote(user), quote(password)),
        None => String::new(),
    };
    let mut toml = format!(
        "[nats]\nurl = {}\n{login}[auth]\nhs256_secret = {}\n[console]\nlisten = \"127.0.0.1:{}\"\n\
         intake_url = \"http://127.0.0.1:{intake}\"\ndispatch_url = \"http://127.0.0.1:{dispatch}\"\n\
         mediation_url = \"http://127.0.0.1:{mediation}\"\npatrol_url = \"http://127.0.0.1:{patrol}\"\n",
        quote(&c.nats_url),
        quote(&c.auth_secret),
        c.port
    );
    if let Some(path) = &c.geometry_path {
        toml.push_str(&format!("geometry_path = {}\n", quote(&path.display().to_string())));
    }
    let settings: Settings =
        civicgrid_kit::config::from_toml(&[civicgrid_console::DEFAULTS, &toml]).context("console settings")?;
    let console = Console::build(settings).await.with_context(|| format!("starting the console on port {}", c.port))?;
    let url = format!("http://{}/", console.local_addr());
    let task = tokio::spawn(async move {
        if let Err(e) = console.run_until_stopped(shutdown).await {
            eprintln!("console stopped: {e:#}");
        }
    });
    Ok((url, task))
}

/// `s` as a TOML basic string.
#[cfg(feature = "dev")]
fn toml_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}
