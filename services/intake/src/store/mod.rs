//! All of intake's SQL: [`Store`] and one module per table family, plus the two ways a
//! submission is written — on its own ([`Store::submit`]) or with others in one transaction
//! ([`Store::submit_batch`]).
//!
//! | module | holds |
//! | --- | --- |
//! | `events` | events and their reports: rows, the API's reads, merge counts, report inserts |
//! | `duplicates` | the duplicate search, of one report and of a batch |
//! | `reporters` | a report's new reporter: ids, sealed PII, its row |
//! | `answers` | idempotency answers (`submissions`, `rating_requests`) |
//! | `sequences` | the tracking sequences, one per county and day |
//! | `facts` | what a submission publishes and answers (`event-reported`, `event-merged`) |
//! | `submit` | the steps of one submission |
//! | `batch/` | the steps of a batch (group commit) and its statements |
//! | `ratings` | `rate` (回访) |
//! | `public` | `latest_changes`: what the public Open311 listing shows of each event's history |
//! | `task_status` | `apply_task_event` / `apply_task_events` (a batch): dispatch's task facts into `event_tasks`, `status_history` |
//! | `housekeeping` | forgetting old answers, dropping old sequences |

mod answers;
mod batch;
mod duplicates;
mod events;
mod facts;
mod housekeeping;
mod public;
mod ratings;
mod reporters;
mod sequences;
mod submit;
mod task_status;

use std::{collections::HashSet, sync::Mutex};

use chrono::{Duration, FixedOffset};
use civicgrid_kit::bus::OutboxSignal;
use sqlx::PgPool;

use crate::pii::PiiCipher;

pub use batch::Submission;
pub use civicgrid_kit::storage::StoreError;
pub use events::ListFilter;
pub use public::LatestChange;
pub use ratings::{NotRatable, RateAnswer};
pub use task_status::{TaskApply, apply_task_event, apply_task_events};

/// intake's storage, with what a submission needs besides the pool.
pub struct Store {
    pool: PgPool,
    cipher: PiiCipher,
    signal: OutboxSignal,
    offset: FixedOffset,
    radius_m: f64,
    window: Duration,
    /// Tracking sequences known to exist, so each is created once per process.
    sequences: Mutex<HashSet<String>>,
    /// Whether a batch's row-writing statement may keep its plans yet.
    write_plans: batch::WritePlans,
}

impl Store {
    /// A store over `pool`.
    pub fn new(
        pool: PgPool,
        cipher: PiiCipher,
        signal: OutboxSignal,
        offset: FixedOffset,
        radius_m: f64,
        window: Duration,
    ) -> Self {
        Store {
            pool,
            cipher,
            signal,
            offset,
            radius_m,
            window,
            sequences: Mutex::new(HashSet::new()),
            write_plans: batch::WritePlans::default(),
        }
    }

    /// The pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}
