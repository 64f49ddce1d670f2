//! Tracking sequences: one PostgreSQL sequence per county and local day numbers that day's
//! events (a counter row would serialise every submission). Created on first use; dropped by
//! housekeeping. Their names come from `tracking::sequence_name` (digits and underscores only),
//! which is what makes splicing them into SQL safe.

use sqlx::PgConnection;

use super::{Store, StoreError};

impl Store {
    /// Creates the tracking sequence of one county and day unless it is known to exist.
    /// Outside the submission's transaction: DDL there would serialise submissions.
    pub(super) async fn ensure_sequence(&self, name: &str) -> Result<(), StoreError> {
        if self.sequences.lock().map(|s| s.contains(name)).unwrap_or(false) {
            return Ok(());
        }
        let sql = format!("CREATE SEQUENCE IF NOT EXISTS {name}");
        if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&self.pool).await {
            // Two first submissions of the day may race; the loser sees a duplicate.
            let code = e.as_database_error().and_then(|d| d.code()).map(|c| c.to_string());
            if !matches!(code.as_deref(), Some("23505") | Some("42P07")) {
                return Err(e.into());
            }
        }
        if let Ok(mut s) = self.sequences.lock() {
            s.insert(name.to_string());
        }
        Ok(())
    }
}

/// The next number of `sequence`.
pub(super) async fn next_number(tx: &mut PgConnection, sequence: &str) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT nextval('{sequence}')"))).fetch_one(tx).await?)
}
