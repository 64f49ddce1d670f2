//! dispatch integration tests.
