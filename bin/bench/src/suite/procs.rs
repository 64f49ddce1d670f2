//! The suite's processes seen from `/proc`: CPU per process over a phase, resident memory,
//! and how long a service takes from being spawned to answering SERVING.

use std::{
    collections::{BTreeMap, HashMap},
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{Result, bail};
use civicgrid_kit::Shutdown;
use serde::Serialize;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};

use super::{
    figures::rss_mib,
    up::{self, ONE_PROCESS, SERVICES},
};

/// The processes accounted for: the services (`services` when `up --one-process` runs them all
/// in one), the servers, `up` itself (which also runs the console) and this bench (load, bus
/// watcher, webhook receiver).
pub const ACCOUNTED: [&str; 10] =
    ["intake", "dispatch", "notify", "mediation", "patrol", "services", "nats-server", "postgres", "up", "bench"];

/// Reads the suite's processes.
#[derive(Clone)]
pub struct Procs {
    state: PathBuf,
    up_pid: Option<u32>,
    ticks: f64,
}

/// CPU counters at one moment.
#[derive(Debug, Clone)]
pub struct Snapshot {
    at: Instant,
    ticks: BTreeMap<&'static str, u64>,
    /// (total, idle, iowait, cpus) of the machine, in ticks.
    machine: Option<(u64, u64, u64, u32)>,
}

/// CPU used between two snapshots.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CpuFigures {
    /// Wall seconds.
    pub secs: f64,
    /// Cores used by each process (PostgreSQL: all its processes).
    pub cores: BTreeMap<String, f64>,
    /// Share of the machine busy.
    pub busy_pct: Option<f64>,
    /// Share idle waiting for I/O.
    pub iowait_pct: Option<f64>,
    /// Cores busy outside the processes above: the kernel's own threads and interrupts, and
    /// other programs. Near the kernel's share on a quiet machine.
    pub elsewhere: Option<f64>,
}

impl CpuFigures {
    /// `intake 0.31 · dispatch 0.22 · … · elsewhere 0.10 cores · machine 85% busy, 3% iowait`
    pub fn line(&self) -> String {
        let mut parts: Vec<String> =
            ACCOUNTED.iter().filter_map(|n| self.cores.get(*n).map(|c| format!("{n} {c:.2}"))).collect();
        if let Some(e) = self.elsewhere {
            parts.push(format!("elsewhere {e:.2}"));
        }
        let mut s = format!("{} cores", parts.join(" · "));
        if let (Some(b), Some(w)) = (self.busy_pct, self.iowait_pct) {
            s.push_str(&format!(" · machine {b:.0}% busy, {w:.0}% iowait"));
        }
        s
    }
}

/// (ppid, utime+stime, cutime+cstime) of a process, in clock ticks.
fn stat(pid: u32) -> Option<(u32, u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest: Vec<&str> = text[text.rfind(')')? + 1..].split_whitespace().collect();
    // rest[0] is field 3 (state); ppid is field 4, utime 14, stime 15, cutime 16, cstime 17.
    let f = |n: usize| rest.get(n - 3).and_then(|v| v.parse::<u64>().ok());
    Some((f(4)? as u32, f(14)? + f(15)?, f(16)? + f(17)?))
}

/// Pids of every process whose parent is `parent`.
fn children(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| stat(*pid).is_some_and(|s| s.0 == parent))
        .collect()
}

fn machine() -> Option<(u64, u64, u64, u32)> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let v: Vec<u64> = text.lines().next()?.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    let cpus =
        text.lines().filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit)).count();
    Some((v.iter().take(8).sum(), *v.get(3)?, *v.get(4)?, cpus.max(1) as u32))
}

impl Procs {
    /// The processes of the `up` whose state directory is `state` and whose pid is `up_pid`.
    pub fn new(state: &Path, up_pid: Option<u32>) -> Procs {
        // SAFETY: sysconf has no preconditions.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        Procs { state: state.to_path_buf(), up_pid, ticks: if ticks > 0 { ticks as f64 } else { 100.0 } }
    }

    /// The pid of one of [`ACCOUNTED`].
    pub fn pid(&self, name: &str) -> Option<u32> {
        match name {
            "up" => self.up_pid,
            "bench" => Some(std::process::id()),
            _ => up::pid_in(&self.state, name),
        }
    }

    /// CPU counters now.
    pub fn snapshot(&self) -> Snapshot {
        let mut ticks = BTreeMap::new();
        for name in ACCOUNTED {
            let Some(pid) = self.pid(name) else { continue };
            let used = if name == "postgres" {
                // The postmaster, its exited backends (reaped: cutime) and its live children.
                stat(pid).map(|(_, own, reaped)| {
                    own + reaped + children(pid).iter().filter_map(|c| stat(*c)).map(|s| s.1).sum::<u64>()
                })
            } else {
                stat(pid).map(|s| s.1)
            };
            if let Some(t) = used {
                ticks.insert(name, t);
            }
        }
        Snapshot { at: Instant::now(), ticks, machine: machine() }
    }

    /// CPU used from `a` to `b`.
    pub fn usage(&self, a: &Snapshot, b: &Snapshot) -> CpuFigures {
        let secs = b.at.duration_since(a.at).as_secs_f64().max(1e-9);
        let cores: BTreeMap<String, f64> = b
            .ticks
            .iter()
            .filter_map(|(name, t)| {
                let before = a.ticks.get(name)?;
                (t >= before).then(|| (name.to_string(), (t - before) as f64 / self.ticks / secs))
            })
            .collect();
        let (busy_pct, iowait_pct, elsewhere) = match (a.machine, b.machine) {
            (Some(x), Some(y)) if y.0 > x.0 => {
                let total = (y.0 - x.0) as f64;
                let idle = y.1.saturating_sub(x.1) as f64;
                let iowait = y.2.saturating_sub(x.2) as f64;
                let busy = (total - idle - iowait) / total;
                let accounted: f64 = cores.values().sum();
                (Some(100.0 * busy), Some(100.0 * iowait / total), Some((busy * y.3 as f64 - accounted).max(0.0)))
            }
            _ => (None, None, None),
        };
        CpuFigures { secs, cores, busy_pct, iowait_pct, elsewhere }
    }

    /// Resident memory (MiB) of each service, nats-server, `up` and the bench, now.
    pub fn rss(&self) -> BTreeMap<String, f64> {
        ACCOUNTED
            .iter()
            .filter(|n| **n != "postgres")
            .filter_map(|n| Some((n.to_string(), rss_mib(self.pid(n)?)?)))
            .collect()
    }

    /// Samples [`Procs::rss`] every 250 ms until the returned sampler is stopped; keeps the
    /// largest value of each process.
    pub fn sample_rss(&self) -> RssSampler {
        let peak: Arc<Mutex<BTreeMap<String, f64>>> = Arc::default();
        let stop = Shutdown::new();
        let (procs, into, until) = (self.clone(), peak.clone(), stop.clone());
        let task = tokio::spawn(async move {
            loop {
                let now = procs.rss();
                {
                    let mut peak = into.lock().unwrap_or_else(|e| e.into_inner());
                    for (name, mib) in now {
                        let p = peak.entry(name).or_insert(0.0);
                        *p = p.max(mib);
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                    _ = until.cancelled() => break,
                }
            }
        });
        RssSampler { peak, stop, task }
    }
}

/// A running memory sampler.
pub struct RssSampler {
    peak: Arc<Mutex<BTreeMap<String, f64>>>,
    stop: Shutdown,
    task: tokio::task::JoinHandle<()>,
}

impl RssSampler {
    /// Stops sampling; the largest resident memory of each process, MiB.
    pub async fn stop(self) -> BTreeMap<String, f64> {
        self.stop.cancel();
        let _ = self.task.await;
        std::mem::take(&mut *self.peak.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// One restart of a service, timed.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Restart {
    /// From `up` spawning the new process (its pid file names it) to health SERVING, ms.
    pub spawn_to_serving_ms: f64,
    /// The new process's age when it answered SERVING, ms, from the kernel's record of its
    /// start (`/proc/<pid>/stat`, 10 ms ticks): a check on the figure above.
    pub age_at_serving_ms: Option<f64>,
    /// From SIGTERM to the old process to SERVING again, ms (includes its drain and `up`'s
    /// 1 s pause before a restart).
    pub stop_to_serving_ms: f64,
}

/// How long ago process `pid` started, ms, from `/proc/<pid>/stat` (field 22) and `/proc/uptime`.
fn age_ms(pid: u32, ticks: f64) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest: Vec<&str> = text[text.rfind(')')? + 1..].split_whitespace().collect();
    let start: f64 = rest.get(22 - 3)?.parse().ok()?;
    let uptime: f64 = std::fs::read_to_string("/proc/uptime").ok()?.split_whitespace().next()?.parse().ok()?;
    Some(((uptime - start / ticks) * 1000.0).max(0.0))
}

/// Stops `service` with SIGTERM, as an orchestrator would, and times `up`'s restart of it: the
/// new pid is looked for every 2 ms, health every 5 ms on a fresh connection.
pub async fn restart(procs: &Procs, service: &str, port: u16) -> Result<Restart> {
    let state = procs.state.as_path();
    let Some(old) = up::pid_in(state, service) else { bail!("no running {service}") };
    let stopped = Instant::now();
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(old as i32, libc::SIGTERM) };
    let deadline = stopped + Duration::from_secs(120);
    let (spawned, pid) = loop {
        if let Some(pid) = up::pid_in(state, service).filter(|p| *p != old) {
            break (Instant::now(), pid);
        }
        if Instant::now() > deadline {
            bail!("{service} was not restarted within 120 s");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    let url = format!("http://127.0.0.1:{port}");
    loop {
        if serving(&url).await {
            let now = Instant::now();
            return Ok(Restart {
                spawn_to_serving_ms: now.duration_since(spawned).as_secs_f64() * 1000.0,
                age_at_serving_ms: age_ms(pid, procs.ticks),
                stop_to_serving_ms: now.duration_since(stopped).as_secs_f64() * 1000.0,
            });
        }
        if Instant::now() > deadline || !Path::new(&format!("/proc/{pid}")).exists() {
            bail!("{service} (pid {pid}) did not become SERVING");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Whether `url` answers Health/Check with SERVING now.
pub async fn serving(url: &str) -> bool {
    let Ok(endpoint) = tonic::transport::Endpoint::from_shared(url.to_string()) else { return false };
    let Ok(channel) =
        endpoint.connect_timeout(Duration::from_millis(500)).timeout(Duration::from_secs(2)).connect().await
    else {
        return false;
    };
    HealthClient::new(channel)
        .check(HealthCheckRequest { service: String::new() })
        .await
        .is_ok_and(|r| r.get_ref().status == ServingStatus::Serving as i32)
}

/// Idle, under-load and start-up figures of one service.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ServiceLine {
    /// The service.
    pub service: String,
    /// Resident memory at rest after start-up, MiB.
    pub idle_mib: Option<f64>,
    /// Largest resident memory while the saturation load ran, MiB.
    pub load_mib: Option<f64>,
    /// Cores used under the saturation load.
    pub load_cores: Option<f64>,
    /// Each restart timed.
    pub restarts: Vec<Restart>,
}

impl ServiceLine {
    /// The median spawn → SERVING of the restarts, ms.
    pub fn startup_ms(&self) -> Option<f64> {
        let mut v: Vec<f64> = self.restarts.iter().map(|r| r.spawn_to_serving_ms).collect();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied()
    }
}

/// The lines of every service from the figures gathered.
pub fn service_lines(
    idle: &BTreeMap<String, f64>,
    load: &BTreeMap<String, f64>,
    cpu: Option<&CpuFigures>,
    mut restarts: HashMap<String, Vec<Restart>>,
) -> Vec<ServiceLine> {
    // With `--one-process` the services' one process has a line of its own.
    let one = idle.contains_key(ONE_PROCESS).then_some(ONE_PROCESS);
    SERVICES
        .iter()
        .copied()
        .chain(one)
        .map(|s| ServiceLine {
            service: s.to_string(),
            idle_mib: idle.get(s).copied(),
            load_mib: load.get(s).copied(),
            load_cores: cpu.and_then(|c| c.cores.get(s).copied()),
            restarts: restarts.remove(s).unwrap_or_default(),
        })
        .collect()
}
