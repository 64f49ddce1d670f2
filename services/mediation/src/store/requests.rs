//! SQL on `requests`: the (caller, request id) pairs already handled and the answer each got,
//! so a retried call does its work once and answers the same.

use sqlx::{PgConnection, PgPool};

use super::StoreError;

/// Claims `(caller, request_id)` inside the transaction; false when it was claimed before (a
/// retry). The claim commits or rolls back with the work it guards.
pub(crate) async fn claim(tx: &mut PgConnection, caller: &str, request_id: &str) -> Result<bool, StoreError> {
    Ok(sqlx::query("INSERT INTO requests (caller, request_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(caller)
        .bind(request_id)
        .execute(tx)
        .await?
        .rows_affected()
        == 1)
}

/// Stores the answer to a claimed request, for its retries.
pub(crate) async fn store_answer(
    tx: &mut PgConnection,
    caller: &str,
    request_id: &str,
    answer: Vec<u8>,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE requests SET response = $3 WHERE caller = $1 AND request_id = $2")
        .bind(caller)
        .bind(request_id)
        .bind(answer)
        .execute(tx)
        .await?;
    Ok(())
}

/// The answer stored for a request already handled, decoded.
pub(crate) async fn previous<M: prost::Message + Default>(
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
