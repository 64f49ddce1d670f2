//! dispatch's storage: the [`Store`] handle (pool, reference set in force, wake-ups) and all of
//! dispatch's SQL, one module per aggregate:
//!
//! - [`tasks`]: the `tasks` rows — claim, lock, insert, update, listings;
//! - [`facts`]: `task_facts`, the audit and assessment record of every change;
//! - [`changes`]: `task_changes`, the change feed WatchTasks follows;
//! - [`reference_sets`]: the stored reference data sets;
//! - [`requests`]: request ids, so actions and loads are idempotent;
//! - [`bulk`] and [`inspect`]: loading and looking at many tasks at once, for the benchmark.
//!
//! [`Writes`] collects what one transaction writes about tasks and writes it together. The use
//! cases that drive these modules (creating tasks, actions, ratings, the ticker, reference
//! loads, KPIs) are in [`crate::usecase`]; they are methods of [`Store`], so callers see one
//! handle.

pub mod bulk;
pub mod changes;
pub mod facts;
pub mod inspect;
pub mod reference_sets;
pub mod tasks;
mod writes;

use std::sync::Arc;

use civicgrid_kit::bus::OutboxSignal;
pub use civicgrid_kit::storage::StoreError;
use sqlx::PgPool;
use tokio::sync::Notify;

pub use self::{
    reference_sets::{insert_reference_set, latest_reference_set},
    tasks::{TaskFilter, open_tasks_by_colour},
    writes::Writes,
};
use crate::reference::ReferenceData;
pub use crate::{
    usecase::{ActError, LoadError, reference_in_force, system_actor},
    visibility::Visibility,
};

/// dispatch's storage.
pub struct Store {
    pub(crate) pool: PgPool,
    /// The reference set in force and its `reference_sets.seq`; replaced whole when a newer
    /// set is loaded, so a request sees one consistent set.
    refdata: std::sync::RwLock<(i64, Arc<ReferenceData>)>,
    signal: OutboxSignal,
    changes: Arc<Notify>,
    /// The share of a limit an overdue task may run over before it escalates.
    pub(crate) grace: f64,
}

impl Store {
    /// A store over `pool`. `grace` is the share of a limit an overdue task may run over before
    /// it escalates.
    pub fn new(
        pool: PgPool,
        refdata: Arc<ReferenceData>,
        reference_seq: i64,
        signal: OutboxSignal,
        grace: f64,
    ) -> Self {
        Store {
            pool,
            refdata: std::sync::RwLock::new((reference_seq, refdata)),
            signal,
            changes: Arc::new(Notify::new()),
            grace,
        }
    }

    /// The pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The reference data in force.
    pub fn refdata(&self) -> Arc<ReferenceData> {
        self.refdata.read().map(|r| r.1.clone()).unwrap_or_else(|e| e.into_inner().1.clone())
    }

    /// The `reference_sets.seq` of the set in force.
    pub(crate) fn reference_seq(&self) -> i64 {
        self.refdata.read().map(|r| r.0).unwrap_or(0)
    }

    /// Puts set `seq` in force unless a newer one already is (two loads may race).
    pub(crate) fn put_refdata(&self, seq: i64, data: Arc<ReferenceData>) {
        let mut current = self.refdata.write().unwrap_or_else(|e| e.into_inner());
        if seq > current.0 {
            *current = (seq, data);
        }
    }

    /// Wakes change-feed watchers of this process (others poll).
    pub fn change_signal(&self) -> Arc<Notify> {
        self.changes.clone()
    }

    /// Call after committing a transaction that changed tasks.
    pub fn committed(&self) {
        self.signal.wake();
        self.changes.notify_waiters();
    }
}
