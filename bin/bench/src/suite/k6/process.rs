//! One run of k6: `k6 run` of the built-in script with the phase's settings, its summary
//! read back, why its connection failed (when it did), and the CPU it used.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

use super::{Plan, summary};

/// One k6 invocation's settings.
pub struct K6Run<'a> {
    /// The k6 binary.
    pub k6: &'a Path,
    /// Its working directory: the script, the summary, its output.
    pub dir: &'a Path,
    /// The script there.
    pub script: &'a Path,
    /// intake's `host:port`.
    pub target: &'a str,
    /// VUs, seconds and the run's id.
    pub plan: &'a Plan<'a>,
    /// The descriptor set to load the contract from instead of asking by reflection.
    pub protoset: Option<PathBuf>,
}

/// What one k6 invocation gave.
pub struct K6Result {
    /// Its summary.
    pub summary: summary::Summary,
    /// The reason, when every VU's connection failed (nothing sent).
    pub connect_failed: Option<String>,
    /// One refused call's line from k6's log.
    pub warning: Option<String>,
    /// Whether k6 exited 0.
    pub exit_ok: bool,
    /// Its exit status.
    pub status: String,
    /// The last lines of its stderr.
    pub stderr_tail: String,
    /// k6's CPU seconds (user + system).
    pub cpu_secs: f64,
    /// Its life, spawn → exit, seconds.
    pub wall_secs: f64,
}

impl K6Run<'_> {
    /// Runs k6 once, to the end (killed if it outlives the run by 90 s).
    pub async fn once(&self) -> Result<K6Result> {
        let summary_path = self.dir.join("summary.json");
        let _ = std::fs::remove_file(&summary_path);
        let stderr_path = self.dir.join("k6.stderr");
        let env = [
            ("TARGET", self.target.to_string()),
            ("VUS", self.plan.workers.to_string()),
            ("SECS", self.plan.secs.to_string()),
            ("RUN", self.plan.run.to_string()),
            ("SUMMARY", summary_path.display().to_string()),
        ];
        let mut command = tokio::process::Command::new(self.k6);
        command.args(["run", "--no-usage-report", "--quiet", "--no-color"]);
        for (k, v) in &env {
            command.arg("-e").arg(format!("{k}={v}"));
        }
        if let Some(p) = &self.protoset {
            command.arg("-e").arg(format!("PROTOSET={}", p.display()));
        }
        command
            .arg(self.script)
            // k6 would report its use to Grafana Labs: no traffic leaves this machine.
            .env("K6_NO_USAGE_REPORT", "true")
            .current_dir(self.dir)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(self.dir.join("k6.stdout")).context("k6's stdout file")?)
            .stderr(std::fs::File::create(&stderr_path).context("k6's stderr file")?)
            .kill_on_drop(true);
        let cpu_before = children_cpu_secs();
        let started = Instant::now();
        let mut child = command.spawn().with_context(|| format!("starting {}", self.k6.display()))?;
        // The run, k6's 30 s grace for iterations in flight, and room to start and stop.
        let patience = Duration::from_secs(self.plan.secs + 30 + 60);
        let status = match tokio::time::timeout(patience, child.wait()).await {
            Ok(status) => status.context("waiting for k6")?,
            Err(_) => {
                let _ = child.kill().await;
                bail!("k6 did not finish within {patience:?}");
            }
        };
        let wall_secs = started.elapsed().as_secs_f64();
        let cpu_secs = (children_cpu_secs() - cpu_before).max(0.0);
        let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
        let summary = match std::fs::read(&summary_path) {
            Ok(bytes) => summary::Summary::parse(&bytes)?,
            Err(e) => bail!("k6 ({status}) wrote no summary ({e}); its stderr: {}", tail(&stderr)),
        };
        let connect_failed = (summary.calls == 0).then(|| connect_error(&stderr)).flatten();
        let warning = stderr.lines().find(|l| l.contains("SubmitEvent refused")).map(|l| l.chars().take(300).collect());
        Ok(K6Result {
            summary,
            connect_failed,
            warning,
            exit_ok: status.success(),
            status: status.to_string(),
            stderr_tail: tail(&stderr),
            cpu_secs,
            wall_secs,
        })
    }
}

/// Why the connection failed, from k6's `test aborted: connect: …` line: the error alone,
/// without k6's escaping and the script's stack.
fn connect_error(stderr: &str) -> Option<String> {
    let (_, why) = stderr.lines().find_map(|l| l.split_once("test aborted: connect: "))?;
    let why = why.trim_end_matches('"').replace("\\\"", "\"");
    let why = why.split(" at default (").next().unwrap_or(&why).trim_start_matches("GoError: ");
    Some(why.chars().take(300).collect())
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(5)..].join("\n")
}

/// CPU seconds (user + system) of this process's children that have exited and been waited
/// for: k6's, read after it exits (no other child of the bench exits meanwhile).
fn children_cpu_secs() -> f64 {
    // SAFETY: getrusage writes into the struct we own; an all-zero rusage is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_CHILDREN with a valid pointer has no other preconditions.
    if unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) } != 0 {
        return 0.0;
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reason_a_connection_failed_is_read_from_k6s_log() {
        let log = r#"time="2026-12-06T20:28:36Z" level=error msg="test aborted: connect: GoError: can't get method on service \"grpc.reflection.v1alpha.ServerReflection\": Service not found: grpc.reflection.v1alpha.ServerReflection at default (file:///tmp/submit_event.js:73:22(28))""#;
        assert_eq!(
            connect_error(log).as_deref(),
            Some(
                "can't get method on service \"grpc.reflection.v1alpha.ServerReflection\": Service not found: \
                 grpc.reflection.v1alpha.ServerReflection"
            )
        );
        assert_eq!(connect_error("level=warning msg=\"SubmitEvent refused\""), None);
    }
}
