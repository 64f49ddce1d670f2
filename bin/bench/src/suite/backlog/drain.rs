//! The drain as the bench sees it: every `task-assigned` fact on the bus (dispatch's half) and
//! every notification at the department's webhook (the whole loop) after the kill, timed from
//! the kill.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::super::{procs::CpuFigures, timeline::Timeline};
use crate::stats;

/// Arrivals in one window of the drain.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Window {
    /// Seconds from the kill to the window's start.
    pub from_secs: f64,
    /// Notifications received at the webhook in it.
    pub webhooks: u64,
    /// `task-assigned` facts seen on the bus in it.
    pub assigned: u64,
}

/// What the drain measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Drain {
    /// Seconds dispatch and notify were frozen (SIGSTOP → SIGKILL).
    pub frozen_secs: f64,
    /// Each restarted service, timed from the kill.
    pub restarts: Vec<super::freeze::Restarted>,
    /// Notifications (distinct tasks) received at the webhook after the kill.
    pub webhooks: u64,
    /// `task-assigned` facts seen on the bus after the kill (the bench's core subscription).
    pub assigned: u64,
    /// Seconds from the kill to the first `task-assigned` on the bus.
    pub first_assigned_secs: Option<f64>,
    /// Seconds from the kill to the first webhook.
    pub first_webhook_secs: Option<f64>,
    /// Seconds from the kill to the last `task-assigned`: dispatch's share of the drain.
    pub last_assigned_secs: Option<f64>,
    /// **Time to empty**: seconds from the kill to the last webhook.
    pub time_to_empty_secs: Option<f64>,
    /// **The drain rate**: webhooks ÷ (the kill → the last webhook), restart included.
    pub drain_per_sec: f64,
    /// Webhooks ÷ (first webhook → last webhook): the rate once the loop is running.
    pub running_per_sec: f64,
    /// `task-assigned` facts ÷ (the kill → the last of them).
    pub assigned_per_sec: f64,
    /// The busiest window's webhooks per second.
    pub peak_window_per_sec: f64,
    /// Seconds of each window.
    pub window_secs: f64,
    /// Arrivals per window from the kill.
    pub windows: Vec<Window>,
    /// Whether every report submitted while frozen reached the webhook.
    pub drained: bool,
    /// CPU from both restarted services answering SERVING until the drain ended.
    pub cpu: Option<CpuFigures>,
    /// PostgreSQL's commits (the suite's database) and WAL fsyncs (the cluster) over that time.
    pub pg: Option<String>,
    /// Commits per report drained, every service together.
    pub commits_per_report: Option<f64>,
}

/// Notifications received at the webhook at or after `since`.
fn webhooks_since(timeline: &Timeline, since: Instant) -> u64 {
    timeline.lock().hooks.values().filter(|h| h.at >= since).count() as u64
}

/// Waits until `expected` notifications have arrived at the webhook since `since`, `patience`
/// has passed, or nothing has arrived for `stall` (longer than the consumers' ack wait: the
/// messages the frozen processes had pulled come back only after it); returns whether all did.
pub async fn wait(timeline: &Timeline, since: Instant, expected: u64, patience: Duration, stall: Duration) -> bool {
    let deadline = since + patience;
    let (mut last, mut progress_at) = (0, Instant::now());
    loop {
        let done = webhooks_since(timeline, since);
        if done >= expected {
            return true;
        }
        if done != last {
            (last, progress_at) = (done, Instant::now());
        }
        if Instant::now() > deadline || progress_at.elapsed() > stall {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The drain's figures from what the timeline holds: arrivals at or after `killed`, in
/// windows of `window_secs`.
pub fn figures(timeline: &Timeline, killed: Instant, window_secs: f64) -> Drain {
    let o = timeline.lock();
    let after = |at: Instant| (at >= killed).then(|| at.duration_since(killed).as_secs_f64());
    let mut hooks: Vec<f64> = o.hooks.values().filter_map(|h| after(h.at)).collect();
    let mut assigned: Vec<f64> = o.assigned.values().filter_map(|(s, _)| after(s.at)).collect();
    drop(o);
    hooks.sort_by(f64::total_cmp);
    assigned.sort_by(f64::total_cmp);
    let end = hooks.last().copied().unwrap_or(0.0).max(assigned.last().copied().unwrap_or(0.0));
    let mut windows: Vec<Window> = (0..=(end / window_secs) as usize)
        .map(|i| Window { from_secs: i as f64 * window_secs, ..Default::default() })
        .collect();
    for t in &hooks {
        windows[(t / window_secs) as usize].webhooks += 1;
    }
    for t in &assigned {
        windows[(t / window_secs) as usize].assigned += 1;
    }
    let n = |v: &[f64]| v.len() as u64;
    let (first, last) = (hooks.first().copied(), hooks.last().copied());
    Drain {
        webhooks: n(&hooks),
        assigned: n(&assigned),
        first_assigned_secs: assigned.first().copied(),
        first_webhook_secs: first,
        last_assigned_secs: assigned.last().copied(),
        time_to_empty_secs: last,
        drain_per_sec: stats::per_sec(n(&hooks), last.unwrap_or(0.0)),
        running_per_sec: match (first, last) {
            (Some(f), Some(l)) if l > f => stats::per_sec(n(&hooks), l - f),
            _ => 0.0,
        },
        assigned_per_sec: stats::per_sec(n(&assigned), assigned.last().copied().unwrap_or(0.0)),
        peak_window_per_sec: windows.iter().map(|w| w.webhooks as f64 / window_secs).fold(0.0, f64::max),
        window_secs,
        windows,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suite::timeline::{Hooked, Seen};

    #[test]
    fn arrivals_are_timed_from_the_kill_and_windowed() {
        let t = Timeline::default();
        let killed = Instant::now();
        let at = |ms: u64| killed + Duration::from_millis(ms);
        {
            let mut o = t.lock();
            // Before the kill (the warm-up): not counted.
            o.hooks.insert(1, Hooked { at: killed - Duration::from_millis(5), notes: 1 });
            for (i, ms) in [1_500u64, 2_000, 6_000, 11_000].into_iter().enumerate() {
                o.hooks.insert(10 + i as u128, Hooked { at: at(ms), notes: 1 });
                o.assigned.insert(100 + i as u128, (Seen { at: at(ms - 500), count: 1 }, 10 + i as u128));
            }
        }
        let d = figures(&t, killed, 5.0);
        assert_eq!((d.webhooks, d.assigned), (4, 4));
        assert_eq!(d.first_webhook_secs, Some(1.5));
        assert_eq!(d.time_to_empty_secs, Some(11.0));
        assert!((d.drain_per_sec - 4.0 / 11.0).abs() < 1e-9);
        assert!((d.running_per_sec - 4.0 / 9.5).abs() < 1e-9);
        let per: Vec<u64> = d.windows.iter().map(|w| w.webhooks).collect();
        assert_eq!(per, vec![2, 1, 1]);
        assert_eq!(webhooks_since(&t, killed), 4);
    }
}
