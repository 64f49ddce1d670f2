//! Idempotent calls: the `(caller, request_id)` pairs a service already handled and the answer
//! each got, so a retried call does its work once and answers the same.
//!
//! Each service keeps them in a `requests` table of its own schema, created by its migration:
//!
//! ```sql
//! CREATE TABLE requests (
//!     caller     text        NOT NULL,
//!     request_id text        NOT NULL,
//!     response   bytea,
//!     created_at timestamptz NOT NULL DEFAULT now(),
//!     PRIMARY KEY (caller, request_id)
//! );
//! ```
//!
//! A call claims its key inside the transaction of its work and stores its answer there too: the
//! claim commits or rolls back with the work, so a call that failed leaves its key free.

use sqlx::{PgConnection, PgPool};

use crate::storage::StoreError;

/// Claims `(caller, request_id)` inside the transaction; false when it was claimed before (a
/// retry).
pub async fn claim(tx: &mut PgConnection, caller: &str, request_id: &str) -> Result<bool, StoreError> {
    Ok(sqlx::query("INSERT INTO requests (caller, request_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(caller)
        .bind(request_id)
        .execute(tx)
        .await?
        .rows_affected()
        == 1)
}

/// Stores the answer to a claimed request, for its retries.
pub async fn store_answer(
    tx: &mut PgConnection,
    caller: &str,
    request_id: &str,
    answer: &impl prost::Message,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE requests SET response = $3 WHERE caller = $1 AND request_id = $2")
        .bind(caller)
        .bind(request_id)
        .bind(answer.encode_to_vec())
        .execute(tx)
        .await?;
    Ok(())
}

/// The answer stored for a request already handled, decoded; `Corrupt` when it was claimed
/// without an answer or does not decode.
pub async fn previous<M: prost::Message + Default>(
    pool: &PgPool,
    caller: &str,
    request_id: &str,
) -> Result<M, StoreError> {
    let stored: Option<Option<Vec<u8>>> =
        sqlx::query_scalar("SELECT response FROM requests WHERE caller = $1 AND request_id = $2")
            .bind(caller)
            .bind(request_id)
            .fetch_optional(pool)
            .await?;
    let bytes =
        stored.flatten().ok_or_else(|| StoreError::Corrupt(format!("no stored answer for request {request_id}")))?;
    M::decode(bytes.as_slice()).map_err(|e| StoreError::Corrupt(e.to_string()))
}
