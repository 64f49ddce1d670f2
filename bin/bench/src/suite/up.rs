//! The whole suite as `civicgrid up` runs it: the `civicgrid` binary of the same build started
//! as a child process (`up --no-demo --quiet`) in a temporary state directory on free ports,
//! so nats-server, PostgreSQL and every service run as separate processes, NATS authorization
//! on, exactly as a user's `civicgrid up` does.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Stdio,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use civicgrid_dev::infra;

/// The services `up` runs, in its order.
pub const SERVICES: [&str; 5] = ["intake", "dispatch", "notify", "mediation", "patrol"];

/// The name of the process (its pid file) that runs every service under `up --one-process`.
pub const ONE_PROCESS: &str = "services";

/// The NATS administrator `up` makes (bin/civicgrid/src/up/nats_users.rs).
const OPERATOR: &str = "operator";

/// A running `civicgrid up`.
pub struct Up {
    child: tokio::process::Child,
    /// The state directory (removed on drop unless kept).
    state: Option<tempfile::TempDir>,
    /// Its path.
    pub state_path: PathBuf,
    /// nats-server's client port.
    pub nats_port: u16,
    /// PostgreSQL's port.
    pub postgres_port: u16,
    /// Each service's gRPC port.
    pub grpc: BTreeMap<&'static str, u16>,
    /// Each service's metrics port.
    pub metrics: BTreeMap<&'static str, u16>,
    /// Seconds from spawning `up` until it printed "civicgrid is up".
    pub up_secs: f64,
    output: Arc<Mutex<Vec<String>>>,
}

/// The `civicgrid` binary: `CIVICGRID_BIN` when set, else the one beside this executable (a
/// `cargo build` of the same profile puts both in `target/<profile>/`).
pub fn binary() -> Result<PathBuf> {
    if let Some(bin) = std::env::var_os("CIVICGRID_BIN").filter(|b| !b.is_empty()) {
        return Ok(PathBuf::from(bin));
    }
    let me = std::env::current_exe().context("locating civicgrid-bench")?;
    let bin = me.with_file_name("civicgrid");
    if !bin.exists() {
        bail!(
            "no civicgrid binary at {} — build it in the same profile (`cargo build --release -p civicgrid-cli`) \
             or name one with CIVICGRID_BIN",
            bin.display()
        );
    }
    Ok(bin)
}

fn free_port() -> Result<u16> {
    infra::free_port().context("finding a free port")
}

impl Up {
    /// Starts `binary up --no-demo --quiet` (and `--one-process` when `one_process`) on free
    /// ports with services logging at `log` and the environment `env` added (settings the
    /// services inherit through `up`), and waits (up to `patience`) until it has printed
    /// "civicgrid is up".
    pub async fn start(
        binary: PathBuf,
        log: &str,
        keep_state: bool,
        one_process: bool,
        env: &[(&str, String)],
        patience: Duration,
    ) -> Result<Up> {
        let state =
            tempfile::Builder::new().prefix("civicgrid-bench-up-").tempdir_in("/tmp").context("state directory")?;
        {
            // PostgreSQL runs as `nobody` when the bench runs as root: let it reach its data.
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(state.path(), std::fs::Permissions::from_mode(0o755))
                .context("chmod state directory")?;
        }
        let state_path = state.path().to_path_buf();
        let (nats_port, postgres_port, console_port, open311_port) =
            (free_port()?, free_port()?, free_port()?, free_port()?);
        let mut grpc = BTreeMap::new();
        let mut metrics = BTreeMap::new();
        let mut command = tokio::process::Command::new(&binary);
        command
            .arg("up")
            .arg("--state-dir")
            .arg(&state_path)
            .args(["--no-demo", "--quiet"])
            .args(one_process.then_some("--one-process"))
            .args(["--nats-port", &nats_port.to_string(), "--postgres-port", &postgres_port.to_string()])
            .args(["--console-port", &console_port.to_string(), "--open311-port", &open311_port.to_string()]);
        for name in SERVICES {
            let (port, metrics_port) = (free_port()?, free_port()?);
            grpc.insert(name, port);
            metrics.insert(name, metrics_port);
            command.args(["--port", &format!("{name}={port}"), "--metrics-port", &format!("{name}={metrics_port}")]);
        }
        let errors = std::fs::File::create(state_path.join("up.stderr")).context("up's stderr file")?;
        command
            // The suite brings its own servers; a developer's URLs must not leak in.
            .env_remove("CIVICGRID__NATS__URL")
            .env_remove("CIVICGRID__DATABASE__URL")
            .env("CIVICGRID__TELEMETRY__LOG", log)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(errors)
            .kill_on_drop(true);
        let started = Instant::now();
        let mut child = command.spawn().with_context(|| format!("starting {} up", binary.display()))?;
        if let Some(pid) = child.id() {
            // `up` (and with it the suite) never outlives the bench, even after SIGKILL.
            infra::spawn_watchdog(std::process::id(), pid, None);
        }
        let output = Arc::new(Mutex::new(Vec::new()));
        if let Some(stdout) = child.stdout.take() {
            let sink = output.clone();
            tokio::spawn(async move {
                use tokio::io::AsyncBufReadExt;
                let mut lines = tokio::io::BufReader::new(stdout).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    sink.lock().unwrap_or_else(|e| e.into_inner()).push(line);
                }
            });
        }
        let mut up =
            Up { child, state: Some(state), state_path, nats_port, postgres_port, grpc, metrics, up_secs: 0.0, output };
        let deadline = Instant::now() + patience;
        loop {
            if up.printed("civicgrid is up") {
                break;
            }
            if let Ok(Some(status)) = up.child.try_wait() {
                bail!("civicgrid up exited ({status}) before it was up:\n{}", up.tail());
            }
            if Instant::now() > deadline {
                bail!("civicgrid up was not up within {patience:?}:\n{}", up.tail());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        up.up_secs = started.elapsed().as_secs_f64();
        if keep_state && let Some(state) = up.state.take() {
            let _ = state.keep();
        }
        Ok(up)
    }

    fn printed(&self, needle: &str) -> bool {
        self.output.lock().unwrap_or_else(|e| e.into_inner()).iter().any(|l| l.contains(needle))
    }

    /// The last lines `up` printed and wrote to its stderr, for an error message.
    pub fn tail(&self) -> String {
        let out = self.output.lock().unwrap_or_else(|e| e.into_inner());
        let skip = out.len().saturating_sub(20);
        let err = std::fs::read_to_string(self.state_path.join("up.stderr")).unwrap_or_default();
        let err_lines: Vec<&str> = err.lines().collect();
        let err_skip = err_lines.len().saturating_sub(20);
        format!("stdout:\n{}\nstderr:\n{}", out[skip..].join("\n"), err_lines[err_skip..].join("\n"))
    }

    /// The password `up` made for NATS user `user` (`<state>/nats/users.env`).
    fn nats_password(&self, user: &str) -> String {
        let var: String =
            user.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
        let text = std::fs::read_to_string(self.state_path.join("nats/users.env")).unwrap_or_default();
        text.lines().find_map(|l| l.strip_prefix(&format!("{var}_PASSWORD="))).map(str::to_string).unwrap_or_default()
    }

    /// A NATS connection as `up`'s administrator, `operator` (every permission), replies under
    /// its own inbox prefix as every process of the suite does.
    pub async fn nats_operator(&self) -> Result<async_nats::Client> {
        let password = self.nats_password(OPERATOR);
        if password.is_empty() {
            bail!("no {OPERATOR} password in {}", self.state_path.join("nats/users.env").display());
        }
        async_nats::ConnectOptions::new()
            .user_and_password(OPERATOR.into(), password)
            .custom_inbox_prefix(civicgrid_kit::bus::inbox_prefix(OPERATOR))
            .connect(format!("nats://127.0.0.1:{}", self.nats_port))
            .await
            .context("connecting to up's nats-server as operator")
    }

    /// A superuser URL on `up`'s PostgreSQL (its managed cluster trusts local connections).
    pub fn admin_db_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.postgres_port)
    }

    /// `http://127.0.0.1:<port>` of a service's gRPC.
    pub fn grpc_url(&self, service: &str) -> String {
        format!("http://127.0.0.1:{}", self.grpc.get(service).copied().unwrap_or(0))
    }

    /// `up`'s own pid.
    pub fn up_pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Stops `up` as Ctrl-C does (SIGTERM: services, then PostgreSQL and nats-server, in order)
    /// and waits for it; kills it after a minute.
    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(pid as i32, libc::SIGTERM) };
        }
        if tokio::time::timeout(Duration::from_secs(60), self.child.wait()).await.is_err() {
            eprintln!("civicgrid-bench: civicgrid up did not stop within 60 s; killing it");
            let _ = self.child.kill().await;
        }
    }
}

/// The pid in `<state>/logs/<name>.pid`, when that process lives.
pub fn pid_in(state: &Path, name: &str) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(state.join(format!("logs/{name}.pid"))).ok()?.trim().parse().ok()?;
    Path::new(&format!("/proc/{pid}")).exists().then_some(pid)
}

/// The executable of process `pid` and what its `--version` says, e.g.
/// `/usr/lib/postgresql/15/bin/postgres (postgres (PostgreSQL) 15.20 …)`.
pub fn version_of(pid: Option<u32>) -> String {
    let Some(exe) = pid.and_then(|p| std::fs::read_link(format!("/proc/{p}/exe")).ok()) else { return "?".into() };
    let version = std::process::Command::new(&exe)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|e| format!("? ({e})"));
    format!("{} ({version})", exe.display())
}
