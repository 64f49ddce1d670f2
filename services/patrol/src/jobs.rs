//! patrol's background jobs, on the clock they are given (tests move it by hand):
//!
//! - the alarm job: every `patrol.ticker_interval_ms` an alarm round
//!   ([`Engine::alarm_round`]): misses, late tours, offline members, shifts ended at their end;
//! - the presence job: once a local day has ended, its grid workers' presence is published as
//!   `presence-daily` facts, one per team region (each day once, whichever replica claims it);
//! - the retention job: once a minute (of the clock), positions older than
//!   `patrol.position_retention_hours` are deleted, a chunk at a time.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use civicgrid_kit::{Shutdown, region, time::to_proto};
use civicgrid_proto::v1::{PatrolEvent, TeamKind};

use crate::{
    core::Core,
    engine::{Engine, facts::Facts},
    store::{StoreError, positions, presence_days},
    usecase::{
        reports::{PresenceGroup, presence_report, today},
        system_actor,
    },
};

/// Runs `round` every `every` until `stop`.
async fn every<F, Fut>(every: Duration, stop: Shutdown, what: &'static str, mut round: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), StoreError>>,
{
    loop {
        if let Err(e) = round().await {
            tracing::warn!(error = %e, "{what} failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.cancelled() => return,
        }
    }
}

/// The alarm job; a last round at the stop writes what the ingest left in memory.
pub async fn alarms(engine: Arc<Engine>, interval: Duration, stop: Shutdown) {
    every(interval, stop, "the alarm round", || {
        let engine = engine.clone();
        async move { engine.alarm_round(false).await.map(|_| ()) }
    })
    .await;
    if let Err(e) = engine.alarm_round(true).await {
        tracing::warn!(error = %e, "the last alarm round failed");
    }
}

/// Publishes the presence of the day before `now` unless it was published.
pub async fn publish_presence(core: &Core, now: DateTime<Utc>) -> Result<bool, StoreError> {
    let Some(day) = today(now).pred_opt() else { return Ok(false) };
    let mut tx = core.pool.begin().await?;
    if !presence_days::claim(&mut tx, day, now).await? {
        return Ok(false);
    }
    let rule = core.settings.presence_rule();
    let kind = TeamKind::GridWorkers as i32;
    let report = presence_report(&core.pool, day, "%", kind, PresenceGroup::TeamRegion, &rule)
        .await
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let mut facts = Facts::default();
    let date = report.date.clone();
    for row in &report.rows {
        let Ok(path) = region::path_of(&row.key) else { continue };
        let event = PatrolEvent {
            fact: "presence-daily".into(),
            region: Some(path.clone()),
            occurred_at: Some(to_proto(now)),
            date: date.clone(),
            members: row.members,
            online: row.online,
            online_rate: row.online_rate,
            actor: Some(system_actor()),
            ..Default::default()
        };
        facts.add("presence-daily", event, &path, &format!("{date}/{}", row.key), now);
    }
    facts.outbox.insert(&mut tx).await?;
    tx.commit().await?;
    core.signal.wake();
    Ok(true)
}

/// The presence job. A day counts as done only once its round succeeded, so a round that
/// failed (the database away) is tried again at the next interval, not the next day.
pub async fn presence(core: Arc<Core>, interval: Duration, stop: Shutdown) {
    let mut done: Option<chrono::NaiveDate> = None;
    loop {
        let now = core.clock.now();
        let day = today(now);
        if done != Some(day) {
            match publish_presence(&core, now).await {
                Ok(_) => done = Some(day),
                Err(e) => tracing::warn!(error = %e, "publishing presence failed"),
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.cancelled() => return,
        }
    }
}

/// The retention job.
pub async fn retention(core: Arc<Core>, interval: Duration, stop: Shutdown) {
    let mut last: Option<DateTime<Utc>> = None;
    every(interval, stop, "deleting old positions", || {
        let core = core.clone();
        let now = core.clock.now();
        let due = last.is_none_or(|l| now - l >= chrono::Duration::minutes(1));
        if due {
            last = Some(now);
        }
        async move {
            if due {
                let before = now - core.settings.retention();
                while positions::delete_older(&core.pool, before, 10_000).await? == 10_000 {}
            }
            Ok(())
        }
    })
    .await
}
