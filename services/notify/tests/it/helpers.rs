//! `spawn_app`: one notify with its own nats-server and database, a client for it, ways to
//! publish intake's, dispatch's, mediation's and patrol's facts as they do, tokens for every
//! role, and a webhook receiver on loopback.
//!
//! - `helpers/app.rs`: [`TestApp`], [`spawn_app`], test settings, the test region and times;
//! - `helpers/facts.rs`: intake's, dispatch's, mediation's and patrol's facts, built and
//!   published as they do;
//! - `helpers/reading.rs`: reading notify (inbox, deliveries, endpoints, published facts, dead
//!   letters, the database) and waiting for what is expected ([`eventually`]);
//! - `helpers/tokens.rs`: tokens for every role and [`authed`] requests;
//! - `helpers/receiver.rs`: the webhook [`Receiver`] and the worker-pass [`Probe`].

#![allow(dead_code)]

mod app;
mod facts;
mod reading;
mod receiver;
mod tokens;

pub use app::*;
pub use facts::*;
pub use reading::*;
pub use receiver::*;
pub use tokens::*;
