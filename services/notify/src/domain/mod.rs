//! Pure code, no I/O: who a rule names ([`recipients`]), what a fact says ([`facts`]), when a
//! delivery goes out ([`schedule`]: quiet hours, digests, retry delays), an endpoint's circuit
//! breaker ([`breaker`]) and the webhook signature ([`signature`]).

pub mod breaker;
pub mod facts;
pub mod recipients;
pub mod schedule;
pub mod signature;
