//! The ticker's timed phases: rounds of `Store::tick` with nothing due, then with a few and
//! with many tasks due per round, and the EXPLAIN of its claim.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use civicgrid_dispatch::store::{Store, facts, inspect};
use sqlx::PgPool;

use super::Phase;
use crate::{
    probe::Probe,
    stats::{self, Latency, int},
};

/// The ticker's own loop at `at`: rounds until one comes back less than full (or `cap`
/// passes). Returns the tasks visited and each round's duration.
pub(super) async fn drain(store: &Store, at: DateTime<Utc>, batch: i64, cap: Duration) -> Result<(u64, Vec<Duration>)> {
    let start = Instant::now();
    let (mut visited, mut rounds) = (0u64, Vec::new());
    loop {
        let t = Instant::now();
        let n = store.tick(at, batch).await.context("Store::tick")?;
        rounds.push(t.elapsed());
        visited += n as u64;
        if (n as i64) < batch || start.elapsed() > cap {
            return Ok((visited, rounds));
        }
    }
}

/// `rounds` timed calls of `Store::tick(now, batch)` (after one untimed warm-up round). With
/// `due` = 0 `now` stays at the load instant; otherwise each round first moves `now` to the
/// instant by which the next `due` tasks change colour (found with an untimed query). When
/// that instant is shared by many more tasks (working-day limits end at local midnight, so
/// tasks started on the same day change colour together), the cluster is drained untimed and
/// skipped: phase (d) measures such bursts.
#[allow(clippy::too_many_arguments)]
pub(super) async fn run_phase(
    store: &Store,
    pool: &PgPool,
    probe: &Probe,
    label: &str,
    due: usize,
    rounds: usize,
    batch: i64,
    now0: DateTime<Utc>,
) -> Result<Phase> {
    let facts0 = facts::counts_by_fact(pool).await?;
    let mut hist = stats::histogram();
    let (mut visited, mut min_visited, mut max_visited, mut timed) = (0u64, usize::MAX, 0usize, 0usize);
    let (mut skipped_clusters, mut skipped_tasks) = (0usize, 0u64);
    let mut cpu0 = None;
    let mut round = 0;
    while round <= rounds {
        let now = if due == 0 {
            now0
        } else {
            let Some(at) = inspect::nth_next_change(pool, due).await? else { break };
            let cluster = inspect::count_due(pool, at).await?;
            if cluster as usize > (2 * due).max(due + 20) {
                if skipped_clusters >= 1000 {
                    break;
                }
                let (v, _) = drain(store, at, batch, Duration::from_secs(600)).await?;
                skipped_clusters += 1;
                skipped_tasks += v;
                continue;
            }
            at
        };
        if round == 1 {
            cpu0 = Some(probe.snapshot());
        }
        let t = Instant::now();
        let n = store.tick(now, batch).await.context("Store::tick")?;
        let took = t.elapsed();
        if round > 0 {
            stats::record(&mut hist, took);
            visited += n as u64;
            min_visited = min_visited.min(n);
            max_visited = max_visited.max(n);
            timed += 1;
        }
        round += 1;
        if due == 0 {
            anyhow::ensure!(n == 0, "{n} tasks were due at the load instant");
            // The ticker sleeps between rounds; so does this, a little.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let cpu1 = probe.snapshot();
    let usage = cpu0.map(|c| probe.usage(&c, &cpu1)).unwrap_or_default();
    let facts = fact_delta(&facts0, facts::counts_by_fact(pool).await?);
    let phase = Phase {
        label: label.to_string(),
        due,
        hist,
        rounds: timed,
        visited,
        min_visited: if timed == 0 { 0 } else { min_visited },
        max_visited,
        skipped_clusters,
        skipped_tasks,
        facts,
        usage,
    };
    crate::field(&format!("tick, {label}"), format!("{}  ({})", Latency::of(&phase.hist).line(), phase.visited_line()));
    Ok(phase)
}

pub(super) fn fact_delta(before: &BTreeMap<String, i64>, after: BTreeMap<String, i64>) -> BTreeMap<String, i64> {
    after
        .into_iter()
        .map(|(k, v)| {
            let b = before.get(&k).copied().unwrap_or(0);
            (k, v - b)
        })
        .filter(|(_, v)| *v > 0)
        .collect()
}

impl Phase {
    /// `200 rounds; 10–13 tasks visited a round; task-warning 1,980, task-escalated 20`
    pub fn visited_line(&self) -> String {
        let facts: Vec<String> = self.facts.iter().map(|(k, v)| format!("{k} {}", int(*v as u64))).collect();
        format!(
            "{} rounds; {}–{} tasks visited a round{}{}",
            self.rounds,
            self.min_visited,
            self.max_visited,
            if facts.is_empty() { String::new() } else { format!("; {}", facts.join(", ")) },
            if self.skipped_clusters == 0 {
                String::new()
            } else {
                format!(
                    "; {} clusters of simultaneous changes ({} tasks) skipped untimed",
                    self.skipped_clusters,
                    int(self.skipped_tasks)
                )
            }
        )
    }
}

/// EXPLAIN (ANALYZE, BUFFERS) of the ticker's SELECT at the instant the next `few` are due,
/// with literal values and as a prepared statement forced to its generic plan (see
/// `inspect::explain_claim`). Returns the tasks due then and the two plans.
pub(super) async fn explain(pool: &PgPool, few: usize, batch: i64) -> Result<(i64, Vec<String>, Vec<String>)> {
    let Some(at) = inspect::nth_next_change(pool, few).await? else { return Ok((0, vec![], vec![])) };
    let due = inspect::count_due(pool, at).await?;
    let (custom, generic) = inspect::explain_claim(pool, at, batch).await?;
    Ok((due, custom, generic))
}
