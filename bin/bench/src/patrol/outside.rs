//! The fixes published by an outside client: `outside/publish_positions.py`, run with the
//! machine's python3 and nats-py installed from PyPI into the cache (as the tests install their
//! tools). An in-process client can hide what a real one meets; this one shares nothing with
//! the bench but the server.

use std::{path::PathBuf, process::Stdio};

use anyhow::{Context, Result};
use civicgrid_dev::infra;

/// Publishes `fixes` from the Python publisher; returns the seconds it reported.
pub async fn publish(nats_url: &str, fixes: &[(String, bytes::Bytes)]) -> Result<f64> {
    let site = tokio::task::spawn_blocking(|| infra::pip_install("nats-py", "nats-py>=2.9"))
        .await?
        .context("installing nats-py from PyPI")?;
    let dir = tempfile::Builder::new().prefix("civicgrid-bench-fixes-").tempdir()?;
    let file = dir.path().join("fixes.bin");
    let mut data = Vec::with_capacity(fixes.len() * 96);
    for (subject, payload) in fixes {
        data.extend_from_slice(&(subject.len() as u16).to_be_bytes());
        data.extend_from_slice(subject.as_bytes());
        data.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        data.extend_from_slice(payload);
    }
    std::fs::write(&file, data).context("writing the fixes for the publisher")?;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("outside/publish_positions.py");
    let out = tokio::process::Command::new("python3")
        .arg(&script)
        .args(["--url", nats_url, "--file"])
        .arg(&file)
        .env("PYTHONPATH", &site)
        .stdin(Stdio::null())
        .output()
        .await
        .context("running the Python publisher")?;
    anyhow::ensure!(out.status.success(), "the Python publisher failed: {}", String::from_utf8_lossy(&out.stderr));
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).context("reading the publisher's figures")?;
    line["secs"].as_f64().context("the publisher printed no secs")
}
