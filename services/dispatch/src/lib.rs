//! civicgrid dispatch (分流交办, 督办, 考核).
pub mod domain;
pub mod reference;
