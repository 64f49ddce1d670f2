//! How `civicgrid up` lays the services out in processes: one each (and `--replicas` more of
//! each), or all of them in one (`--one-process`). Either way each service's settings reach it
//! under its own prefix, `CIVICGRID_<SERVICE>__…`: in one process that is the only way to tell
//! them apart, and apart it means a variable the shell exports for one service
//! (`CIVICGRID_INTAKE__GRPC__LISTEN`) cannot take the place of what `up` sets.

use std::path::{Path, PathBuf};

use anyhow::Result;
use civicgrid_kit::Shutdown;
use tokio::task::JoinHandle;

use super::{ServiceSpec, replicas, supervise::supervise, supervise::wait_serving};
use crate::registry;

/// The log (and, with `.pid`, the pid file) of the one process of `--one-process`.
pub(super) const ONE_PROCESS: &str = "services";

/// How the services are laid out in processes.
#[derive(Debug, Clone, Copy)]
pub(super) enum Layout {
    /// A process per service, `replicas` of each (the extra ones once the first serves).
    Apart {
        /// Processes of every service, 1 to 4.
        replicas: u16,
    },
    /// Every service in one process.
    OneProcess,
}

/// The log of service `name`'s (first) process.
pub(super) fn log_of(logs: &Path, name: &str, layout: Layout) -> PathBuf {
    match layout {
        Layout::OneProcess => logs.join(format!("{ONE_PROCESS}.log")),
        Layout::Apart { .. } => logs.join(format!("{name}.log")),
    }
}

/// A service's variables as its own: each `CIVICGRID__KEY` becomes `CIVICGRID_<SERVICE>__KEY`,
/// which applies to it alone and wins over the shared one (crates/kit/src/config.rs).
pub(super) fn own_settings(name: &str, env: &[(String, String)]) -> Vec<(String, String)> {
    let own = civicgrid_kit::config::service_env_prefix(name);
    env.iter()
        .map(|(key, value)| match key.strip_prefix("CIVICGRID__") {
            Some(rest) => (format!("{own}__{rest}"), value.clone()),
            None => (key.clone(), value.clone()),
        })
        .collect()
}

/// Starts the services' supervisors in `layout` and waits until each serves; returns the
/// supervisors, which end after `shutdown`.
pub(super) async fn start(
    exe: &Path,
    services: &[ServiceSpec],
    logs: &Path,
    layout: Layout,
    shutdown: &Shutdown,
) -> Result<Vec<JoinHandle<()>>> {
    // Pid files of an earlier run in another layout would name processes that are gone.
    for name in services.iter().map(|s| s.name) {
        let _ = std::fs::remove_file(logs.join(format!("{name}.pid")));
        for k in 2..=4 {
            let _ = std::fs::remove_file(logs.join(format!("{name}-{k}.pid")));
        }
    }
    let _ = std::fs::remove_file(logs.join(format!("{ONE_PROCESS}.pid")));

    let mut supervisors = Vec::new();
    let spawn = |names: Vec<&'static str>, env: Vec<(String, String)>, log: PathBuf| {
        tokio::spawn(supervise(exe.to_path_buf(), names, env, log, shutdown.clone()))
    };
    let replicas = match layout {
        Layout::OneProcess => {
            let names = services.iter().map(|s| s.name).collect();
            let env = services.iter().flat_map(|s| own_settings(s.name, &s.env)).collect();
            supervisors.push(spawn(names, env, log_of(logs, "", layout)));
            1
        }
        Layout::Apart { replicas } => {
            for s in services {
                supervisors.push(spawn(vec![s.name], own_settings(s.name, &s.env), log_of(logs, s.name, layout)));
            }
            replicas
        }
    };
    for s in services {
        wait_serving(s.name, s.port, shutdown).await?;
    }
    // Extra replicas start once the first of each serves: a singleton's first process is
    // then its leader, and the ports the demo and the console use lead to it.
    for k in 2..=replicas {
        for s in services {
            let replica = replicas::replica_of(s.name, &s.env, k);
            let log = logs.join(format!("{}-{k}.log", s.name));
            supervisors.push(spawn(vec![s.name], own_settings(s.name, &replica.env), log));
            if !registry::find(s.name).is_some_and(|e| e.singleton) {
                wait_serving(s.name, replica.port, shutdown).await?;
            }
        }
    }
    Ok(supervisors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_settings_are_its_own() {
        let env = vec![
            ("CIVICGRID__GRPC__LISTEN".to_string(), "127.0.0.1:50052".to_string()),
            ("CIVICGRID__INTAKE__PII_KEY".to_string(), "k".to_string()),
            ("CIVICGRID_LIFE".to_string(), "0".to_string()),
        ];
        let own = own_settings("intake", &env);
        assert_eq!(own[0], ("CIVICGRID_INTAKE__GRPC__LISTEN".to_string(), "127.0.0.1:50052".to_string()));
        assert_eq!(own[1].0, "CIVICGRID_INTAKE__INTAKE__PII_KEY");
        assert_eq!(own[2].0, "CIVICGRID_LIFE", "what is not a setting stays");
    }
}
