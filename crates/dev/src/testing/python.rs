//! Real outside tools written in Python, for tests that must see the services as an outside
//! client does: grpcio (a gRPC client that is not tonic) with grpcio-tools (stubs generated
//! from `proto/`, as a department's developer would), nats-py (a county center's NATS client)
//! and the Prometheus client library's OpenMetrics parser. Installed from PyPI into the cache
//! on first use.

use std::{
    io::Write,
    path::PathBuf,
    process::{Command, Stdio},
};

use crate::infra;

/// The PyPI packages the tests use, pinned, each installed into a folder of its own.
const PACKAGES: &[(&str, &str)] = &[
    ("grpcio", "grpcio==1.85.4"),
    ("grpcio-tools", "grpcio-tools==1.85.4"),
    ("grpcio-status", "grpcio-status==1.85.3"),
    ("nats-py", "nats-py==2.16.0"),
    ("prometheus-client", "prometheus-client==0.26.0"),
];

/// A `PYTHONPATH` holding the named packages (installed on first use), for a test that runs
/// Python itself (in the background, in another directory, with its own environment).
pub fn python_path(packages: &[&str]) -> std::ffi::OsString {
    let mut path: Vec<PathBuf> = Vec::new();
    for wanted in packages {
        let (dir, spec) = PACKAGES
            .iter()
            .find(|(name, _)| name == wanted)
            .unwrap_or_else(|| panic!("no pinned PyPI package {wanted}"));
        path.push(infra::pip_install(&format!("py-{dir}"), spec).unwrap_or_else(|e| panic!("installing {spec}: {e}")));
    }
    std::env::join_paths(&path).expect("PYTHONPATH")
}

/// Runs `script` with Python 3 and the named packages (`grpcio`, `grpcio-tools`, `nats-py`,
/// `prometheus-client`) on its
/// path, feeding `stdin`; returns its standard output, or panics with its standard error.
pub fn run(packages: &[&str], script: &str, args: &[&str], stdin: &[u8]) -> String {
    let pythonpath = python_path(packages);
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .env("PYTHONPATH", pythonpath)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    if let Some(mut input) = child.stdin.take() {
        input.write_all(stdin).expect("python stdin");
    }
    let out = child.wait_with_output().expect("python3 output");
    assert!(out.status.success(), "python failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}
