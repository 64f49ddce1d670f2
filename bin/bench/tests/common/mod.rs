//! What every smoke of the bench does: run `civicgrid-bench <scenario> --smoke --json FILE` on
//! servers of its own, within a generous bound for a loaded CI machine, and hand back its JSON
//! figures and its output. A smoke asserts only completion, the books and that the figures are
//! there — never a timing (design §13: benchmarks are programs that print figures, not timed
//! tests).

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

/// The figures a smoke run wrote, and what it printed (for failure messages).
pub struct Run {
    /// The `--json` file, parsed.
    pub figures: serde_json::Value,
    /// Its standard output.
    #[allow(dead_code)] // each smoke is its own crate, and not every one quotes it
    pub output: String,
}

/// Runs `civicgrid-bench <scenario> --smoke --json …` with `env` set (and `civicgrid up`'s
/// binary when `with_up`), fails the test if it does not succeed within `bound`.
pub fn smoke(scenario: &str, with_up: bool, env: &[(&str, &str)], bound: Duration) -> Run {
    smoke_with(scenario, &[], with_up, env, bound)
}

/// As [`smoke`], with `args` after `--smoke`.
#[allow(dead_code)] // each smoke is its own crate, and not every one passes arguments
pub fn smoke_with(scenario: &str, args: &[&str], with_up: bool, env: &[(&str, &str)], bound: Duration) -> Run {
    let dir = tempfile::tempdir().expect("temp dir");
    let json = dir.path().join(format!("{scenario}.json"));
    let log = dir.path().join(format!("{scenario}.out"));
    let mut command = Command::new(env!("CARGO_BIN_EXE_civicgrid-bench"));
    command
        .args([scenario, "--smoke"])
        .args(args)
        .arg("--json")
        .arg(&json)
        // Servers of its own; a developer's URLs must not leak in.
        .env_remove("CIVICGRID__NATS__URL")
        .env_remove("CIVICGRID__DATABASE__URL")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).expect("output file"))
        .stderr(Stdio::inherit());
    if with_up {
        command.env("CIVICGRID_BIN", civicgrid_e2e::civicgrid_binary());
    }
    let mut child = command.spawn().expect("starting civicgrid-bench");
    let deadline = Instant::now() + bound;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for civicgrid-bench") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "civicgrid-bench {scenario} --smoke did not finish in {} s:\n{}",
                bound.as_secs(),
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let output = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(status.success(), "civicgrid-bench {scenario} --smoke failed ({status}):\n{output}");
    let figures = serde_json::from_slice(&std::fs::read(&json).expect("the JSON figures")).expect("valid JSON");
    Run { figures, output }
}
