//! Whether the batch's row-writing statement (statement 4) may keep its plans.
//!
//! Statement 1 makes the batch's statements be planned at every execution: a plan kept from the
//! statistics of a young table goes wrong as the table grows (`statements::LOCK_AND_LOOK` says
//! how). Statement 4 inserts from arrays, and its foreign-key checks look `events` and `reporters`
//! up by primary key. Once those tables have statistics of [`SETTLED_PAGES`] pages, no plan beats
//! the key, and they only grow (intake deletes neither), so a kept plan stays right; kept, they
//! cost 40 % less under saturation (docs/performance.md, "The eleventh round"). Below that size a
//! kept plan can be wrong for a while: a check's plan made from statistics of a page or two scans
//! the table whole for every check until the next analyse (checked in psql: after the referenced
//! table grew from 5 rows analysed to 50,000, 20 checks read 800,225 rows).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use sqlx::PgConnection;

use crate::store::StoreError;

/// The size of statistics, in pages, from which statement 4 keeps its plans: where a sequential
/// scan costs the planner eight times a primary-key look-up (64 against about 8 with the default
/// page costs).
const SETTLED_PAGES: i32 = 64;

/// While the tables are young, they are looked at again every this many batches (intake's
/// `tests/it/batch.rs` counts on 64).
const CHECK_EVERY: u64 = 64;

/// `plan_cache_mode` while the tables are young: what statement 1 sets
/// (`statements::LOCK_AND_LOOK`).
const YOUNG: &str = "force_custom_plan";

const SETTLED: &str =
    "SELECT bool_and(relpages >= $1) FROM pg_class WHERE oid IN ('events'::regclass, 'reporters'::regclass)";

/// Whether `events` and `reporters` have grown enough, as this process last saw.
#[derive(Debug, Default)]
pub(in crate::store) struct WritePlans {
    /// Seen once; then for the life of the process.
    settled: AtomicBool,
    /// Batches since the process started, while not settled.
    batches: AtomicU64,
}

impl WritePlans {
    /// The `plan_cache_mode` statement 4 is to be planned under, as `set_config` takes it: `None`
    /// (a reset to the connection's default, its `RESET` value, normally `auto`) once the tables
    /// have grown, else `force_custom_plan`. Looks at the tables' statistics at the first batch
    /// and every [`CHECK_EVERY`] batches after, until they have grown.
    pub(super) async fn write_plan_cache_mode(
        &self,
        tx: &mut PgConnection,
    ) -> Result<Option<&'static str>, StoreError> {
        if self.settled.load(Ordering::Relaxed) {
            return Ok(None);
        }
        if !self.batches.fetch_add(1, Ordering::Relaxed).is_multiple_of(CHECK_EVERY) {
            return Ok(Some(YOUNG));
        }
        let settled: Option<bool> = sqlx::query_scalar(SETTLED).bind(SETTLED_PAGES).fetch_one(&mut *tx).await?;
        if settled == Some(true) {
            self.settled.store(true, Ordering::Relaxed);
            return Ok(None);
        }
        Ok(Some(YOUNG))
    }
}
