//! `civicgrid up --one-process`: every service in one process (`civicgrid service intake
//! dispatch …`), as a small deployment runs them. Each keeps its own ports, metrics, schema and
//! NATS user, so the closed loop goes round exactly as with a process each; and a service that
//! cannot run takes the process down with it rather than leaving a part of the suite running.

use std::{
    net::SocketAddr,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use civicgrid_dev::testing::metrics;
use civicgrid_e2e::{Suite, civicgrid_binary};

use crate::closed_loop::travel_the_closed_loop;

const SERVICES: [&str; 5] = ["intake", "dispatch", "notify", "mediation", "patrol"];

#[tokio::test(flavor = "multi_thread")]
async fn every_service_runs_in_one_process_and_the_loop_goes_round() {
    // Logs at info: the drain's "stopped" lines are checked at the end.
    let env = [("CIVICGRID__TELEMETRY__LOG", "info")];
    let mut suite =
        tokio::task::spawn_blocking(move || Suite::up_with_env(&["--no-demo", "--quiet", "--one-process"], &env))
            .await
            .unwrap();
    travel_the_closed_loop(&suite).await;

    // One process, named by services.pid; no service has a pid file of its own.
    let pid = suite.service_pid("services");
    let logs = suite.state.path().join("logs");
    for name in SERVICES {
        assert!(!logs.join(format!("{name}.pid")).exists(), "{name} has a pid file of its own");
    }
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    let args: Vec<String> =
        cmdline.split(|b| *b == 0).filter(|a| !a.is_empty()).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
    let named: Vec<&str> = args.iter().skip_while(|a| *a != "service").skip(1).map(String::as_str).collect();
    assert_eq!(named, SERVICES, "the process runs every service: {args:?}");
    assert!(suite.wait_for_line("  intake ", Duration::from_secs(1)).contains("services.log"));

    // Each service serves its own metrics on its own port, under its own name.
    for name in SERVICES {
        let scrape = metrics::scrape(suite.metrics[name].parse::<SocketAddr>().unwrap()).await;
        assert_eq!(scrape.value("civicgrid_ready", &[("service", name)]), Some(1.0), "{name}'s metrics");
    }

    // A second process of intake and dispatch whose intake cannot bind its port (the suite's
    // intake holds it): dispatch starts, and is stopped with it; the process fails naming intake.
    let admin_db = suite.wait_for_line("  PostgreSQL ", Duration::from_secs(1));
    let admin_db = admin_db.split_whitespace().nth(1).unwrap().to_string();
    let secrets = std::fs::read_to_string(suite.state.path().join("secrets.env")).unwrap();
    let pii_key = secrets.lines().find_map(|l| l.strip_prefix("PII_KEY=")).unwrap().to_string();
    let (out_file, err_file) = (suite.state.path().join("pair.out"), suite.state.path().join("pair.err"));
    let mut pair = Command::new(civicgrid_binary())
        .args(["service", "intake", "dispatch"])
        .env("CIVICGRID__DATABASE__URL", &admin_db)
        .env("CIVICGRID__NATS__URL", &suite.nats_addr)
        .env("CIVICGRID__METRICS__LISTEN", "127.0.0.1:0")
        .env("CIVICGRID__TELEMETRY__LOG", "info")
        .env_remove("RUST_LOG")
        .env("CIVICGRID_INTAKE__GRPC__LISTEN", &suite.intake)
        .env("CIVICGRID_INTAKE__INTAKE__PII_KEY", &pii_key)
        .env("CIVICGRID_INTAKE__NATS__USER", "intake")
        .env("CIVICGRID_INTAKE__NATS__PASSWORD", suite.nats_password("intake"))
        .env("CIVICGRID_DISPATCH__GRPC__LISTEN", "127.0.0.1:0")
        .env("CIVICGRID_DISPATCH__NATS__USER", "dispatch")
        .env("CIVICGRID_DISPATCH__NATS__PASSWORD", suite.nats_password("dispatch"))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_file).unwrap())
        .stderr(std::fs::File::create(&err_file).unwrap())
        .spawn()
        .unwrap();
    // dispatch alone would serve until stopped: the process ends only if intake's failure ends it.
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = pair.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = pair.kill();
            panic!("intake's failure did not stop the process: {}", std::fs::read_to_string(&out_file).unwrap());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let (stdout, stderr) = (std::fs::read_to_string(&out_file).unwrap(), std::fs::read_to_string(&err_file).unwrap());
    assert!(!status.success(), "the process failed\n{stdout}\n{stderr}");
    assert!(stderr.contains("service intake") && stderr.contains("grpc.listen"), "{stderr}");
    // dispatch was built and served (its log says so), and the process ended all the same.
    assert!(stdout.contains("service=\"dispatch\"") || stdout.contains("service=dispatch"), "{stdout}");

    // SIGTERM to `up` drains every service of the one process, each in its own order.
    let stopped = tokio::task::block_in_place(|| suite.terminate(Duration::from_secs(30)));
    assert!(stopped, "`civicgrid up --one-process` did not exit within 30 s of SIGTERM");
    let log = std::fs::read_to_string(logs.join("services.log")).unwrap();
    for name in SERVICES {
        let drained = log.lines().any(|l| l.contains(&format!(": stopped service=\"{name}\"")));
        assert!(drained, "{name} did not drain:\n{}", &log[log.len().saturating_sub(4000)..]);
    }
}
