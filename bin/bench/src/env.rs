//! The infrastructure a run measures against, and the machine it runs on.
//!
//! `CIVICGRID__NATS__URL` / `CIVICGRID__DATABASE__URL` name running servers; otherwise the bench
//! starts its own nats-server (`sync_interval: always`) and its own PostgreSQL (fsync on: the
//! durability is real) in temporary directories, exactly as `civicgrid up` would.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{Context, Result};
use civicgrid_dev::infra::{self, NatsOptions, NatsServer, PostgresOptions, PostgresServer};

/// A managed server and the directory it keeps its data in.
struct Managed<S> {
    server: S,
    dir: tempfile::TempDir,
}

/// Where NATS and PostgreSQL are, and who started them.
pub struct Env {
    /// The NATS URL.
    pub nats_url: String,
    /// A superuser URL on the server's `postgres` database.
    pub admin_url: String,
    /// The fresh database of this run.
    pub db_name: String,
    /// Its URL.
    pub db_url: String,
    /// What NATS is: binary, version, options.
    pub nats_desc: String,
    /// What PostgreSQL is.
    pub pg_desc: String,
    /// A directory on the file system that holds the data (for the disk probe).
    pub data_fs_dir: PathBuf,
    /// The postmaster's pid when the bench started PostgreSQL.
    pub pg_pid: Option<u32>,
    /// True when the bench started nats-server (it is then a child of this process).
    pub nats_managed: bool,
    /// The nats-server binary, when the bench started one.
    pub nats_binary: Option<PathBuf>,
    nats: Option<Managed<NatsServer>>,
    pg: Option<Managed<PostgresServer>>,
    created_db_on_external: bool,
}

fn env_url(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|u| !u.trim().is_empty())
}

fn version_line(bin: &Path) -> String {
    Command::new(bin)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|e| format!("? ({e})"))
}

impl Env {
    /// Uses the configured servers or starts managed ones (nats-server with `sync_interval:
    /// always`), and creates a fresh database.
    pub async fn start(max_connections: u32) -> Result<Env> {
        Env::start_with(max_connections, "always").await
    }

    /// As [`Env::start`], a managed nats-server with `sync_interval` (`always`, or a duration
    /// such as `2m`, the default of the Kubernetes manifests' replicated cluster).
    pub async fn start_with(max_connections: u32, sync_interval: &str) -> Result<Env> {
        let run = uuid::Uuid::now_v7().simple().to_string();
        let mut nats_binary = None;
        let (nats_url, nats_desc, nats) = match env_url("CIVICGRID__NATS__URL") {
            Some(url) => (url.clone(), format!("external, CIVICGRID__NATS__URL={url}"), None),
            None => {
                let binary = tokio::task::spawn_blocking(infra::nats::find_binary).await??;
                let dir =
                    tempfile::Builder::new().prefix("civicgrid-bench-nats-").tempdir().context("nats temp dir")?;
                let server = NatsServer::start(NatsOptions {
                    binary: binary.clone(),
                    dir: dir.path().to_path_buf(),
                    port: None,
                    sync_interval: sync_interval.into(),
                    auth: None,
                    cluster: None,
                })
                .await?;
                let desc = format!(
                    "managed: {} ({}), JetStream file store in {}, sync_interval {sync_interval}",
                    binary.display(),
                    version_line(&binary),
                    dir.path().display()
                );
                nats_binary = Some(binary);
                (server.url(), desc, Some(Managed { server, dir }))
            }
        };
        let (admin_url, pg_desc, pg) = match env_url("CIVICGRID__DATABASE__URL") {
            Some(url) => (url.clone(), "external, CIVICGRID__DATABASE__URL".to_string(), None),
            None => {
                let bin_dir = tokio::task::spawn_blocking(infra::postgres::find_bin_dir).await??;
                // Under /tmp and world-traversable: as root, PostgreSQL runs as `nobody`.
                let dir = tempfile::Builder::new()
                    .prefix("civicgrid-bench-pg-")
                    .tempdir_in("/tmp")
                    .context("postgres temp dir")?;
                {
                    use std::os::unix::fs::PermissionsExt;
                    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
                        .context("chmod postgres temp dir")?;
                }
                let server = PostgresServer::start(PostgresOptions {
                    bin_dir: bin_dir.clone(),
                    data_dir: dir.path().join("data"),
                    port: None,
                    unsafe_fast: false,
                    max_connections,
                })
                .await?;
                let desc = format!(
                    "managed: {} ({}), data in {}, fsync on, synchronous_commit on{}",
                    bin_dir.display(),
                    version_line(&bin_dir.join("postgres")),
                    dir.path().join("data").display(),
                    if infra::running_as_root() { ", running as nobody" } else { "" }
                );
                (server.url(), desc, Some(Managed { server, dir }))
            }
        };
        let db_name = format!("cg_bench_{}", &run[..16]);
        let db_url = civicgrid_dev::provision::ensure_database(&admin_url, &db_name)
            .await
            .context("creating the bench database")?;
        let data_fs_dir = pg.as_ref().map(|m| m.dir.path().to_path_buf()).unwrap_or_else(|| PathBuf::from("/tmp"));
        let pg_pid = pg.as_ref().and_then(|m| m.server.pid());
        Ok(Env {
            nats_url,
            admin_url,
            db_name,
            db_url,
            nats_desc,
            pg_desc,
            data_fs_dir,
            pg_pid,
            nats_managed: nats.is_some(),
            nats_binary,
            created_db_on_external: pg.is_none(),
            nats,
            pg,
        })
    }

    /// Stops managed servers and removes their data; drops the run's database on an external
    /// server.
    pub async fn stop(mut self) {
        if self.created_db_on_external {
            use sqlx::{Connection, Executor};
            if let Ok(mut conn) = sqlx::PgConnection::connect(&self.admin_url).await {
                let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.db_name);
                let _ = conn.execute(sqlx::AssertSqlSafe(sql)).await;
            }
        }
        if let Some(mut m) = self.pg.take() {
            tokio::task::spawn_blocking(move || {
                m.server.stop();
                drop(m.dir);
            })
            .await
            .ok();
        }
        if let Some(mut m) = self.nats.take() {
            tokio::task::spawn_blocking(move || {
                m.server.stop();
                drop(m.dir);
            })
            .await
            .ok();
        }
    }
}

/// What the machine is.
pub struct Machine {
    /// `nproc`.
    pub nproc: String,
    /// Total memory.
    pub memory: String,
    /// CPU model.
    pub cpu: String,
    /// Kernel release.
    pub kernel: String,
}

impl Machine {
    /// Reads `nproc`, `/proc/meminfo`, `/proc/cpuinfo`.
    pub fn describe() -> Machine {
        let nproc = Command::new("nproc")
            .stdin(Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_else(|| {
                std::thread::available_parallelism().map(|n| n.to_string()).unwrap_or_else(|_| "?".into())
            });
        let memory = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                let kb: u64 =
                    m.lines().find(|l| l.starts_with("MemTotal:"))?.split_whitespace().nth(1)?.parse().ok()?;
                Some(format!("{:.1} GiB", kb as f64 / 1024.0 / 1024.0))
            })
            .unwrap_or_else(|| "?".into());
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|c| {
                c.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_else(|| "?".into());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "?".into());
        Machine { nproc, memory, cpu, kernel }
    }
}

/// The file system type and device holding `path` (longest mount point prefix in /proc/mounts).
pub fn filesystem_of(path: &Path) -> String {
    let Ok(mounts) = std::fs::read_to_string("/proc/mounts") else { return "?".into() };
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (dev, mnt, fs) = (f.next()?, f.next()?, f.next()?);
            path.starts_with(mnt).then(|| (mnt.len(), format!("{fs} on {mnt} ({dev})")))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, d)| d)
        .unwrap_or_else(|| "?".into())
}

/// A second, throw-away nats-server with another `sync_interval`, for a reference figure.
pub struct ScratchNats {
    server: NatsServer,
    _dir: tempfile::TempDir,
}

impl ScratchNats {
    /// Starts `binary` with `sync_interval` in a temporary directory.
    pub async fn start(binary: &Path, sync_interval: &str) -> Result<ScratchNats> {
        let dir = tempfile::Builder::new().prefix("civicgrid-bench-nats-ref-").tempdir().context("nats temp dir")?;
        let server = NatsServer::start(NatsOptions {
            binary: binary.to_path_buf(),
            dir: dir.path().to_path_buf(),
            port: None,
            sync_interval: sync_interval.into(),
            auth: None,
            cluster: None,
        })
        .await?;
        Ok(ScratchNats { server, _dir: dir })
    }

    /// Its URL.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Stops it and removes its data.
    pub async fn stop(mut self) {
        tokio::task::spawn_blocking(move || {
            self.server.stop();
            drop(self);
        })
        .await
        .ok();
    }
}

/// The share of the machine's CPU that is busy over `window`, from `/proc/stat`: load from
/// other programs makes every figure of the run lower.
pub async fn background_busy_pct(window: std::time::Duration) -> Option<f64> {
    fn read() -> Option<(u64, u64)> {
        let text = std::fs::read_to_string("/proc/stat").ok()?;
        let v: Vec<u64> = text.lines().next()?.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
        let total: u64 = v.iter().take(8).sum();
        Some((total, v.get(3)? + v.get(4)?))
    }
    let a = read()?;
    tokio::time::sleep(window).await;
    let b = read()?;
    let total = b.0.checked_sub(a.0)? as f64;
    (total > 0.0).then(|| 100.0 * (total - b.1.saturating_sub(a.1) as f64) / total)
}
