//! Integration tests of the shared plumbing against a real nats-server and PostgreSQL.

mod bus;
