//! Keeping the outbox small: the relay vacuums it after it has removed many rows.
//!
//! Every published row is deleted, so the outbox's heap and indexes gain a dead row for every
//! message the service writes. Autovacuum visits a database at most once an
//! `autovacuum_naptime` (a minute by default), and until it does the table only grows: measured
//! at 300 reports/s, each service's outbox held 7,000 dead rows in 680 pages 30 s after a vacuum
//! and 18,700 in 1,860 pages some 20 s later, and every look at it (the relay's claim when
//! planned as a scan, the health check's `count(*)`) read them all. So the relay runs
//! `VACUUM (SKIP_LOCKED, TRUNCATE false) outbox` itself once it has removed
//! `bus.outbox_vacuum_rows` rows since the last one, in a task of its own, one at a time per
//! relay. `SKIP_LOCKED`: a vacuum already running (another replica's, autovacuum's) is left to
//! finish rather than waited for. `TRUNCATE false`: giving the empty tail back to the file
//! system takes an exclusive lock that would stall every writer of the outbox for a moment;
//! the space freed is reused by later rows anyway, and autovacuum still truncates.
//!
//! Only the table's or the database's owner (or a superuser) may vacuum it. The first vacuum
//! looks: a role that may not is told once in the log, and the relay leaves the table to
//! autovacuum from then on (PostgreSQL would otherwise answer every attempt with a warning). A
//! failed vacuum is logged and tried again after as many rows.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use sqlx::PgPool;
use tokio::task::JoinHandle;

/// The vacuum statement (unqualified: the pool's `search_path` is the service's schema).
const VACUUM_OUTBOX: &str = "VACUUM (SKIP_LOCKED, TRUNCATE false) outbox";

/// Whether the connection's role may vacuum the outbox: it owns the table or the database, or
/// is a member of a role that does (superusers are members of every role).
const MAY_VACUUM: &str = "SELECT pg_has_role(relowner, 'USAGE') OR pg_has_role( \
       (SELECT datdba FROM pg_database WHERE datname = current_database()), 'USAGE') \
     FROM pg_class WHERE oid = 'outbox'::regclass";

/// Counts the rows a relay removed and vacuums the outbox after every `every` of them.
pub(super) struct OutboxVacuum {
    /// Rows removed between vacuums (0: never; autovacuum alone).
    every: u64,
    /// Rows removed since the last vacuum started.
    removed: u64,
    /// The vacuum running, if any.
    running: Option<JoinHandle<()>>,
    /// Whether the role was found not to own the table: no more vacuums.
    refused: Arc<AtomicBool>,
    /// Whether the first vacuum (which looks at the table's owner) has started.
    checked: bool,
}

impl OutboxVacuum {
    /// A counter that vacuums after every `every` rows removed (0: never).
    pub(super) fn new(every: u64) -> Self {
        OutboxVacuum { every, removed: 0, running: None, refused: Arc::default(), checked: false }
    }

    /// Adds `rows` removed from the outbox of `pool`; starts a vacuum when enough were and
    /// none is running.
    pub(super) fn removed(&mut self, pool: &PgPool, rows: usize) {
        if self.every == 0 || self.refused.load(Ordering::Relaxed) {
            return;
        }
        self.removed += rows as u64;
        if self.removed < self.every || self.running.as_ref().is_some_and(|v| !v.is_finished()) {
            return;
        }
        self.removed = 0;
        let check = !std::mem::replace(&mut self.checked, true);
        let (pool, refused) = (pool.clone(), self.refused.clone());
        self.running = Some(tokio::spawn(async move {
            if check {
                match sqlx::query_scalar::<_, Option<bool>>(MAY_VACUUM).fetch_one(&pool).await {
                    Ok(Some(true)) => {}
                    Ok(_) => {
                        refused.store(true, Ordering::Relaxed);
                        tracing::warn!(
                            "the service's database role does not own its outbox: the relay leaves vacuuming it to autovacuum"
                        );
                        return;
                    }
                    Err(e) => tracing::warn!(error = %e, "could not tell who owns the outbox; vacuuming it anyway"),
                }
            }
            if let Err(e) = sqlx::query(VACUUM_OUTBOX).execute(&pool).await {
                tracing::warn!(error = %e, "outbox vacuum failed");
            }
        }));
    }
}
