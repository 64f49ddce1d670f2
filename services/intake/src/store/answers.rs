//! Idempotency answers: the first answer to each `(caller, request_id)`, kept in `submissions`
//! (SubmitEvent) and `rating_requests` (RateOutcome) and given again to every retry.

use civicgrid_proto::v1::SubmitEventResponse;
use prost::Message;
use sqlx::PgConnection;

use super::{Store, StoreError};

impl Store {
    /// The first answer to `(caller, request_id)` kept in `table` (`submissions` or
    /// `rating_requests`, fixed names, never input).
    pub(super) async fn previous_answer<M: Message + Default>(
        &self,
        table: &'static str,
        caller: &str,
        request_id: &str,
    ) -> Result<M, StoreError> {
        let sql = format!("SELECT response FROM {table} WHERE caller = $1 AND request_id = $2");
        let stored: Option<Option<Vec<u8>>> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(caller)
            .bind(request_id)
            .fetch_optional(&self.pool)
            .await?;
        let bytes = stored
            .flatten()
            .ok_or_else(|| StoreError::Corrupt(format!("no stored answer for request {request_id}")))?;
        M::decode(bytes.as_slice()).map_err(|e| StoreError::Corrupt(e.to_string()))
    }
}

/// Stores `response` as the answer to `(caller, request_id)`; returns the rows inserted, none
/// when a concurrent twin stored its answer first.
pub(super) async fn record_submission(
    tx: &mut PgConnection,
    caller: &str,
    request_id: &str,
    response: &SubmitEventResponse,
) -> Result<u64, StoreError> {
    Ok(sqlx::query("INSERT INTO submissions (caller, request_id, response) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
        .bind(caller)
        .bind(request_id)
        .bind(response.encode_to_vec())
        .execute(tx)
        .await?
        .rows_affected())
}
