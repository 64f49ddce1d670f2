//! How a scenario on the suite opens: its first lines (the command, the machine, how busy it was
//! before), `civicgrid up` started and described (its servers' versions and durability), and the
//! same facts kept for the JSON figures. `loop` and `backlog` both begin so.

use std::time::{Duration, Instant};

use anyhow::Result;

use super::{raw, up};
use crate::{
    env::{self, Machine},
    field,
};

/// A scenario's run, opened: `civicgrid up` running, and what its figures record of the run.
pub struct Opening {
    /// `civicgrid up`, started.
    pub up: up::Up,
    /// The command line.
    pub command: String,
    /// The machine, as the figures' JSON holds it.
    pub machine: serde_json::Value,
    /// Share of the machine busy in the 2 s before the run.
    pub busy: Option<f64>,
    /// nats-server and PostgreSQL: executable and version.
    pub servers: Vec<String>,
    /// When the run began.
    pub started: Instant,
}

/// Prints the scenario's heading and the run's facts, then starts `civicgrid up` (the binary
/// beside the bench, or `CIVICGRID_BIN`) with the services logging at `log`.
pub async fn open(scenario: &str, smoke: bool, log: &str, keep_state: bool) -> Result<Opening> {
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
    let up = up::Up::start(binary, log, keep_state, Duration::from_secs(300)).await?;
    field(
        "civicgrid up",
        format!(
            "up in {:.1} s (--no-demo --quiet; services log at {log}); state in {}{}",
            up.up_secs,
            up.state_path.display(),
            if keep_state { " (kept)" } else { "" }
        ),
    );
    let servers = ["nats-server", "postgres"].map(|name| up::version_of(up::pid_in(&up.state_path, name))).to_vec();
    field("nats-server", format!("{}, sync_interval always (up's default)", servers[0]));
    field("postgres", format!("{}, fsync on, synchronous_commit on", servers[1]));
    Ok(Opening { up, command, machine: raw::machine_json(&machine), busy, servers, started })
}
