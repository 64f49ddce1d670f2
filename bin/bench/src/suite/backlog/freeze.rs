//! Stopping dispatch and notify without `up` noticing, and starting them again: SIGSTOP freezes
//! a process where it stands (its NATS consumers stay, so JetStream keeps the backlog for
//! them), and SIGKILL of a frozen process makes `up` start a fresh one after its 1 s pause, as
//! it restarts any service that dies. The new process finds the backlog on its durable
//! consumers, as a service started after an outage does.

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{Result, bail};
use async_nats::jetstream;
use futures::StreamExt;
use serde::Serialize;

use super::super::{procs, up};

/// The services frozen while the backlog is queued: the two halves of the loop after intake.
pub const FROZEN: [&str; 2] = ["dispatch", "notify"];

/// dispatch and notify, frozen. Dropped without [`Frozen::kill`] (an error on the way), they
/// are let go on again (SIGCONT), so `up` can stop them as usual.
pub struct Frozen {
    state: PathBuf,
    pids: Vec<(&'static str, u32)>,
    killed: bool,
}

/// A process's state letter from `/proc/<pid>/stat` (`T`: stopped).
fn state_of(pid: u32) -> Option<char> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    text[text.rfind(')')? + 1..].split_whitespace().next()?.chars().next()
}

fn signal(pid: u32, sig: i32) {
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(pid as i32, sig) };
}

impl Frozen {
    /// Sends SIGSTOP to the running dispatch and notify of `up`'s state directory `state`, and
    /// waits until the kernel shows both stopped.
    pub async fn stop(state: &Path) -> Result<Frozen> {
        let mut frozen = Frozen { state: state.to_path_buf(), pids: Vec::new(), killed: false };
        for service in FROZEN {
            let Some(pid) = up::pid_in(state, service) else { bail!("no running {service}") };
            signal(pid, libc::SIGSTOP);
            frozen.pids.push((service, pid));
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while !frozen.pids.iter().all(|(_, pid)| state_of(*pid) == Some('T')) {
            if Instant::now() > deadline {
                bail!("dispatch and notify did not stop on SIGSTOP within 5 s");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(frozen)
    }

    /// The frozen processes, by service.
    pub fn pids(&self) -> &[(&'static str, u32)] {
        &self.pids
    }

    /// Kills both frozen processes at once (SIGKILL: a frozen process cannot drain anyway);
    /// returns the moment, from which the drain is timed.
    pub fn kill(mut self) -> Instant {
        let at = Instant::now();
        for (_, pid) in &self.pids {
            signal(*pid, libc::SIGKILL);
        }
        self.killed = true;
        at
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        if self.killed {
            return;
        }
        for (service, pid) in &self.pids {
            // Only while the pid file still names it: never signal a pid that was reused.
            if up::pid_in(&self.state, service) == Some(*pid) {
                signal(*pid, libc::SIGCONT);
            }
        }
    }
}

/// A frozen service started again by `up`, timed from the kill.
#[derive(Debug, Clone, Serialize)]
pub struct Restarted {
    /// The service.
    pub service: String,
    /// The kill → `up` spawned the new process (its pid file names it), ms; includes up's 1 s
    /// pause before a restart.
    pub spawned_ms: f64,
    /// The kill → the new process answers health SERVING, ms.
    pub serving_ms: f64,
}

/// Waits until `up` has started `service` again after the kill of `old` at `killed` and the new
/// process answers SERVING on `port` (pid polled every 2 ms, health every 5 ms, as
/// `procs::restart` times start-ups).
pub async fn restarted(state: &Path, service: &str, old: u32, port: u16, killed: Instant) -> Result<Restarted> {
    let deadline = killed + Duration::from_secs(120);
    let (spawned, pid) = loop {
        if let Some(pid) = up::pid_in(state, service).filter(|p| *p != old) {
            break (Instant::now(), pid);
        }
        if Instant::now() > deadline {
            bail!("{service} was not started again within 120 s of the kill");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    let url = format!("http://127.0.0.1:{port}");
    while !procs::serving(&url).await {
        if Instant::now() > deadline || !Path::new(&format!("/proc/{pid}")).exists() {
            bail!("{service} (pid {pid}) did not become SERVING after the restart");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let ms = |t: Instant| t.duration_since(killed).as_secs_f64() * 1000.0;
    Ok(Restarted { service: service.to_string(), spawned_ms: ms(spawned), serving_ms: ms(Instant::now()) })
}

/// A durable consumer of a frozen service and what it holds.
#[derive(Debug, Clone, Serialize)]
pub struct Queue {
    /// The stream.
    pub stream: String,
    /// The durable (`dispatch-intake`, `notify-intake` …).
    pub consumer: String,
    /// Messages not yet delivered.
    pub pending: u64,
    /// Messages delivered and not acknowledged: pulled by the process before it froze. The new
    /// process gets them again once their ack wait (`bus.ack_wait_secs`) from that delivery has
    /// passed.
    pub ack_pending: u64,
}

/// What the frozen services' durable consumers hold, on every stream of the suite.
pub async fn queues(js: &jetstream::Context) -> Vec<Queue> {
    let mut out = Vec::new();
    let mut names = js.stream_names();
    while let Some(Ok(name)) = names.next().await {
        let Ok(stream) = js.get_stream(&name).await else { continue };
        let mut consumers = stream.consumers();
        while let Some(Ok(info)) = consumers.next().await {
            if FROZEN.iter().any(|s| info.name.starts_with(&format!("{s}-"))) {
                out.push(Queue {
                    stream: name.clone(),
                    consumer: info.name.clone(),
                    pending: info.num_pending,
                    ack_pending: info.num_ack_pending as u64,
                });
            }
        }
    }
    out.sort_by(|a, b| (&a.consumer, &a.stream).cmp(&(&b.consumer, &b.stream)));
    out
}
