//! deploy/systemd as written: the unit's `ExecStart` with the variables of `civicgrid.env`,
//! only its CHANGE-ME placeholders, servers and ports replaced by the suite's, serves every
//! service from one process (patrol standing by: the suite's own patrol leads) and stops cleanly
//! on SIGTERM, as systemd stops it. Each service logs in to the suite's PostgreSQL as the role
//! the file names for it, in its own schema.

use std::{
    collections::HashMap,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use civicgrid_dev::{infra, provision, testing::raw};
use civicgrid_e2e::{Suite, civicgrid_binary, fuzz::serving, workspace_root};
use tonic::transport::Channel;

/// The process under test, killed if the test fails before it stops it.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Whether `addr` answers a health check at all (a standby answers NOT_SERVING).
async fn answers(addr: &str) -> bool {
    let Ok(channel) = Channel::from_shared(format!("http://{addr}")) else { return false };
    let Ok(channel) = channel.connect().await else { return false };
    raw::unary(channel, "/grpc.health.v1.Health/Check", Vec::new(), "").await.is_ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_systemd_unit_and_its_environment_serve_every_service_from_one_process() {
    let suite = tokio::task::spawn_blocking(|| Suite::up(&["--no-demo", "--quiet"])).await.unwrap();
    let dir = workspace_root().join("deploy/systemd");
    let unit = std::fs::read_to_string(dir.join("civicgrid.service")).unwrap();
    let exec = unit.lines().find_map(|l| l.strip_prefix("ExecStart=")).expect("an ExecStart");
    let args: Vec<&str> = exec.split_whitespace().skip(1).collect();
    assert_eq!(args.first(), Some(&"service"), "{exec}");

    let admin_db = suite.wait_for_line("  PostgreSQL ", Duration::from_secs(1));
    let admin_db = admin_db.split_whitespace().nth(1).unwrap().to_string();
    let secrets = std::fs::read_to_string(suite.state.path().join("secrets.env")).unwrap();
    let secret =
        |name: &str| secrets.lines().find_map(|l| l.strip_prefix(&format!("{name}="))).unwrap_or_default().to_string();
    // Every listen port moves to a free one, and a peer's URL with its peer.
    let mut moved: HashMap<String, String> = HashMap::new();
    let mut env: Vec<(String, String)> = Vec::new();
    let text = std::fs::read_to_string(dir.join("civicgrid.env")).unwrap();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let (key, value) = line.split_once('=').unwrap();
        let value = if key.ends_with("__LISTEN") {
            let port = value.rsplit_once(':').unwrap().1.to_string();
            let free = infra::free_port().unwrap().to_string();
            moved.insert(port, free.clone());
            format!("127.0.0.1:{free}")
        } else if key.ends_with("__DATABASE__URL") {
            // The role the file names, as `up` made it on the suite's server (trust auth there,
            // so the file's password placeholder is dropped with the rest of its URL).
            let role = value.split_once("://").and_then(|(_, rest)| rest.split([':', '@']).next()).unwrap();
            provision::provision_service(&admin_db, role).await.unwrap()
        } else if key == "CIVICGRID__NATS__URL" {
            suite.nats_addr.clone()
        } else if key.ends_with("__NATS__PASSWORD") {
            let user = key.trim_start_matches("CIVICGRID_").split("__").next().unwrap().to_ascii_lowercase();
            suite.nats_password(&user)
        } else if key.ends_with("__PII_KEY") && key.contains("MEDIATION") {
            secret("MEDIATION_PII_KEY")
        } else if key.ends_with("__PII_KEY") {
            secret("PII_KEY")
        } else if key.ends_with("__CONTACT_KEY") {
            secret("CONTACT_KEY")
        } else {
            // The token secret: a placeholder left in it is refused (kit `refuse_placeholder`).
            assert!(!value.contains("CHANGE-ME") || key.ends_with("HS256_SECRET"), "{key} left unreplaced");
            value.replace("CHANGE-ME", "systemd-test-secret")
        };
        env.push((key.to_string(), value));
    }
    for (_, value) in env.iter_mut().filter(|(k, _)| k.ends_with("_URL") && !k.contains("DATABASE")) {
        if let Some((base, port)) = value.rsplit_once(':')
            && let Some(free) = moved.get(port)
        {
            *value = format!("{base}:{free}");
        }
    }
    let grpc: Vec<(String, String)> = env
        .iter()
        .filter(|(k, _)| k.ends_with("__GRPC__LISTEN"))
        .map(|(k, v)| (k.trim_start_matches("CIVICGRID_").split("__").next().unwrap().to_ascii_lowercase(), v.clone()))
        .collect();
    assert_eq!(grpc.len(), args.len() - 1, "a gRPC port for every service the unit runs");

    let log = suite.state.path().join("systemd-example.log");
    let mut process = Running(
        Command::new(civicgrid_binary())
            .args(&args)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(log.with_extension("err")).unwrap())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(90);
    for (service, addr) in &grpc {
        loop {
            // patrol stands by behind the suite's own patrol, which holds the leadership.
            let up = if service == "patrol" { answers(addr).await } else { serving(addr).await };
            if up {
                break;
            }
            let exited = process.0.try_wait().unwrap();
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "{service} on {addr} did not come up ({exited:?}): {}",
                std::fs::read_to_string(log.with_extension("err")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    // SIGTERM, as systemd stops it: every service drains and the process exits 0.
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(process.0.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(40);
    let status = loop {
        if let Some(status) = process.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the process did not stop within TimeoutStopSec");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "{status}: {}", std::fs::read_to_string(log.with_extension("err")).unwrap_or_default());
}
