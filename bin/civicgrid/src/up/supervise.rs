//! How `civicgrid up` keeps its service processes running: start, restart, stop in order.

use std::{path::PathBuf, process::Stdio, time::Duration};

use anyhow::bail;
use civicgrid_dev::infra::{self, NatsServer, PostgresServer};
use civicgrid_kit::Shutdown;

/// Runs `civicgrid service <names>…` (one process, one or more services) until shutdown,
/// restarting it when it dies. Each process is told how many restarts came before it
/// (`CIVICGRID_LIFE`). Its pid goes beside `log`, as `<log name>.pid`.
pub(super) async fn supervise(
    exe: PathBuf,
    names: Vec<&'static str>,
    env: Vec<(String, String)>,
    log: PathBuf,
    shutdown: Shutdown,
) {
    let name = names.join("+");
    let mut restarts = 0u32;
    loop {
        let spawned = std::fs::OpenOptions::new().create(true).append(true).open(&log).and_then(|file| {
            let err = file.try_clone()?;
            tokio::process::Command::new(&exe)
                .arg("service")
                .args(&names)
                .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                // Which process of the service this is: kill points armed for the first one
                // (CIVICGRID_FAULT, crates/kit/src/faults.rs) do not fire again in its restarts.
                .env(civicgrid_kit::faults::LIFE_VAR, restarts.to_string())
                .stdin(Stdio::null())
                .stdout(file)
                .stderr(err)
                // Own process group: Ctrl-C reaches only `up`, which stops children in order.
                .process_group(0)
                .kill_on_drop(true)
                .spawn()
        });
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => {
                eprintln!("[up] cannot start {name}: {e}");
                return;
            }
        };
        let pid = child.id();
        if let Some(pid) = pid {
            // A service never outlives `up`, even when `up` is killed outright.
            infra::spawn_watchdog(std::process::id(), pid, None);
        }
        // Operators (and the end-to-end tests) find each service's process here.
        let pid_file = log.with_extension("pid");
        let _ = std::fs::write(&pid_file, pid.map(|p| p.to_string()).unwrap_or_default());
        tokio::select! {
            status = child.wait() => {
                if shutdown.is_cancelled() {
                    return;
                }
                restarts += 1;
                eprintln!("[up] {name} exited ({}); restarting (#{restarts}); see {}", status.map(|s| s.to_string()).unwrap_or_default(), log.display());
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = shutdown.cancelled() => return,
                }
            }
            _ = shutdown.cancelled() => {
                if let Some(pid) = pid {
                    // SAFETY: kill has no memory-safety preconditions.
                    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
                }
                if tokio::time::timeout(Duration::from_secs(15), child.wait()).await.is_err() {
                    let _ = child.kill().await;
                }
                return;
            }
        }
    }
}

/// Waits until the service's gRPC health check says SERVING.
pub(super) async fn wait_serving(name: &str, port: u16, shutdown: &Shutdown) -> anyhow::Result<()> {
    use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        if shutdown.is_cancelled() {
            bail!("interrupted while waiting for {name}");
        }
        if let Ok(endpoint) = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
            && let Ok(channel) = endpoint.connect().await
        {
            let mut client = HealthClient::new(channel);
            if let Ok(r) = client.check(HealthCheckRequest { service: String::new() }).await
                && r.into_inner().status == ServingStatus::Serving as i32
            {
                return Ok(());
            }
        }
        if tokio::time::Instant::now() > deadline {
            bail!("{name} did not become SERVING on port {port} within 90 s; see its log");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The servers `up` started itself (none of them when their URLs were given).
pub(super) struct Infra {
    pub nats: Option<NatsServer>,
    pub postgres: Option<PostgresServer>,
}

/// Keeps `up`'s own nats-server and PostgreSQL running until shutdown, as [`supervise`] does a
/// service: one that died (killed, crashed) is reaped and started again on its port with its
/// data. Their pids are in `<logs>/nats-server.pid` and `<logs>/postgres.pid`. Returns them at
/// shutdown, still running, for `up` to stop after the services.
pub(super) async fn keep_infra_alive(mut infra: Infra, logs: PathBuf, shutdown: Shutdown) -> Infra {
    let write_pid = |name: &str, pid: Option<u32>| {
        let _ = std::fs::write(logs.join(format!("{name}.pid")), pid.map(|p| p.to_string()).unwrap_or_default());
    };
    write_pid("nats-server", infra.nats.as_ref().and_then(NatsServer::pid));
    write_pid("postgres", infra.postgres.as_ref().and_then(PostgresServer::pid));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = shutdown.cancelled() => return infra,
        }
        if let Some(nats) = infra.nats.as_mut()
            && !nats.running()
        {
            eprintln!("[up] nats-server exited; restarting it (see {})", nats.log_file().display());
            match nats.restart().await {
                Ok(()) => write_pid("nats-server", nats.pid()),
                Err(e) => eprintln!("[up] nats-server did not start again: {e}; trying again"),
            }
        }
        if let Some(pg) = infra.postgres.as_mut()
            && !pg.running()
        {
            eprintln!("[up] PostgreSQL exited; restarting it (see {})", pg.log_file().display());
            match pg.restart().await {
                Ok(()) => write_pid("postgres", pg.pid()),
                // A killed postmaster's backends may hold its shared memory for a moment.
                Err(e) => eprintln!("[up] PostgreSQL did not start again: {e}; trying again"),
            }
        }
    }
}
