//! The faults of the fault tests: a process killed, PostgreSQL stopped, and which kill points
//! fired; each waits until `civicgrid up` runs the new process. Used with [`crate::books`].

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use crate::Suite;

/// Whether process `pid` exists.
fn alive(pid: i32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Waits until `up` runs a new `name` (its pid file names a live process other than `old`);
/// returns its pid.
pub async fn await_restart(suite: &Suite, name: &str, old: i32) -> Result<i32, String> {
    let deadline = Instant::now() + Duration::from_secs(90);
    let pid_file = suite.state.path().join(format!("logs/{name}.pid"));
    loop {
        let new = std::fs::read_to_string(&pid_file).ok().and_then(|s| s.trim().parse::<i32>().ok());
        if let Some(new) = new.filter(|p| *p != old && alive(*p)) {
            return Ok(new);
        }
        if Instant::now() > deadline {
            return Err(format!("{name} ({old}) was not restarted within 90 s"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Kills `name` (a service, `nats-server` or `postgres`) with SIGKILL and waits until `up` runs
/// a new one.
pub async fn kill_and_await_restart(suite: &Suite, name: &str) -> Result<(), String> {
    let old = suite.service_pid(name);
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(old, libc::SIGKILL) };
    let new = await_restart(suite, name, old).await?;
    eprintln!("books: killed {name} ({old}); {new} runs");
    Ok(())
}

/// Stops the suite's PostgreSQL as an operator's `pg_ctl stop -m immediate` does (every backend
/// ends at once, no checkpoint; the next start recovers from the write-ahead log) and waits
/// until `up` runs a new one.
pub async fn stop_postgres_immediately(suite: &Suite) -> Result<(), String> {
    let old = suite.service_pid("postgres");
    // The postmaster's own arguments name its data directory and where its pg_ctl is.
    let cmdline = std::fs::read(format!("/proc/{old}/cmdline")).map_err(|e| format!("postgres ({old}): {e}"))?;
    let args: Vec<String> = cmdline.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
    let data_dir = args
        .iter()
        .position(|a| a == "-D")
        .and_then(|i| args.get(i + 1))
        .ok_or_else(|| format!("postgres ({old}) was started without -D: {args:?}"))?
        .clone();
    let postgres = std::fs::read_link(format!("/proc/{old}/exe")).map_err(|e| format!("postgres ({old}): {e}"))?;
    let pg_ctl = postgres.with_file_name("pg_ctl");
    let mut command = std::process::Command::new(&pg_ctl);
    // --no-wait: pg_ctl would wait for the data directory's postmaster.pid to go, and `up`
    // writes a new one when it restarts the server within half a second; the restart is
    // awaited below instead.
    command.args(["stop", "-m", "immediate", "--no-wait", "-D", &data_dir]).current_dir("/");
    {
        // pg_ctl refuses to run as root: run it as the owner of the data directory, as `up`
        // runs PostgreSQL.
        use std::os::unix::{fs::MetadataExt, process::CommandExt};
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            let owner = std::fs::metadata(&data_dir).map_err(|e| format!("{data_dir}: {e}"))?;
            command.uid(owner.uid()).gid(owner.gid());
        }
    }
    let out = tokio::task::spawn_blocking(move || command.output())
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("running {}: {e}", pg_ctl.display()))?;
    if !out.status.success() {
        return Err(format!(
            "pg_ctl stop -m immediate: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let new = await_restart(suite, "postgres", old).await?;
    eprintln!("books: stopped postgres ({old}) with pg_ctl stop -m immediate; {new} runs");
    Ok(())
}

/// How many times each armed kill point (`CIVICGRID_FAULT`) fired, from the services' logs.
pub fn kill_points_fired(suite: &Suite) -> BTreeMap<String, usize> {
    let mut fired = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(suite.state.path().join("logs")) else { return fired };
    for entry in entries.flatten() {
        let Ok(text) = std::fs::read_to_string(entry.path()) else { continue };
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("CIVICGRID_FAULT: kill point ")
                && let Some(point) = rest.split_whitespace().next()
            {
                *fired.entry(point.to_string()).or_default() += 1;
            }
        }
    }
    fired
}
