//! One phase of the loop (a fixed rate, or the saturation): waiting until its reports have
//! gone all the way round, and what their times were at each hop.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::{drive::Sent, figures::Percentiles, procs::CpuFigures, timeline::Timeline};
use crate::stats::{self, int, rate};

/// Latency from the send (scheduled send, in the open loop) to each point of the loop.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Stages {
    /// SubmitEvent answered.
    pub answered: Percentiles,
    /// The `event-reported` fact on the bus (intake committed it and its relay published it).
    pub reported: Percentiles,
    /// The `task-assigned` fact on the bus (dispatch routed it).
    pub assigned: Percentiles,
    /// The department's webhook received it (notify told it): the whole loop.
    pub webhook: Percentiles,
}

/// Latency of each hop between points of the loop.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Hops {
    /// Send → `event-reported` on the bus: intake (gRPC, transaction, outbox relay, JetStream).
    pub intake: Percentiles,
    /// `event-reported` → `task-assigned`: dispatch (consumer, routing, transaction, relay).
    pub dispatch: Percentiles,
    /// `task-assigned` → webhook received: notify (consumer, rules, inbox, delivery worker, HTTP).
    pub notify: Percentiles,
}

/// Reports that did not reach a point of the loop within the wait.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Missing {
    /// Without an `event-reported` fact seen.
    pub reported: u64,
    /// Without a `task-assigned` fact seen.
    pub assigned: u64,
    /// Without a webhook call.
    pub webhook: u64,
}

/// The figures of one phase.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PhaseFigures {
    /// `100/s`, `saturation, 32 workers` …
    pub name: String,
    /// Reports per second offered (open loop).
    pub offered_per_sec: Option<f64>,
    /// Workers (closed loop).
    pub workers: Option<usize>,
    /// Reports sent.
    pub sent: u64,
    /// Accepted by intake.
    pub accepted: u64,
    /// Answered `merged` (should be 0).
    pub merged: u64,
    /// Refused or failed.
    pub errors: u64,
    /// One failure's message.
    pub error_example: Option<String>,
    /// Seconds from the first send to the last answer.
    pub submit_secs: f64,
    /// Accepted per second over that window.
    pub accepted_per_sec: f64,
    /// Reports whose webhook arrived.
    pub completed: u64,
    /// Seconds from the first send to the last webhook received.
    pub loop_secs: f64,
    /// **The loop's throughput**: completed ÷ (first send → last webhook).
    pub loop_per_sec: f64,
    /// Seconds from the last answer to the last webhook (the backlog the loop still had).
    pub after_submit_secs: f64,
    /// Whether every accepted report reached the webhook.
    pub drained: bool,
    /// What did not arrive.
    pub missing: Missing,
    /// Latency from the send to each point.
    pub stages: Stages,
    /// Latency of each hop.
    pub hops: Hops,
    /// Webhooks received in each second from the first send.
    pub webhooks_per_second: Vec<u64>,
    /// The open loop's largest delay behind its timetable, ms.
    pub max_slip_ms: f64,
    /// Most submissions in flight.
    pub max_in_flight: usize,
    /// CPU from the first send until the phase drained.
    pub cpu: Option<CpuFigures>,
    /// `loop_per_sec` ÷ raw two-row commits/s.
    pub ratio_to_raw: Option<f64>,
    /// PostgreSQL's commits (the suite's database) and WAL fsyncs (the cluster) in the phase.
    pub pg: Option<String>,
    /// Commits per accepted report, every service together.
    pub commits_per_report: Option<f64>,
    /// Rows inserted, updated and deleted per accepted report, every service together.
    pub rows_per_report: Option<f64>,
    /// Rows read by sequential scans per report, by table (the most first).
    pub seq_rows_per_report: Vec<(String, f64)>,
    /// Rows inserted, updated and deleted per report, by table (the eight with the most).
    pub written_per_report: Vec<(String, f64)>,
    /// PostgreSQL's execution time per report (`--statements`), ms.
    pub statements_ms_per_report: Option<f64>,
    /// PostgreSQL's planning time per report (`--statements`), ms.
    pub statements_plan_ms_per_report: Option<f64>,
    /// The statements with the most execution time (`--statements`).
    pub statements: Vec<super::statements::Statement>,
}

/// Waits until every accepted report of `phase` has reached the webhook, `patience` has passed,
/// or nothing has arrived for 30 s; returns whether all did.
pub async fn wait_drained(timeline: &Timeline, phase: usize, patience: Duration) -> bool {
    let deadline = Instant::now() + patience;
    let (mut last_done, mut progress_at) = (0, Instant::now());
    loop {
        let (done, all) = timeline.completed(phase);
        if done >= all {
            return true;
        }
        if done != last_done {
            (last_done, progress_at) = (done, Instant::now());
        }
        if Instant::now() > deadline || progress_at.elapsed() > Duration::from_secs(30) {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The figures of `phase` from what the timeline holds.
pub fn figures(name: String, phase: usize, sent: &Sent, timeline: &Timeline, drained: bool) -> PhaseFigures {
    let o = timeline.lock();
    let mut h: [hdrhistogram::Histogram<u64>; 7] = std::array::from_fn(|_| stats::histogram());
    let since = |later: Instant, earlier: Instant| later.saturating_duration_since(earlier);
    let mut missing = Missing::default();
    let (mut first, mut last_answer, mut last_hook) = (None::<Instant>, None::<Instant>, None::<Instant>);
    let mut hooks = Vec::new();
    let mut completed = 0;
    for (event, a) in o.answers.iter().filter(|(_, a)| a.phase == phase) {
        first = Some(first.map_or(a.sent, |f| f.min(a.sent)));
        last_answer = Some(last_answer.map_or(a.answered, |l| l.max(a.answered)));
        stats::record(&mut h[0], since(a.answered, a.sent));
        let reported = o.reported.get(event).map(|s| s.at);
        match reported {
            Some(r) => stats::record(&mut h[1], since(r, a.sent)),
            None => missing.reported += 1,
        }
        let Some((assigned, task)) = o.assigned.get(event).map(|(s, t)| (s.at, *t)) else {
            missing.assigned += 1;
            missing.webhook += 1;
            continue;
        };
        stats::record(&mut h[2], since(assigned, a.sent));
        if let Some(r) = reported {
            stats::record(&mut h[5], since(assigned, r));
        }
        match o.hooks.get(&task) {
            Some(hook) => {
                completed += 1;
                stats::record(&mut h[3], since(hook.at, a.sent));
                stats::record(&mut h[6], since(hook.at, assigned));
                last_hook = Some(last_hook.map_or(hook.at, |l| l.max(hook.at)));
                hooks.push(hook.at);
            }
            None => missing.webhook += 1,
        }
    }
    // The intake hop is the send → event-reported stage itself.
    h[4] = h[1].clone();
    let first = first.unwrap_or_else(Instant::now);
    let loop_secs = last_hook.map(|l| since(l, first).as_secs_f64()).unwrap_or(0.0);
    let mut per_second = vec![0u64; loop_secs.ceil() as usize + 1];
    for at in hooks {
        let s = (since(at, first).as_secs() as usize).min(per_second.len() - 1);
        per_second[s] += 1;
    }
    let p = |i: usize| Percentiles::of(&h[i]);
    PhaseFigures {
        name,
        sent: sent.sent,
        accepted: sent.ok,
        merged: sent.merged,
        errors: sent.errors.total(),
        error_example: sent.errors.example.clone(),
        submit_secs: sent.secs,
        accepted_per_sec: stats::per_sec(sent.ok, sent.secs),
        completed,
        loop_secs,
        loop_per_sec: stats::per_sec(completed, loop_secs),
        after_submit_secs: match (last_hook, last_answer) {
            (Some(h), Some(a)) => h.saturating_duration_since(a).as_secs_f64(),
            _ => 0.0,
        },
        drained,
        missing,
        stages: Stages { answered: p(0), reported: p(1), assigned: p(2), webhook: p(3) },
        hops: Hops { intake: p(4), dispatch: p(5), notify: p(6) },
        webhooks_per_second: per_second,
        max_slip_ms: sent.max_slip_ms,
        max_in_flight: sent.max_in_flight,
        ..Default::default()
    }
}

impl PhaseFigures {
    /// Prints the phase's figures.
    pub fn print(&self) {
        use crate::field;
        field(
            "submitted",
            format!(
                "{} sent, {} accepted ({}/s over {:.1} s), merged {}, errors {}{}",
                int(self.sent),
                int(self.accepted),
                rate(self.accepted_per_sec),
                self.submit_secs,
                int(self.merged),
                int(self.errors),
                self.error_example.as_deref().map(|e| format!(" (e.g. \"{e}\")")).unwrap_or_default()
            ),
        );
        field(
            "loop",
            format!(
                "{} of {} reached the webhook; {}/s from the first send to the last webhook ({:.2} s, {:.2} s after the last answer){}",
                int(self.completed),
                int(self.accepted),
                rate(self.loop_per_sec),
                self.loop_secs,
                self.after_submit_secs,
                if self.drained { "" } else { " — NOT ALL ARRIVED" }
            ),
        );
        if let Some(r) = self.ratio_to_raw {
            field("ratio to raw", format!("{:.0}% of raw two-row commits/s", 100.0 * r));
        }
        field("answered", self.stages.answered.line());
        field("on the bus: reported", self.stages.reported.line());
        field("on the bus: assigned", self.stages.assigned.line());
        field("webhook received", self.stages.webhook.line());
        field("hop intake", self.hops.intake.line());
        field("hop dispatch", self.hops.dispatch.line());
        field("hop notify", self.hops.notify.line());
        let m = &self.missing;
        if m.reported + m.assigned + m.webhook > 0 {
            field("not seen", format!("reported {} · assigned {} · webhook {}", m.reported, m.assigned, m.webhook));
        }
        let per: Vec<String> = self.webhooks_per_second.iter().map(|n| int(*n)).collect();
        field("webhooks per second", per.join(" "));
        if self.offered_per_sec.is_some() {
            field("schedule", format!("max {:.1} ms behind, max {} in flight", self.max_slip_ms, self.max_in_flight));
        }
        if let Some(c) = &self.cpu {
            field("cpu", c.line());
            // CPU time per report that went round: what each process costs the loop.
            let per: Vec<String> = super::procs::ACCOUNTED
                .iter()
                .filter_map(|n| {
                    c.cores.get(*n).map(|cores| (n, cores * c.secs * 1000.0 / self.completed.max(1) as f64))
                })
                .filter(|(_, ms)| *ms >= 0.005)
                .map(|(n, ms)| format!("{n} {ms:.2}"))
                .collect();
            field("cpu per report, ms", per.join(" · "));
        }
        if let Some(pg) = &self.pg {
            let mut per = self.commits_per_report.map(|c| format!(" · {c:.2} commits")).unwrap_or_default();
            if let Some(r) = self.rows_per_report {
                per.push_str(&format!(" and {r:.1} rows written"));
            }
            field("postgres", format!("{pg}{per} per report"));
        }
        if !self.seq_rows_per_report.is_empty() {
            field("seq-scanned rows", format!("{} per report", tables_line(&self.seq_rows_per_report)));
        }
        if !self.written_per_report.is_empty() {
            field("rows written", format!("{} per report", tables_line(&self.written_per_report)));
        }
    }
}

/// `schema.table n · …`: whole numbers from 10 up, one decimal below.
pub fn tables_line(tables: &[(String, f64)]) -> String {
    tables
        .iter()
        .map(|(t, n)| if *n >= 10.0 { format!("{t} {}", int(n.round() as u64)) } else { format!("{t} {n:.1}") })
        .collect::<Vec<_>>()
        .join(" · ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_line_rounds_large_counts_and_keeps_a_decimal_for_small() {
        let line = tables_line(&[("intake.events".into(), 1234.4), ("notify.outbox".into(), 2.04)]);
        assert_eq!(line, "intake.events 1,234 · notify.outbox 2.0");
        assert_eq!(tables_line(&[]), "");
    }
}
