//! The gRPC edge under a few thousand random and mutated requests: `civicgrid-fuzz` (the long-run
//! program of docs/reliability.md, tests/src/fuzz) run briefly, as the docs show it. No INTERNAL
//! or UNKNOWN for a well-formed request, no lost connection, no hang, and every service still
//! SERVING in its first process afterwards.

use std::process::Command;

use crate::readme::blocks_of;

#[tokio::test(flavor = "multi_thread")]
async fn random_requests_to_every_rpc_get_a_clear_answer_and_crash_nothing() {
    // The docs' command, with the binary cargo built for this test and fewer cases.
    let block = &blocks_of("docs/reliability.md", "## Bad input at the edge: the fuzzer", "sh")[0];
    let args: Vec<&str> = block.split("--bin civicgrid-fuzz --").nth(1).unwrap().split_whitespace().collect();
    assert_eq!(args, ["--cases", "300000", "--seed", "7"], "the docs' command changed: {block}");
    let out = tokio::task::spawn_blocking(|| {
        Command::new(env!("CARGO_BIN_EXE_civicgrid-fuzz")).args(["--cases", "3000", "--seed", "7"]).output().unwrap()
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    println!("{text}");
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("3000 requests over 79 RPCs"), "{text}");
    assert!(text.contains("failures             0"), "{text}");
    for name in ["intake", "dispatch", "notify", "mediation", "patrol"] {
        assert!(text.contains(&format!("{name:<10} serving true, same process true")), "{text}");
    }
}
