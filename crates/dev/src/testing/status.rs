//! Assertions on gRPC answers.

use civicgrid_kit::grpc::field_violations;
use tonic::{Code, Status};

/// Asserts that `result` failed with `code`, and returns the status.
#[track_caller]
pub fn expect_code<T: std::fmt::Debug>(result: Result<tonic::Response<T>, Status>, code: Code, what: &str) -> Status {
    match result {
        Ok(r) => panic!("{what}: expected {code:?}, got an answer: {:?}", r.into_inner()),
        Err(s) => {
            assert_eq!(s.code(), code, "{what}: {s:?}");
            s
        }
    }
}

/// Asserts INVALID_ARGUMENT naming `field` among its field violations.
#[track_caller]
pub fn expect_invalid<T: std::fmt::Debug>(result: Result<tonic::Response<T>, Status>, field: &str, what: &str) {
    let status = expect_code(result, Code::InvalidArgument, what);
    let fields: Vec<String> = field_violations(&status).into_iter().map(|(f, _)| f).collect();
    assert!(fields.iter().any(|f| f == field), "{what}: violations {fields:?} should name `{field}`");
}
