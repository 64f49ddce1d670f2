//! Open311's errors: an HTTP status and a list of `{code, description}`, the code being the
//! HTTP status. A bad request names each wrong field at the start of its description
//! (`lat: must be a number from -90 to 90`), every problem at once.

use axum::http::StatusCode;
use civicgrid_kit::storage::StoreError;
use serde::Serialize;

use crate::{batcher::SubmitError, lookups::OverBudget};

/// Why a request failed, as GeoReport v2 answers it.
#[derive(Debug, thiserror::Error)]
pub enum Open311Error {
    /// 400: one `(field, why)` per problem.
    #[error("bad request: {}", describe(.0))]
    BadRequest(Vec<(String, String)>),
    /// 403: the `api_key` of a POST is missing or unknown.
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such service, request, token or path.
    #[error("{0}")]
    NotFound(String),
    /// 429: the client made too many failed lookups by number (crate::lookups).
    #[error("{0}")]
    TooManyRequests(String),
    /// 503: the service is stopping or its database cannot be reached; a retry may succeed.
    #[error("{0}")]
    Unavailable(String),
    /// 500: logged with its cause, answered without it.
    #[error("{0}")]
    Internal(String),
}

/// One error of the answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorItem {
    /// The HTTP status.
    pub code: u16,
    /// What is wrong; for a bad request `<field>: <why>`.
    pub description: String,
}

fn describe(problems: &[(String, String)]) -> String {
    problems.iter().map(|(f, w)| format!("{f}: {w}")).collect::<Vec<_>>().join("; ")
}

impl Open311Error {
    /// 400 for one field.
    pub fn bad(field: &str, why: impl Into<String>) -> Self {
        Open311Error::BadRequest(vec![(field.to_string(), why.into())])
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Open311Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Open311Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Open311Error::NotFound(_) => StatusCode::NOT_FOUND,
            Open311Error::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            Open311Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Open311Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The errors of the answer body.
    pub fn items(&self) -> Vec<ErrorItem> {
        let code = self.status().as_u16();
        match self {
            Open311Error::BadRequest(problems) => {
                problems.iter().map(|(field, why)| ErrorItem { code, description: format!("{field}: {why}") }).collect()
            }
            Open311Error::Forbidden(m)
            | Open311Error::NotFound(m)
            | Open311Error::TooManyRequests(m)
            | Open311Error::Unavailable(m)
            | Open311Error::Internal(m) => vec![ErrorItem { code, description: m.clone() }],
        }
    }

    /// A storage failure while `context`: 503 when the database cannot be reached, else 500.
    pub fn store(context: &str, e: StoreError) -> Self {
        if e.is_unavailable() {
            tracing::warn!(error = %e, "open311 {context}: database unavailable");
            Open311Error::Unavailable(format!("{context}: the database is unavailable; retry"))
        } else {
            tracing::error!(error = %e, "open311 {context} failed");
            Open311Error::Internal(format!("{context} failed"))
        }
    }
}

impl From<OverBudget> for Open311Error {
    fn from(e: OverBudget) -> Self {
        Open311Error::TooManyRequests(e.to_string())
    }
}

impl From<SubmitError> for Open311Error {
    fn from(e: SubmitError) -> Self {
        match e {
            SubmitError::Store(e) => Open311Error::store("submitting the request", e),
            SubmitError::Closed => {
                Open311Error::Unavailable("intake is shutting down; retry the same POST".to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_request_names_every_field_with_the_status_as_code() {
        let e = Open311Error::BadRequest(vec![
            ("service_code".into(), "is required".into()),
            ("lat".into(), "must be a number".into()),
        ]);
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        let items = e.items();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0], ErrorItem { code: 400, description: "service_code: is required".into() });
        assert_eq!(items[1].description, "lat: must be a number");
        assert_eq!(Open311Error::Forbidden("invalid api_key".into()).items()[0].code, 403);
        assert_eq!(Open311Error::NotFound("no such request".into()).status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn an_unreachable_database_is_503() {
        let e = Open311Error::store("listing", StoreError::Db(sqlx::Error::PoolTimedOut));
        assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
        let e = Open311Error::store("listing", StoreError::Corrupt("x".into()));
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!e.items()[0].description.contains('x'), "the cause is not answered");
    }
}
