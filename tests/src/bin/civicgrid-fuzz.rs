//! `civicgrid-fuzz`: the long fuzz run of the gRPC edge (tests/src/fuzz). Starts its own suite
//! (`civicgrid up --no-demo`), sends random and mutated requests to every RPC of every service,
//! then checks that every service is SERVING in the process it started in. Prints the outcomes
//! and each failing request; exits 1 when a rule was broken.
//!
//! ```sh
//! cargo run -p civicgrid-e2e --release --bin civicgrid-fuzz -- --cases 300000 --seed 7
//! ```

use std::time::Duration;

use civicgrid_e2e::{Suite, fuzz};

fn main() -> std::process::ExitCode {
    let mut options = fuzz::Options { cases: 200_000, seed: 1, concurrency: 16, call_timeout: Duration::from_secs(10) };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = pair.get(1).and_then(|v| v.parse::<u64>().ok());
        match (pair[0].as_str(), value) {
            ("--cases", Some(n)) => options.cases = n as usize,
            ("--seed", Some(n)) => options.seed = n,
            ("--concurrency", Some(n)) => options.concurrency = n as usize,
            _ => {
                eprintln!("usage: civicgrid-fuzz [--cases N] [--seed N] [--concurrency N]");
                return std::process::ExitCode::from(2);
            }
        }
    }
    let Ok(runtime) = tokio::runtime::Runtime::new() else { return std::process::ExitCode::FAILURE };
    let suite = Suite::up(&["--no-demo", "--quiet"]);
    let names = ["intake", "dispatch", "notify", "mediation", "patrol"];
    let pids: Vec<i32> = names.iter().map(|n| suite.service_pid(n)).collect();
    let ok = runtime.block_on(async {
        let report = match fuzz::run(&suite.fuzz_targets(), &options).await {
            Ok(report) => report,
            Err(e) => {
                eprintln!("civicgrid-fuzz: {e}");
                return false;
            }
        };
        println!("{}", report.summary());
        let mut ok = report.failures.is_empty();
        for (target, (name, pid)) in suite.fuzz_targets().iter().zip(names.iter().zip(&pids)) {
            let serving = fuzz::serving(&target.address).await;
            let same = suite.service_pid(name) == *pid;
            println!("  {name:<10} serving {serving}, same process {same}");
            ok &= serving && same;
        }
        ok
    });
    if ok { std::process::ExitCode::SUCCESS } else { std::process::ExitCode::FAILURE }
}
