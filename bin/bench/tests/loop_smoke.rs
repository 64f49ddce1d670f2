//! The CI smoke of `civicgrid-bench loop`: the whole suite started by `civicgrid up` (debug
//! build), a few seconds of reports at a low rate and a short saturation, one restart of each
//! service. It holds only that the run completes and that the books balance — every accepted
//! report once on the bus, once a task, once assigned, once at the department's webhook — never
//! a timing (design §13: benchmarks are programs that print figures, not timed tests).

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

#[test]
fn the_loop_completes_and_its_books_balance() {
    let civicgrid = civicgrid_e2e::civicgrid_binary();
    let dir = tempfile::tempdir().expect("temp dir");
    let json = dir.path().join("loop.json");
    let log = dir.path().join("loop.out");
    let mut child = Command::new(env!("CARGO_BIN_EXE_civicgrid-bench"))
        .args(["loop", "--smoke", "--json"])
        .arg(&json)
        .env("CIVICGRID_BIN", &civicgrid)
        // The bench's suite brings its own servers; a developer's URLs must not leak in.
        .env_remove("CIVICGRID__NATS__URL")
        .env_remove("CIVICGRID__DATABASE__URL")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).expect("output file"))
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting civicgrid-bench");
    // A generous bound for a loaded CI machine; the smoke takes about 35 s on two cores.
    let deadline = Instant::now() + Duration::from_secs(240);
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for civicgrid-bench") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "civicgrid-bench loop --smoke did not finish in 240 s:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let output = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(status.success(), "civicgrid-bench loop --smoke failed ({status}):\n{output}");
    let figures: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).expect("the JSON figures")).expect("valid JSON");
    let books = &figures["books"];
    assert_eq!(figures["books_balanced"], true, "the books do not balance: {books:#}\n{output}");
    assert_eq!(figures["drained"], true, "not every report reached the webhook:\n{output}");
    let accepted = books["accepted"].as_u64().unwrap_or(0);
    assert!(accepted > 0, "no report was accepted:\n{output}");
    assert_eq!(books["tasks"].as_u64(), Some(accepted), "{books:#}");
    assert_eq!(figures["services"].as_array().map(Vec::len), Some(5), "a line per service");
}
