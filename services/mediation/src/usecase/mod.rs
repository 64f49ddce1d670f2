//! mediation's use cases, as methods of [`Store`]: each runs one transaction over the
//! [`store`](crate::store) modules' SQL and the pure rules of [`domain`](crate::domain).
//!
//! - [`open`]: a case opened on an application, a transfer in or a dispatched dispute;
//! - [`act`]: every other change of a case for a caller (idempotent), through the state
//!   machine; [`effects`]: what each step changes beyond the state;
//! - [`read`]: one case, the listing, the agreement document;
//! - [`stats`]: the statistics folded from the recorded facts;
//! - [`reference`]: the reference set in force, loading a new one;
//! - [`warnings`]: one round of the warning job.

pub mod act;
pub mod effects;
pub mod open;
pub mod read;
pub mod reference;
pub mod stats;
pub mod warnings;

use chrono::{DateTime, Utc};
use civicgrid_proto::v1::{Actor, Role};
use prost::Message;
use sqlx::{PgConnection, Postgres, Transaction};

pub use self::{
    act::Step,
    open::{NewCase, TaskLink},
    reference::{LoadError, reference_in_force},
};
use crate::{
    cases::Case,
    domain::case::CaseError,
    store::{Store, StoreError, Writes, case_facts::FactDetail, cases},
};
use civicgrid_kit::requests;

/// Why a change was not made.
#[derive(Debug, thiserror::Error)]
pub enum ActError {
    /// No such case, or none the caller may see (NOT_FOUND).
    #[error("no such case")]
    NotFound,
    /// The caller may not do this at all (PERMISSION_DENIED).
    #[error("{0}")]
    Denied(String),
    /// The state machine or a check of the request refused (PERMISSION_DENIED,
    /// FAILED_PRECONDITION or INVALID_ARGUMENT by its kind).
    #[error(transparent)]
    Case(#[from] CaseError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ActError {
    fn from(e: sqlx::Error) -> Self {
        ActError::Store(StoreError::Db(e))
    }
}

/// A field of the request that cannot be used.
pub(crate) fn invalid(field: &'static str, problem: impl Into<String>) -> ActError {
    ActError::Case(CaseError::Invalid { field, problem: problem.into() })
}

/// The actor of what mediation does on its own authority (cases opened from dispatched
/// disputes, warnings).
pub fn system_actor() -> Actor {
    Actor {
        subject: "civicgrid-mediation".into(),
        role: Role::Admin as i32,
        department_id: String::new(),
        region_scope: String::new(),
    }
}

/// A mutating call's transaction, with its `(caller, request id)` claimed; or the answer the
/// first call with that key got (a retry).
pub(crate) enum Claimed<M> {
    /// The first call: do the work in this transaction and [`Store::answer`].
    Fresh(Transaction<'static, Postgres>),
    /// A retry: answer this.
    Answered(M),
}

impl Store {
    /// Begins the transaction of a mutating call keyed `(caller, key)`.
    pub(crate) async fn claim<M: Message + Default>(&self, caller: &str, key: &str) -> Result<Claimed<M>, StoreError> {
        let mut tx = self.pool.begin().await?;
        if requests::claim(&mut tx, caller, key).await? {
            return Ok(Claimed::Fresh(tx));
        }
        tx.rollback().await?;
        Ok(Claimed::Answered(requests::previous(&self.pool, caller, key).await?))
    }

    /// Stores `answer` for the call's retries, commits, and wakes the relay and the link.
    pub(crate) async fn answer<M: Message>(
        &self,
        mut tx: Transaction<'static, Postgres>,
        caller: &str,
        key: &str,
        answer: M,
    ) -> Result<M, StoreError> {
        requests::store_answer(&mut tx, caller, key, &answer).await?;
        tx.commit().await?;
        self.committed();
        Ok(answer)
    }

    /// Records `facts` of `case` in order, raising its version for each, then recomputes its
    /// deadlines and next warning and writes the row.
    pub(crate) async fn write_change(
        &self,
        tx: &mut PgConnection,
        w: &mut Writes,
        case: &mut Case,
        facts: &[(&str, FactDetail)],
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let refdata = self.refdata();
        let row = &mut case.row;
        row.updated_at = now;
        if row.state().is_some_and(|s| s.is_final()) && row.closed_at.is_none() {
            row.closed_at = Some(now);
        }
        row.refresh_deadlines(&refdata.calendar, &self.policy, now);
        for (fact, detail) in facts {
            case.row.version += 1;
            w.record(case, fact, actor, detail, now);
        }
        cases::save(tx, &case.row).await
    }
}
