//! patrol's use cases, each one transaction over the [`store`](crate::store) modules' SQL and
//! the pure rules of [`domain`](crate::domain):
//!
//! - [`reference`]: teams, places and routes put and listed;
//! - [`shifts`]: scheduling and cancelling (shifts not yet started; the engine has the
//!   started ones), reading and listing;
//! - [`findings`]: a finding submitted to intake and linked to its shift;
//! - [`reports`]: tracks, coverage and presence, recomputed from what is stored.

pub mod findings;
pub mod reference;
pub mod reports;
pub mod shifts;

use civicgrid_kit::{bus::OutboxSignal, requests};
use civicgrid_proto::v1::{Actor, Role};
use prost::Message;
use sqlx::{PgPool, Postgres, Transaction};

use crate::store::StoreError;

/// Why a call was not done; the gRPC edge maps each kind to its status.
#[derive(Debug, thiserror::Error)]
pub enum UseError {
    /// No such thing, or none the caller may see (NOT_FOUND).
    #[error("{0}")]
    NotFound(String),
    /// The caller may not (PERMISSION_DENIED).
    #[error("{0}")]
    Denied(String),
    /// Not in this state (FAILED_PRECONDITION).
    #[error("{0}")]
    Precondition(String),
    /// A field of the request cannot be used (INVALID_ARGUMENT naming it).
    #[error("{field}: {why}")]
    Invalid {
        /// The field's proto path.
        field: String,
        /// Why.
        why: String,
    },
    /// Another service did not answer (UNAVAILABLE), or refused (its code).
    #[error("{0}")]
    Upstream(tonic::Status),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for UseError {
    fn from(e: sqlx::Error) -> Self {
        UseError::Store(StoreError::Db(e))
    }
}

/// An invalid field.
pub fn invalid(field: impl Into<String>, why: impl Into<String>) -> UseError {
    UseError::Invalid { field: field.into(), why: why.into() }
}

/// The actor of what patrol does on its own authority (alarms, shifts ended at their end).
pub fn system_actor() -> Actor {
    Actor {
        subject: "civicgrid-patrol".into(),
        role: Role::Admin as i32,
        department_id: String::new(),
        region_scope: String::new(),
    }
}

/// A mutating call's transaction with its `(caller, request id)` claimed, or the answer the
/// first call with that key got (a retry).
pub enum Claimed<M> {
    /// The first call: do the work in this transaction, then [`answer`].
    Fresh(Transaction<'static, Postgres>),
    /// A retry: answer this.
    Answered(M),
}

/// Begins the transaction of a mutating call keyed `(caller, key)`.
pub async fn claim<M: Message + Default>(pool: &PgPool, caller: &str, key: &str) -> Result<Claimed<M>, StoreError> {
    let mut tx = pool.begin().await?;
    if requests::claim(&mut tx, caller, key).await? {
        return Ok(Claimed::Fresh(tx));
    }
    tx.rollback().await?;
    Ok(Claimed::Answered(requests::previous(pool, caller, key).await?))
}

/// Stores `answer` for the call's retries, commits and wakes the relay.
pub async fn answer<M: Message>(
    mut tx: Transaction<'static, Postgres>,
    signal: &OutboxSignal,
    caller: &str,
    key: &str,
    answer: M,
) -> Result<M, StoreError> {
    requests::store_answer(&mut tx, caller, key, &answer).await?;
    tx.commit().await?;
    signal.wake();
    Ok(answer)
}
