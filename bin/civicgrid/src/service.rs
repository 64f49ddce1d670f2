//! `civicgrid service <name>`: one service in the foreground until SIGINT/SIGTERM.

use std::path::PathBuf;

use anyhow::{Context, bail};
use civicgrid_kit::Shutdown;

use crate::registry;

/// Cancels `shutdown` on the first SIGINT or SIGTERM.
pub fn cancel_on_signals(shutdown: Shutdown) {
    tokio::spawn(async move {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        shutdown.cancel();
    });
}

/// Runs service `name` until a signal, then drains it in order.
pub async fn run(name: &str, config: Option<PathBuf>) -> anyhow::Result<()> {
    let Some(entry) = registry::find(name) else {
        let known: Vec<&str> = registry::SERVICES.iter().map(|e| e.name).collect();
        bail!("no service `{name}`; the services are {}", known.join(", "));
    };
    let shutdown = Shutdown::new();
    cancel_on_signals(shutdown.clone());
    (entry.run)(config, shutdown).await.with_context(|| format!("service {name}"))
}
