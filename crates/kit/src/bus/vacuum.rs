//! Keeping the outbox small: the relay vacuums it after it has removed many rows.
//!
//! Every published row is deleted, so the outbox's heap and indexes gain a dead row for every
//! message the service writes. Autovacuum visits a database at most once an
//! `autovacuum_naptime` (a minute by default), and until it does the table only grows: measured
//! at 300 reports/s, each service's outbox held 7,000 dead rows in 680 pages 30 s after a vacuum
//! and 18,700 in 1,860 pages at 60 s, and every look at it (the relay's claim when planned as a
//! scan, the health check's `count(*)`) read them all. So the relay runs
//! `VACUUM (SKIP_LOCKED, TRUNCATE false) outbox` itself once it has removed
//! `bus.outbox_vacuum_rows` rows since the last one, in a task of its own, one at a time per
//! relay. `SKIP_LOCKED`: a vacuum already running (another replica's, autovacuum's) is left to
//! finish rather than waited for. `TRUNCATE false`: giving the empty tail back to the file
//! system takes an exclusive lock that would stall every writer of the outbox for a moment;
//! the space freed is reused by later rows anyway, and autovacuum still truncates.
//!
//! A role that does not own the table gets PostgreSQL's warning and no vacuum (autovacuum is
//! then all there is); a failed vacuum is logged and tried again after as many rows.

use sqlx::PgPool;
use tokio::task::JoinHandle;

/// The vacuum statement (unqualified: the pool's `search_path` is the service's schema).
const VACUUM_OUTBOX: &str = "VACUUM (SKIP_LOCKED, TRUNCATE false) outbox";

/// Counts the rows a relay removed and vacuums the outbox after every `every` of them.
pub(super) struct OutboxVacuum {
    /// Rows removed between vacuums (0: never; autovacuum alone).
    every: u64,
    /// Rows removed since the last vacuum started.
    removed: u64,
    /// The vacuum running, if any.
    running: Option<JoinHandle<()>>,
}

impl OutboxVacuum {
    /// A counter that vacuums after every `every` rows removed (0: never).
    pub(super) fn new(every: u64) -> Self {
        OutboxVacuum { every, removed: 0, running: None }
    }

    /// Adds `rows` removed from the outbox of `pool`; starts a vacuum when enough were and
    /// none is running.
    pub(super) fn removed(&mut self, pool: &PgPool, rows: usize) {
        if self.every == 0 {
            return;
        }
        self.removed += rows as u64;
        if self.removed < self.every || self.running.as_ref().is_some_and(|v| !v.is_finished()) {
            return;
        }
        self.removed = 0;
        let pool = pool.clone();
        self.running = Some(tokio::spawn(async move {
            if let Err(e) = sqlx::query(VACUUM_OUTBOX).execute(&pool).await {
                tracing::warn!(error = %e, "outbox vacuum failed");
            }
        }));
    }
}
