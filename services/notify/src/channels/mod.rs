//! The channels that leave the service: signed webhooks ([`webhook`]) and SMS ([`sms`]). The
//! inbox needs none: a notification is in the inbox once its transaction commits.

pub mod body;
pub mod sms;
pub mod webhook;

/// A call the channel accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The HTTP status of the answer (0 for channels without one).
    pub http_status: i32,
    /// How long the call took.
    pub duration_ms: i64,
}

/// A call that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed {
    /// The HTTP status of the answer; 0 when there was none (timeout, refused connection).
    pub http_status: i32,
    /// What went wrong.
    pub error: String,
    /// How long the call took.
    pub duration_ms: i64,
}
