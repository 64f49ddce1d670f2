//! mediation's storage: the [`Store`] handle (pool, reference set in force, the PII cipher, the
//! deadline policy, wake-ups) and all of mediation's SQL, one module per aggregate:
//!
//! - [`cases`]: the `cases` rows — insert, lock, update, listings, the warning claim, loads;
//! - [`parties`]: `parties`, personal data sealed;
//! - [`sessions`]: the `sessions` rows, scheduled and recorded;
//! - [`case_facts`]: `case_facts` (audit and statistics) and the outbox messages of each fact,
//!   collected in [`Writes`] with the calls to dispatch of the same transaction;
//! - [`requests`]: request ids, so mutating calls are idempotent;
//! - [`reference_sets`]: the stored reference data sets;
//! - [`reveals`]: the audit record of each answer with parties' personal data in clear;
//! - [`dispatch_calls`]: the calls that keep a case's dispatch task in step.
//!
//! The use cases that drive these modules are in [`crate::usecase`], as methods of [`Store`].

pub mod case_facts;
pub mod cases;
pub mod dispatch_calls;
pub mod parties;
pub mod reference_sets;
pub mod reveals;
pub mod sessions;

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use chrono::{DateTime, Utc};
pub use civicgrid_kit::storage::StoreError;
use civicgrid_kit::{bus::OutboxSignal, seal::Cipher};
use sqlx::PgPool;
use tokio::sync::Notify;

pub use self::case_facts::Writes;
use crate::{domain::deadlines::Policy, reference::ReferenceData};

/// `rows` grouped by their case (`case_of`), each case's in the rows' order.
pub(crate) fn by_case<T>(rows: Vec<T>, case_of: fn(&T) -> uuid::Uuid) -> HashMap<uuid::Uuid, Vec<T>> {
    let mut out: HashMap<uuid::Uuid, Vec<T>> = HashMap::new();
    for r in rows {
        out.entry(case_of(&r)).or_default().push(r);
    }
    out
}

/// The reference set in force: its `reference_sets.seq`, the data and when it was loaded.
#[derive(Clone)]
pub struct InForce {
    /// `reference_sets.seq`.
    pub seq: i64,
    /// The checked data.
    pub data: Arc<ReferenceData>,
    /// When the set was stored.
    pub loaded_at: DateTime<Utc>,
}

/// mediation's storage.
pub struct Store {
    pub(crate) pool: PgPool,
    /// Replaced whole when a newer set is loaded, so a request sees one consistent set.
    refdata: RwLock<InForce>,
    /// Seals parties' personal data (`mediation.pii_key`).
    pub(crate) cipher: Cipher,
    /// The lengths deadlines are counted with.
    pub(crate) policy: Policy,
    /// Department kinds that are justice offices.
    pub(crate) justice_kinds: Vec<String>,
    signal: OutboxSignal,
    /// Wakes the dispatch link after a commit (it may have calls to make).
    link: Arc<Notify>,
}

impl Store {
    /// A store over `pool` with the set `refdata` in force.
    pub fn new(
        pool: PgPool,
        refdata: InForce,
        cipher: Cipher,
        policy: Policy,
        justice_kinds: Vec<String>,
        signal: OutboxSignal,
    ) -> Self {
        Store {
            pool,
            refdata: RwLock::new(refdata),
            cipher,
            policy,
            justice_kinds,
            signal,
            link: Arc::new(Notify::new()),
        }
    }

    /// The pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The reference set in force.
    pub fn in_force(&self) -> InForce {
        self.refdata.read().map(|r| r.clone()).unwrap_or_else(|e| e.into_inner().clone())
    }

    /// The reference data in force.
    pub fn refdata(&self) -> Arc<ReferenceData> {
        self.in_force().data
    }

    /// Puts set `next` in force unless a newer one already is (two loads may race).
    pub(crate) fn put_refdata(&self, next: InForce) {
        let mut current = self.refdata.write().unwrap_or_else(|e| e.into_inner());
        if next.seq > current.seq {
            *current = next;
        }
    }

    /// Wakes the dispatch link of this process.
    pub fn link_signal(&self) -> Arc<Notify> {
        self.link.clone()
    }

    /// Call after committing a transaction that wrote outbox rows (and perhaps calls to
    /// dispatch).
    pub fn committed(&self) {
        self.signal.wake();
        self.link.notify_one();
    }
}
