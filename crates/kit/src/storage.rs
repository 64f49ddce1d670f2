//! The one storage error every service's storage code returns, and the one place it becomes a
//! gRPC status or a consumer's verdict.

use tonic::Status;

use crate::bus::HandleError;

/// Why storage failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed or could not be reached.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// Stored data that cannot be read back (a state name, a stored answer).
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// True when the database could not be reached (a retry may succeed).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Db(e) if is_unavailable(e))
    }
}

/// True for the errors of a database that cannot be reached, as opposed to one that refused
/// a statement: I/O, TLS, a pool that timed out or closed, a crashed connection worker.
pub fn is_unavailable(e: &sqlx::Error) -> bool {
    matches!(
        e,
        sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
    )
}

/// The gRPC status of a storage failure while `context` (e.g. "listing events"):
/// `UNAVAILABLE` when the database cannot be reached (clients retry with the same
/// `request_id`), else `INTERNAL`, logged with its cause and answered without it.
pub fn store_status(context: &str, e: impl Into<StoreError>) -> Status {
    let e = e.into();
    if e.is_unavailable() {
        tracing::warn!(error = %e, "{context}: database unavailable");
        return Status::unavailable(format!("{context}: the database is unavailable; retry with the same request_id"));
    }
    crate::grpc::internal(context, e)
}

impl From<StoreError> for HandleError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Db(e) => e.into(),
            StoreError::Corrupt(m) => HandleError::Permanent(m),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_database_is_unavailable_not_internal() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(store_status("x", sqlx::Error::Io(io)).code(), tonic::Code::Unavailable);
        assert_eq!(store_status("x", sqlx::Error::PoolTimedOut).code(), tonic::Code::Unavailable);
        assert_eq!(store_status("x", sqlx::Error::RowNotFound).code(), tonic::Code::Internal);
        assert_eq!(store_status("x", StoreError::Corrupt("bad".into())).code(), tonic::Code::Internal);
        assert!(matches!(HandleError::from(StoreError::Corrupt("bad".into())), HandleError::Permanent(_)));
    }
}
