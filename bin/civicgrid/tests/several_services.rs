//! `civicgrid service <name> <name>…` refuses, before any service starts and without touching
//! NATS or PostgreSQL, what would leave a process half-running: a service named twice, a
//! service without the servers' URLs, two services on one address; and `up` refuses
//! `--one-process` with `--replicas`. (The process running and failing whole is
//! tests/e2e/one_process.rs.)

use std::process::{Command, Output};

/// Runs the binary with `args` and only `env` in its environment.
fn civicgrid(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_civicgrid"))
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .expect("running civicgrid")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A valid key for intake's personal data (32 bytes, base64).
const PII_KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

#[test]
fn a_service_named_twice_is_refused() {
    let out = civicgrid(&["service", "intake", "dispatch", "intake"], &[]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("service `intake` is named twice"), "{}", stderr(&out));
}

#[test]
fn a_missing_server_url_stops_the_process_naming_the_service_and_the_key() {
    let env = [("CIVICGRID_INTAKE__INTAKE__PII_KEY", PII_KEY), ("CIVICGRID__NATS__URL", "nats://127.0.0.1:1")];
    let out = civicgrid(&["service", "dispatch", "intake"], &env);
    assert!(!out.status.success());
    let text = stderr(&out);
    assert!(text.contains("service dispatch") && text.contains("database.url"), "{text}");
}

#[test]
fn two_services_on_one_address_are_refused_before_either_starts() {
    let servers = [
        ("CIVICGRID__NATS__URL", "nats://127.0.0.1:1"),
        ("CIVICGRID__DATABASE__URL", "postgres://nobody@127.0.0.1:1/none"),
        ("CIVICGRID_INTAKE__INTAKE__PII_KEY", PII_KEY),
    ];
    // Every service's metrics default to 0.0.0.0:9090.
    let out = civicgrid(&["service", "intake", "dispatch"], &servers);
    assert!(!out.status.success());
    let text = stderr(&out);
    assert!(text.contains("service dispatch's metrics.listen (0.0.0.0:9090)"), "{text}");
    assert!(text.contains("service intake's metrics.listen"), "{text}");
    assert!(text.contains("CIVICGRID_DISPATCH__METRICS__LISTEN"), "it says how to fix it: {text}");
    // One port on a given address and on every address is one address too.
    let mut env = servers.to_vec();
    env.extend([
        ("CIVICGRID_INTAKE__METRICS__LISTEN", "127.0.0.1:0"),
        ("CIVICGRID_DISPATCH__METRICS__LISTEN", "127.0.0.1:0"),
        ("CIVICGRID_DISPATCH__GRPC__LISTEN", "127.0.0.1:50051"),
    ]);
    let out = civicgrid(&["service", "intake", "dispatch"], &env);
    let text = stderr(&out);
    assert!(!out.status.success() && text.contains("service dispatch's grpc.listen (127.0.0.1:50051)"), "{text}");
}

#[test]
fn a_token_secret_left_at_the_templates_placeholder_is_refused() {
    let env = [
        ("CIVICGRID__NATS__URL", "nats://127.0.0.1:1"),
        ("CIVICGRID__DATABASE__URL", "postgres://nobody@127.0.0.1:1/none"),
        ("CIVICGRID__AUTH__HS256_SECRET", "CHANGE-ME"),
    ];
    let out = civicgrid(&["service", "dispatch"], &env);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("auth.hs256_secret"), "{}", stderr(&out));
}

#[cfg(feature = "dev")]
#[test]
fn up_runs_one_process_or_replicas_not_both() {
    let out = civicgrid(&["up", "--one-process", "--replicas", "2"], &[]);
    assert_eq!(out.status.code(), Some(2), "a usage error");
    assert!(stderr(&out).contains("cannot be used with"), "{}", stderr(&out));
}
