//! `civicgrid service <name>…`: one service — or several in one process — in the foreground
//! until SIGINT/SIGTERM.
//!
//! Several services in one process (`civicgrid service intake dispatch notify`) are for small
//! deployments: each keeps its own schema and login, NATS user, streams, consumers, listeners and
//! metrics, exactly as in a process of its own, and they still talk over the bus and gRPC. They
//! share the process's threads, so there are fewer processes to wake per report. Their settings
//! come from one environment: `CIVICGRID__…` applies to all of them, `CIVICGRID_<SERVICE>__…` to
//! one (its listeners, its database login). If one of them stops with an error, the others are
//! drained and the process fails, so that a supervisor starts all of them again.

use std::path::PathBuf;

use anyhow::{Context, bail};
use civicgrid_kit::Shutdown;

use crate::registry::{self, Prepared};

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

/// Runs services `names` (one or more, each once) until a signal, then drains each in order.
pub async fn run(names: &[String], config: Option<PathBuf>) -> anyhow::Result<()> {
    let mut prepared: Vec<(&'static str, Prepared)> = Vec::new();
    for name in names {
        let Some(entry) = registry::find(name) else {
            let known: Vec<&str> = registry::SERVICES.iter().map(|e| e.name).collect();
            bail!("no service `{name}`; the services are {}", known.join(", "));
        };
        if prepared.iter().any(|(n, _)| *n == entry.name) {
            bail!("service `{name}` is named twice");
        }
        // Every service's settings are read and checked before any starts.
        let service = (entry.prepare)(config.as_deref()).with_context(|| format!("service {name}"))?;
        prepared.push((entry.name, service));
    }
    let Some((_, first)) = prepared.first() else { bail!("name at least one service") };
    // One subscriber per process: the first service's telemetry settings, and a name that says
    // which services the process runs (`intake+dispatch+notify`).
    let label: Vec<&str> = prepared.iter().map(|(n, _)| *n).collect();
    let _telemetry = civicgrid_kit::telemetry::init(&label.join("+"), &first.telemetry);
    let shutdown = Shutdown::new();
    cancel_on_signals(shutdown.clone());
    serve_all(prepared, shutdown).await
}

/// Serves every prepared service until `shutdown` — or until one of them ends, which stops the
/// others too. Fails with the first service's error, naming it.
async fn serve_all(prepared: Vec<(&'static str, Prepared)>, shutdown: Shutdown) -> anyhow::Result<()> {
    let mut running = tokio::task::JoinSet::new();
    for (name, service) in prepared {
        let serving = (service.serve)(shutdown.clone());
        running.spawn(async move { (name, serving.await) });
    }
    let mut failed: Option<anyhow::Error> = None;
    while let Some(ended) = running.join_next().await {
        let (name, result) = match ended {
            Ok(done) => done,
            Err(e) => ("a service", Err(civicgrid_kit::runtime::StartError::Serve(e.to_string()))),
        };
        if !shutdown.is_cancelled() {
            // A service that stops on its own (an error, a lost leadership) takes the process
            // down with it: its supervisor restarts the whole process.
            tracing::warn!(service = name, "stopped on its own; stopping the others");
            shutdown.cancel();
        }
        if let Err(e) = result
            && failed.is_none()
        {
            failed = Some(anyhow::Error::new(e).context(format!("service {name}")));
        }
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
