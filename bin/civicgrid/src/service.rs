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

/// Runs services `names` (one or more, each once) until a signal, then drains them side by
/// side, each in its own order.
pub async fn run(names: &[String], config: Option<PathBuf>) -> anyhow::Result<()> {
    let mut entries = Vec::new();
    for name in names {
        let Some(entry) = registry::find(name) else {
            let known: Vec<&str> = registry::SERVICES.iter().map(|e| e.name).collect();
            bail!("no service `{name}`; the services are {}", known.join(", "));
        };
        if entries.iter().any(|e: &&registry::Entry| e.name == entry.name) {
            bail!("service `{name}` is named twice");
        }
        entries.push(entry);
    }
    // Every service's settings are read and checked before any starts.
    let mut prepared: Vec<(&'static str, Prepared)> = Vec::new();
    for entry in entries {
        let service = (entry.prepare)(config.as_deref()).with_context(|| format!("service {}", entry.name))?;
        prepared.push((entry.name, service));
    }
    shared_listener(&prepared)?;
    let Some((_, first)) = prepared.first() else { bail!("name at least one service") };
    // One subscriber per process: the first service's telemetry settings, and a name that says
    // which services the process runs (`intake+dispatch+notify`).
    let label: Vec<&str> = prepared.iter().map(|(n, _)| *n).collect();
    let _telemetry = civicgrid_kit::telemetry::init(&label.join("+"), &first.telemetry);
    let shutdown = Shutdown::new();
    cancel_on_signals(shutdown.clone());
    serve_all(prepared, shutdown).await
}

/// Fails when two services would listen on one address (a port of 0 picks a free one).
fn shared_listener(prepared: &[(&'static str, Prepared)]) -> anyhow::Result<()> {
    let mut taken: Vec<(&str, &str, &str)> = Vec::new();
    for (name, service) in prepared {
        for (key, addr) in &service.listens {
            if let Some((other, other_key, other_addr)) = taken.iter().find(|(_, _, a)| same_listener(a, addr)) {
                bail!(
                    "service {name}'s {key} ({addr}) and service {other}'s {other_key} ({other_addr}) are one \
                     address: give each its own, e.g. CIVICGRID_{}__{}=…",
                    name.to_ascii_uppercase(),
                    key.replace('.', "__").to_ascii_uppercase()
                );
            }
            taken.push((name, key, addr));
        }
    }
    Ok(())
}

/// Whether two listen addresses would collide: the same port on the same address, or on any
/// address when one of them is unspecified (`0.0.0.0`, `[::]`). Port 0 picks a free port.
fn same_listener(a: &str, b: &str) -> bool {
    use std::net::SocketAddr;
    match (a.parse::<SocketAddr>(), b.parse::<SocketAddr>()) {
        (Ok(x), Ok(y)) => {
            x.port() != 0
                && x.port() == y.port()
                && (x.ip() == y.ip() || x.ip().is_unspecified() || y.ip().is_unspecified())
        }
        _ => a == b,
    }
}

/// Serves every prepared service until `shutdown` — or until one of them stops on its own,
/// which stops the others too. Fails with the first service's error, naming it; a service that
/// stopped on its own without one fails the process all the same, so that it is restarted.
async fn serve_all(prepared: Vec<(&'static str, Prepared)>, shutdown: Shutdown) -> anyhow::Result<()> {
    let mut running = tokio::task::JoinSet::new();
    let mut names = std::collections::HashMap::new();
    for (name, service) in prepared {
        let serving = (service.serve)(shutdown.clone());
        names.insert(running.spawn(serving).id(), name);
    }
    let mut failed: Option<anyhow::Error> = None;
    while let Some(ended) = running.join_next_with_id().await {
        let (id, result) = match ended {
            Ok((id, result)) => (id, result.map_err(anyhow::Error::new)),
            Err(e) => (e.id(), Err(anyhow::anyhow!("{e}"))),
        };
        let name = names.get(&id).copied().unwrap_or("?");
        let on_its_own = !shutdown.is_cancelled();
        if on_its_own {
            tracing::warn!(service = name, "stopped on its own; stopping the others");
            shutdown.cancel();
        }
        let result = match result {
            Ok(()) if on_its_own => Err(anyhow::anyhow!("stopped on its own")),
            other => other,
        };
        if let Err(e) = result
            && failed.is_none()
        {
            failed = Some(e.context(format!("service {name}")));
        }
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::same_listener;

    #[test]
    fn listeners_collide_on_one_port_of_one_address_or_of_any() {
        assert!(same_listener("0.0.0.0:50051", "0.0.0.0:50051"));
        assert!(same_listener("0.0.0.0:50051", "127.0.0.1:50051"));
        assert!(!same_listener("127.0.0.1:50051", "127.0.0.2:50051"));
        assert!(!same_listener("127.0.0.1:50051", "127.0.0.1:50052"));
        assert!(!same_listener("127.0.0.1:0", "127.0.0.1:0"), "port 0 picks a free port");
        assert!(same_listener("[::]:9090", "127.0.0.1:9090"));
    }
}
