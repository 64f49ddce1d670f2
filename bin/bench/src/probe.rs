//! Where the time goes: CPU used by this process (the load generator and, in phases C and D,
//! intake itself), by PostgreSQL and by nats-server; the machine's busy and iowait share; and
//! PostgreSQL's commits and WAL fsyncs (its group-commit factor).

use std::{collections::HashMap, time::Instant};

use sqlx::Connection;

/// CPU seconds per process group, from `/proc`.
#[derive(Debug, Clone, Default)]
struct ProcCpu {
    me: f64,
    postgres: Option<f64>,
    nats: Option<f64>,
    /// CPU seconds of each kernel thread (children of kthreadd: jbd2, kworker, ksoftirqd …).
    kthreads: HashMap<u32, f64>,
}

/// Jiffies of the whole machine (`/proc/stat`'s first line).
#[derive(Debug, Clone, Copy, Default)]
struct MachineCpu {
    cpus: u32,
    total: u64,
    irq: u64,
    idle: u64,
    iowait: u64,
}

/// PostgreSQL counters.
#[derive(Debug, Clone, Copy, Default)]
pub struct PgCounters {
    /// `pg_stat_database.xact_commit` of the run's database.
    pub commits: i64,
    /// WAL fsyncs of the cluster (`pg_stat_wal.wal_sync`, or `pg_stat_io` from PostgreSQL 18).
    pub wal_syncs: Option<i64>,
}

/// One reading.
#[derive(Debug, Clone)]
pub struct Snapshot {
    at: Instant,
    machine: Option<MachineCpu>,
    procs: ProcCpu,
}

/// What was used between two snapshots.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    /// Wall seconds.
    pub secs: f64,
    /// Cores used by this process.
    pub me: f64,
    /// Cores used by PostgreSQL (all its processes), when the bench started it.
    pub postgres: Option<f64>,
    /// Cores used by nats-server, when the bench started it.
    pub nats: Option<f64>,
    /// Share of the machine's CPU time that was busy.
    pub busy_pct: Option<f64>,
    /// Share spent idle waiting for I/O.
    pub iowait_pct: Option<f64>,
    /// Cores the kernel used outside any process: its threads (journal, writeback, softirq
    /// daemons) and interrupt handling (loopback networking runs there).
    pub kernel: Option<f64>,
    /// Cores used by other programs: the machine's busy time less all of the above, when
    /// PostgreSQL and nats-server are the bench's children. Near 0 on a quiet machine.
    pub other: Option<f64>,
}

impl Usage {
    /// `bench+intake 1.21 · postgres 0.55 · nats 0.12 cores · machine 97% busy, 1% iowait`
    pub fn line(&self) -> String {
        let opt = |v: Option<f64>| v.map(|c| format!("{c:.2}")).unwrap_or_else(|| "n/a".into());
        let mut s = format!(
            "this process {:.2} · postgres {} · nats-server {} cores",
            self.me,
            opt(self.postgres),
            opt(self.nats)
        );
        if let Some(k) = self.kernel {
            s.push_str(&format!(" · kernel {k:.2}"));
        }
        if let Some(o) = self.other {
            s.push_str(&format!(" · other programs {o:.2}"));
        }
        if let (Some(b), Some(w)) = (self.busy_pct, self.iowait_pct) {
            s.push_str(&format!(" · machine {b:.0}% busy, {w:.0}% iowait"));
        }
        s
    }
}

/// Reads CPU and PostgreSQL counters.
pub struct Probe {
    ticks: f64,
    pg_pid: Option<u32>,
    nats_managed: bool,
    admin_url: String,
    db_name: String,
}

/// (comm, ppid, utime+stime, cutime+cstime) of one process, in clock ticks.
fn proc_stat(pid: &str) -> Option<(String, u32, u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text[open + 1..close].to_string();
    let rest: Vec<&str> = text[close + 1..].split_whitespace().collect();
    // rest[0] is field 3 (state); utime is field 14.
    let field = |n: usize| rest.get(n - 3).and_then(|v| v.parse::<u64>().ok());
    let ppid = field(4)? as u32;
    Some((comm, ppid, field(14)? + field(15)?, field(16)? + field(17)?))
}

impl Probe {
    /// A probe of this process, the managed servers (if any) and the run's database.
    pub fn new(pg_pid: Option<u32>, nats_managed: bool, admin_url: &str, db_name: &str) -> Probe {
        // SAFETY: sysconf has no preconditions.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        Probe {
            ticks: if ticks > 0 { ticks as f64 } else { 100.0 },
            pg_pid,
            nats_managed,
            admin_url: admin_url.to_string(),
            db_name: db_name.to_string(),
        }
    }

    fn machine() -> Option<MachineCpu> {
        let text = std::fs::read_to_string("/proc/stat").ok()?;
        let line = text.lines().next()?;
        let v: Vec<u64> = line.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
        // user nice system idle iowait irq softirq steal (guest is counted in user)
        let total = v.iter().take(8).sum();
        let cpus = text
            .lines()
            .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
            .count();
        Some(MachineCpu {
            cpus: cpus.max(1) as u32,
            total,
            irq: v.get(5).copied().unwrap_or(0) + v.get(6).copied().unwrap_or(0),
            idle: *v.get(3)?,
            iowait: *v.get(4)?,
        })
    }

    fn procs(&self) -> ProcCpu {
        let me_pid = std::process::id();
        let mut table: HashMap<u32, (String, u32, u64, u64)> = HashMap::new();
        if let Ok(entries) = std::fs::read_dir("/proc") {
            for e in entries.flatten() {
                let name = e.file_name();
                let Some(name) = name.to_str() else { continue };
                if !name.bytes().all(|b| b.is_ascii_digit()) {
                    continue;
                }
                if let (Ok(pid), Some(stat)) = (name.parse::<u32>(), proc_stat(name)) {
                    table.insert(pid, stat);
                }
            }
        }
        let secs = |t: u64| t as f64 / self.ticks;
        let me = table.get(&me_pid).map(|s| secs(s.2)).unwrap_or(0.0);
        // The postmaster's own time, its reaped children's (exited backends) and its live
        // children's (backends, walwriter, checkpointer …).
        let postgres = self.pg_pid.map(|pm| {
            let own = table.get(&pm).map(|s| s.2 + s.3).unwrap_or(0);
            let children: u64 = table.values().filter(|s| s.1 == pm).map(|s| s.2).sum();
            secs(own + children)
        });
        let nats = self
            .nats_managed
            .then(|| secs(table.values().filter(|s| s.1 == me_pid && s.0 == "nats-server").map(|s| s.2).sum()));
        let kthreads =
            table.iter().filter(|(pid, s)| s.1 == 2 && **pid != 2).map(|(pid, s)| (*pid, secs(s.2))).collect();
        ProcCpu { me, postgres, nats, kthreads }
    }

    /// CPU counters now.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot { at: Instant::now(), machine: Self::machine(), procs: self.procs() }
    }

    /// Usage between `a` and `b`.
    pub fn usage(&self, a: &Snapshot, b: &Snapshot) -> Usage {
        let secs = b.at.duration_since(a.at).as_secs_f64().max(1e-9);
        let per = |x: f64, y: f64| (y - x).max(0.0) / secs;
        let (busy_pct, iowait_pct, busy_cores, irq_cores) = match (a.machine, b.machine) {
            (Some(x), Some(y)) if y.total > x.total => {
                let total = (y.total - x.total) as f64;
                let idle = y.idle.saturating_sub(x.idle) as f64;
                let iowait = y.iowait.saturating_sub(x.iowait) as f64;
                let irq = y.irq.saturating_sub(x.irq) as f64;
                let busy = (total - idle - iowait) / total;
                let cpus = y.cpus as f64;
                (Some(100.0 * busy), Some(100.0 * iowait / total), Some(busy * cpus), Some(irq / total * cpus))
            }
            _ => (None, None, None, None),
        };
        let kthreads: f64 = b
            .procs
            .kthreads
            .iter()
            .map(|(pid, t)| (t - a.procs.kthreads.get(pid).copied().unwrap_or(0.0)).max(0.0))
            .sum();
        let kernel = irq_cores.map(|irq| irq + kthreads / secs);
        let me = per(a.procs.me, b.procs.me);
        let postgres = a.procs.postgres.zip(b.procs.postgres).map(|(x, y)| per(x, y));
        let nats = a.procs.nats.zip(b.procs.nats).map(|(x, y)| per(x, y));
        let other = match (busy_cores, postgres, nats, kernel) {
            (Some(busy), Some(p), Some(n), Some(k)) => Some((busy - me - p - n - k).max(0.0)),
            _ => None,
        };
        Usage { secs, me, postgres, nats, busy_pct, iowait_pct, kernel, other }
    }

    /// PostgreSQL's counters. Backends publish their statistics about once a second, so read
    /// these after a pause (see [`settle`]).
    pub async fn pg_counters(&self) -> Option<PgCounters> {
        let mut conn = sqlx::PgConnection::connect(&self.admin_url).await.ok()?;
        let commits: i64 = sqlx::query_scalar("SELECT xact_commit FROM pg_stat_database WHERE datname = $1")
            .bind(&self.db_name)
            .fetch_one(&mut conn)
            .await
            .ok()?;
        let wal_syncs =
            match sqlx::query_scalar::<_, i64>("SELECT wal_sync FROM pg_stat_wal").fetch_one(&mut conn).await {
                Ok(n) => Some(n),
                Err(_) => sqlx::query_scalar::<_, Option<i64>>(
                    "SELECT sum(fsyncs)::bigint FROM pg_stat_io WHERE object = 'wal'",
                )
                .fetch_one(&mut conn)
                .await
                .ok()
                .flatten(),
            };
        let _ = conn.close().await;
        Some(PgCounters { commits, wal_syncs })
    }
}

/// Commits and WAL fsyncs between two readings: `12,345 commits, 2,100 WAL fsyncs (5.9 commits per fsync)`.
pub fn pg_line(a: Option<PgCounters>, b: Option<PgCounters>, secs: f64) -> String {
    let (Some(a), Some(b)) = (a, b) else { return "n/a".into() };
    let commits = (b.commits - a.commits).max(0) as u64;
    match a.wal_syncs.zip(b.wal_syncs) {
        Some((x, y)) if y > x => {
            let syncs = (y - x) as u64;
            format!(
                "{} commits, {} WAL fsyncs ≈ {}/s ({:.1} commits per fsync)",
                crate::stats::int(commits),
                crate::stats::int(syncs),
                crate::stats::rate(crate::stats::per_sec(syncs, secs)),
                commits as f64 / syncs as f64
            )
        }
        _ => format!("{} commits, WAL fsyncs n/a", crate::stats::int(commits)),
    }
}

/// Waits long enough for PostgreSQL backends to publish their pending statistics.
pub async fn settle() {
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
}
