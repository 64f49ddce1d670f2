//! The CI smoke of `civicgrid-bench backlog`: the whole suite started by `civicgrid up` (debug
//! build), a warm-up through the loop, 500 reports queued while dispatch and notify are frozen,
//! both killed and started again by `up`, the drain to the department's webhook. It holds only
//! that the run completes, every queued report arrives and the books balance — never a timing
//! (design §13: benchmarks are programs that print figures, not timed tests).

mod common;

use std::time::Duration;

#[test]
fn the_backlog_drains_and_its_books_balance() {
    let common::Run { figures, output } = common::smoke(
        "backlog",
        true,
        // The services' ack wait is the bench's (`--ack-wait-secs`, 5 s): the messages the
        // frozen processes had pulled come back to the new ones that long after a 1 s freeze.
        &[],
        Duration::from_secs(240),
    );
    let books = &figures["books"];
    assert_eq!(figures["books_balanced"], true, "the books do not balance: {books:#}\n{output}");
    assert_eq!(figures["drained"], true, "not every queued report reached the webhook:\n{output}");
    let queued = figures["submit"]["accepted"].as_u64().unwrap_or(0);
    assert!(queued > 0, "no report was queued:\n{output}");
    assert_eq!(figures["drain"]["webhooks"].as_u64(), Some(queued), "{:#}", figures["drain"]);
    assert_eq!(figures["drain"]["restarts"].as_array().map(Vec::len), Some(2), "dispatch and notify restarted");
    assert!(figures["drain"]["time_to_empty_secs"].is_number(), "{:#}", figures["drain"]);
    assert!(figures["target"]["measured"].is_string(), "the target line is there");
}
