//! Pure code, no I/O: what a fact says ([`facts`]; mediation's case facts in [`mediation`],
//! patrol's facts in [`patrol`]), whom a rule names ([`selectors`]), who a recipient is and may
//! read ([`recipients`]), a recipient's [`preferences`], a notification before it is written
//! and the deliveries it fans out to ([`notices`]), when a delivery goes out ([`schedule`]:
//! quiet hours, digests, retry delays), an endpoint's circuit breaker ([`breaker`]) and the
//! webhook signature ([`signature`]).

pub mod breaker;
pub mod facts;
pub mod mediation;
pub mod notices;
pub mod patrol;
pub mod preferences;
pub mod recipients;
pub mod schedule;
pub mod selectors;
pub mod signature;
