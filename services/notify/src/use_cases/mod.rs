//! notify's use cases: what spans several aggregates, written as methods of
//! [`Store`](crate::store::Store). Each decides with the pure code of [`crate::rules`] and
//! [`crate::domain`] and reads and writes through the aggregates' SQL in `store/`.
//!
//! - [`record_facts`]: a batch of facts becomes notifications, inbox entries and deliveries
//!   ([`Store::record_facts`](crate::store::Store::record_facts));
//! - [`delivery_queue`]: claiming due deliveries with what sending them needs, and recording
//!   the outcomes of a round ([`Store::claim_due`](crate::store::Store::claim_due),
//!   [`Store::record_outcomes`](crate::store::Store::record_outcomes));
//! - [`digests`]: gathering due digest members into digest deliveries
//!   ([`Store::form_digests`](crate::store::Store::form_digests));
//! - [`acknowledgement`]: acknowledging a notice, and re-escalating the ones nobody
//!   acknowledged in time ([`Store::acknowledge`](crate::store::Store::acknowledge),
//!   [`Store::reescalate_due`](crate::store::Store::reescalate_due));
//! - [`delete_webhook`]: removing an endpoint fails its waiting deliveries
//!   ([`Store::delete_webhook`](crate::store::Store::delete_webhook)).

pub mod acknowledgement;
pub mod delete_webhook;
pub mod delivery_queue;
pub mod digests;
pub mod record_facts;
