//! How a scenario on the suite opens: its first lines (the command, the machine, how busy it was
//! before), `civicgrid up` started and described (its servers' versions and durability), and the
//! same facts kept for the JSON figures. `loop` and `backlog` both begin so.

use std::time::{Duration, Instant};

use anyhow::Result;
use serde::Serialize;

use super::{raw, up};
use crate::{
    env::{self, Machine},
    field,
};

/// What a scenario's figures record of its run (flattened into their JSON: `command`,
/// `machine`, `servers`, `smoke`, `background_busy_pct`, `up_secs`, `total_secs`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunFacts {
    /// The command line.
    pub command: String,
    /// The machine.
    pub machine: serde_json::Value,
    /// nats-server and PostgreSQL: executable and version.
    pub servers: Vec<String>,
    /// Whether this was the smoke.
    pub smoke: bool,
    /// Share of the machine busy in the 2 s before the run.
    pub background_busy_pct: Option<f64>,
    /// Seconds `civicgrid up` took to be up.
    pub up_secs: f64,
    /// Seconds the whole run took.
    pub total_secs: f64,
}

impl RunFacts {
    /// The summary's first lines: the command, and how busy the machine was before.
    pub fn print_head(&self) {
        println!("\n== Summary");
        println!("command: {}", self.command);
        if let Some(b) = self.background_busy_pct {
            println!(
                "background load before the run: {b:.0}% of the machine busy{}",
                if b > 10.0 { " — NOT a quiet machine" } else { "" }
            );
        }
    }

    /// The summary's last line: how long the run took.
    pub fn print_tail(&self) {
        println!("\nwhole run {:.0} s (civicgrid up was up in {:.1} s)", self.total_secs, self.up_secs);
    }
}

/// A scenario's run, opened: `civicgrid up` running, and what its figures record of the run.
pub struct Opening {
    /// `civicgrid up`, started.
    pub up: up::Up,
    /// The run's facts so far (`total_secs` is set by [`Opening::finish`]).
    facts: RunFacts,
    /// When the run began.
    started: Instant,
}

impl Opening {
    /// Stops `civicgrid up` and returns the run's facts, with the whole run's time.
    pub async fn finish(self) -> RunFacts {
        self.up.stop().await;
        RunFacts { total_secs: self.started.elapsed().as_secs_f64(), ..self.facts }
    }
}

/// Prints the scenario's heading and the run's facts, then starts `civicgrid up` (the binary
/// beside the bench, or `CIVICGRID_BIN`) with the services logging at `log`, all of them in one
/// process when `one_process`, and `env` added to what they inherit.
pub async fn open(
    scenario: &str,
    smoke: bool,
    log: &str,
    keep_state: bool,
    one_process: bool,
    env: &[(&str, String)],
) -> Result<Opening> {
    let machine = Machine::describe();
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    println!("civicgrid-bench {scenario}{}", if smoke { " (smoke)" } else { "" });
    field("command", &command);
    field(
        "machine",
        format!("nproc {}, {} RAM, {}, Linux {}", machine.nproc, machine.memory, machine.cpu, machine.kernel),
    );
    let busy = env::background_busy_pct(Duration::from_secs(2)).await;
    if let Some(b) = busy {
        field("background load", format!("{b:.0}% of the machine busy before the run (should be near 0)"));
    }
    let binary = up::binary()?;
    field("civicgrid", binary.display());
    let started = Instant::now();
    let up = up::Up::start(binary, log, keep_state, one_process, env, Duration::from_secs(300)).await?;
    field(
        "civicgrid up",
        format!(
            "up in {:.1} s (--no-demo --quiet{}; services log at {log}); state in {}{}",
            up.up_secs,
            if one_process { " --one-process: every service in one process" } else { "" },
            up.state_path.display(),
            if keep_state { " (kept)" } else { "" }
        ),
    );
    let servers = ["nats-server", "postgres"].map(|name| up::version_of(up::pid_in(&up.state_path, name))).to_vec();
    field("nats-server", format!("{}, sync_interval always (up's default)", servers[0]));
    field("postgres", format!("{}, fsync on, synchronous_commit on", servers[1]));
    let facts = RunFacts {
        command,
        machine: raw::machine_json(&machine),
        servers,
        smoke,
        background_busy_pct: busy,
        up_secs: up.up_secs,
        total_secs: 0.0,
    };
    Ok(Opening { up, facts, started })
}
