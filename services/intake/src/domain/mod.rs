//! intake's domain: who may read which events, validation of reports and ratings, duplicate matching (also within a
//! group-committed batch), masking, tracking numbers, the mapping of dispatch's task states to
//! public event states (one fact or a batch of them), and outcome rounds. Pure: no I/O, no clock reads.

pub mod access;
pub mod batch;
pub mod dedupe;
pub mod mask;
pub mod rating;
pub mod status;
pub mod task_batch;
pub mod tracking;
pub mod validate;
