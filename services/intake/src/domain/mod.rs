//! intake's domain: validation of reports, duplicate matching, masking, tracking numbers and
//! the mapping of dispatch's task states to public event states. Pure: no I/O, no clock reads.

pub mod dedupe;
pub mod mask;
pub mod status;
pub mod tracking;
pub mod validate;
