//! Kill points: a testing facility that ends the process at an exact place in the code.
//!
//! The fault tests need a process to die exactly between two steps whose order matters for the
//! books — after the outbox rows are committed but before they are published, after a consumed
//! message is applied but before it is acked — and a `kill -9` from outside lands there only by
//! luck. The code calls [`point`] at those places; it does nothing unless `CIVICGRID_FAULT`
//! arms that point for this service.
//!
//! `CIVICGRID_FAULT` is a comma-separated list of `<service>.<point>:<n>[@<life>]`:
//!
//! - `intake.relay.before_publish:5` — intake aborts at the 5th time its relay reaches that
//!   point, in its first process only;
//! - `intake.relay.after_publish:5@1` — in its second process (the first restart), and so on;
//! - `dispatch.inbox.before_ack:20@*` — in every process, at each one's 20th hit.
//!
//! A process's life is `CIVICGRID_LIFE`, which `civicgrid up` sets to how many times it has
//! restarted the service (0 for the first process; unset counts as 0). With a fixed life a test
//! gets exactly one crash per armed point and then watches the restarted process recover;
//! with `@*` the service crashes again and again, and still moves on, because each process does
//! `n − 1` hits of work before it dies (so `n` must be at least 2).
//!
//! The variable is read once, at the first call. Unset or empty, every [`point`] is a load of an
//! already-initialised cell and a return. A process is ended with [`std::process::abort`]
//! (SIGABRT, no destructors run, nothing flushed or rolled back by the process itself), as a
//! crash would end it; a line on stderr (the service's log) says which point fired.
//! docs/reliability.md lists the points.

use std::sync::{
    OnceLock,
    atomic::{AtomicU64, Ordering},
};

/// The variable that arms kill points.
pub const VAR: &str = "CIVICGRID_FAULT";

/// The variable that tells a process which of its service's processes it is (0, 1, …); set by
/// `civicgrid up`.
pub const LIFE_VAR: &str = "CIVICGRID_LIFE";

/// The points the code has, as `CIVICGRID_FAULT` names them after the service.
pub const POINTS: &[&str] = &["relay.before_publish", "relay.after_publish", "inbox.before_ack", "submit.after_commit"];

/// One armed point of this process.
#[derive(Debug)]
struct Armed {
    service: String,
    point: String,
    /// The hit that fires.
    at: u64,
    hits: AtomicU64,
}

/// Which of a service's processes an entry fires in.
#[derive(Debug, PartialEq)]
enum Life {
    Only(u64),
    Every,
}

static ARMED: OnceLock<Vec<Armed>> = OnceLock::new();

/// Counts a hit of `point` in `service`; when `CIVICGRID_FAULT` arms it for this process and
/// this is the hit it names, says so on stderr and aborts the process.
pub fn point(service: &str, point: &str) {
    let armed = ARMED.get_or_init(|| from_env(std::env::var(VAR).ok(), std::env::var(LIFE_VAR).ok()));
    if armed.is_empty() {
        return;
    }
    for a in armed {
        if a.service == service && a.point == point && a.hits.fetch_add(1, Ordering::SeqCst) + 1 == a.at {
            // stderr, not tracing: the line must be written before the abort, whatever the
            // subscriber buffers.
            eprintln!("{VAR}: kill point {service}.{point} reached for the {} time; aborting", ordinal(a.at));
            std::process::abort();
        }
    }
}

/// The points of `spec` armed in process `life`; a malformed entry is reported on stderr and
/// left out (this is a testing facility: it must not stop a service from starting).
fn from_env(spec: Option<String>, life: Option<String>) -> Vec<Armed> {
    let Some(spec) = spec.filter(|s| !s.trim().is_empty()) else { return Vec::new() };
    let life: u64 = life.and_then(|l| l.trim().parse().ok()).unwrap_or(0);
    let mut armed = Vec::new();
    for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        match parse(entry) {
            Ok((service, point, at, when)) => {
                if when == Life::Every || when == Life::Only(life) {
                    armed.push(Armed { service, point, at, hits: AtomicU64::new(0) });
                }
            }
            Err(reason) => eprintln!("{VAR}: ignoring `{entry}`: {reason}"),
        }
    }
    armed
}

/// `<service>.<point>:<n>[@<life>|@*]` as its service, point, hit and life.
fn parse(entry: &str) -> Result<(String, String, u64, Life), String> {
    let (name, count) = entry.rsplit_once(':').ok_or("expected <service>.<point>:<n>[@<life>]")?;
    let (count, life) = match count.split_once('@') {
        None => (count, Life::Only(0)),
        Some((count, "*")) => (count, Life::Every),
        Some((count, life)) => (count, Life::Only(life.parse().map_err(|_| format!("bad life `{life}`"))?)),
    };
    let at: u64 = count.parse().map_err(|_| format!("bad count `{count}`"))?;
    if at == 0 {
        return Err("the count starts at 1".into());
    }
    if life == Life::Every && at < 2 {
        return Err("with @* the count must be at least 2, or no process would get past the point".into());
    }
    // Service names have no dots; point names do.
    let (service, point) = name.split_once('.').ok_or("expected <service>.<point>")?;
    if service.is_empty() || !POINTS.contains(&point) {
        return Err(format!("no such point (known: {})", POINTS.join(", ")));
    }
    Ok((service.to_string(), point.to_string(), at, life))
}

fn ordinal(n: u64) -> String {
    let suffix = match (n % 10, n % 100) {
        (1, 11) | (2, 12) | (3, 13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(spec: &str, life: &str) -> Vec<(String, u64)> {
        from_env(Some(spec.into()), Some(life.into()))
            .into_iter()
            .map(|a| (format!("{}.{}", a.service, a.point), a.at))
            .collect()
    }

    #[test]
    fn entries_fire_in_the_life_they_name() {
        let spec = "intake.relay.before_publish:5, intake.relay.after_publish:3@1,dispatch.inbox.before_ack:20@*";
        assert_eq!(
            names(spec, "0"),
            [("intake.relay.before_publish".to_string(), 5), ("dispatch.inbox.before_ack".to_string(), 20)]
        );
        assert_eq!(
            names(spec, "1"),
            [("intake.relay.after_publish".to_string(), 3), ("dispatch.inbox.before_ack".to_string(), 20)]
        );
        assert_eq!(names(spec, "2"), [("dispatch.inbox.before_ack".to_string(), 20)]);
        // Outside `up` a process is the first of its service.
        assert_eq!(from_env(Some("notify.inbox.before_ack:2".into()), None).len(), 1);
    }

    #[test]
    fn malformed_entries_are_left_out_and_the_rest_kept() {
        for bad in [
            "intake.relay.before_publish",
            "intake.relay.before_publish:0",
            "intake.nowhere:3",
            "relay.before_publish:3",
            "intake.inbox.before_ack:1@*",
            "intake.inbox.before_ack:3@x",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            names("intake.nowhere:3,notify.inbox.before_ack:4", "0"),
            [("notify.inbox.before_ack".to_string(), 4)]
        );
        assert!(from_env(None, None).is_empty());
        assert!(from_env(Some(" ".into()), None).is_empty());
    }

    #[test]
    fn an_armed_point_aborts_the_process_at_its_hit() {
        const CHILD: &str = "CIVICGRID_FAULT_TEST_CHILD";
        if std::env::var_os(CHILD).is_some() {
            for hit in 1..=3 {
                eprintln!("hit {hit}");
                point("kit", "inbox.before_ack");
            }
            return;
        }
        // This test again, in a process of its own, armed.
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "faults::tests::an_armed_point_aborts_the_process_at_its_hit", "--nocapture"])
            .env(CHILD, "1")
            .env(VAR, "kit.inbox.before_ack:2,kit.relay.before_publish:1")
            .env_remove(LIFE_VAR)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(out.status.signal(), Some(6), "{stderr}");
        assert!(
            stderr.contains("hit 2\nCIVICGRID_FAULT: kill point kit.inbox.before_ack reached for the 2nd time"),
            "{stderr}"
        );
        assert!(!stderr.contains("hit 3"), "{stderr}");
    }

    #[test]
    fn an_unarmed_point_does_nothing() {
        // The test process has no CIVICGRID_FAULT naming this service.
        for _ in 0..10 {
            point("no-such-service", "relay.before_publish");
        }
        assert_eq!(ordinal(1), "1st");
        assert_eq!(ordinal(12), "12th");
        assert_eq!(ordinal(22), "22nd");
    }
}
