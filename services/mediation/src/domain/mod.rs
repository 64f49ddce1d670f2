//! Pure code: no I/O, no clock reads (the time is passed in).
//!
//! - [`case`]: the state machine — which action from which state, by whom, becoming what.
//! - [`deadlines`]: the deadlines on the business calendar and the warnings they give.
//! - [`assignment`]: which organisation and mediator take a case.
//! - [`visibility`]: how a caller stands to a case (who may see it, who may act).
//! - [`stats`]: the statistics folded from recorded facts.
//! - [`agreement`]: the agreement document.
//! - [`mask`]: masked forms of personal data.

pub mod agreement;
pub mod assignment;
pub mod case;
pub mod deadlines;
pub mod mask;
pub mod stats;
pub mod visibility;
