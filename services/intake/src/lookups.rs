//! Failed lookups by tracking number, limited.
//!
//! Tracking numbers are sequential and the proof a citizen's app gives besides one is the last
//! 4 digits of the reporter's phone: 10,000 guesses. A lookup that finds nothing (NOT_FOUND of
//! GetEventByTrackingNumber and RateOutcome, 404 of Open311's `GET requests/{id}`) is a guess
//! that failed, so each one costs a budget, kept with `governor`:
//!
//! - per client address, `intake.failed_lookups_per_minute`: one host cannot sweep numbers;
//! - per tracking number, `intake.failed_lookups_per_number_per_hour`, for lookups that give a
//!   proof: many hosts together cannot sweep one number's proofs.
//!
//! The failure that finds a budget spent is answered RESOURCE_EXHAUSTED (HTTP 429), and from
//! then on lookups are refused *before* anything is looked up until one failure's worth has
//! refilled, so a right guess is refused like a wrong one: otherwise an attacker over budget
//! would still learn which guess is right. Lookups that succeed cost nothing.

use std::{
    collections::HashMap,
    hash::Hash,
    net::IpAddr,
    num::NonZeroU32,
    sync::{Mutex, PoisonError},
    time::Instant,
};

use governor::{DefaultKeyedRateLimiter, Quota, clock::Clock};
use tonic::Status;

/// Keys kept before the idle ones are forgotten.
const KEEP: usize = 10_000;

/// The budgets, from intake's settings; 0 turns one off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LookupLimits {
    /// Failed lookups per client address and minute (a burst of as many, refilled evenly).
    pub per_client_per_minute: u32,
    /// Failed lookups with a proof per tracking number and hour (a burst of as many).
    pub per_number_per_hour: u32,
}

/// Why a lookup is refused: a budget is spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OverBudget {
    /// The client address made too many failed lookups.
    #[error("too many failed lookups from this address; wait a minute before trying again")]
    Client,
    /// The tracking number had too many failed lookups with a proof.
    #[error("too many failed lookups of this tracking number; try again later")]
    Number,
}

impl From<OverBudget> for Status {
    fn from(e: OverBudget) -> Self {
        Status::resource_exhausted(e.to_string())
    }
}

/// One budget per key: the failures `governor` counts, and the keys over budget until when.
struct Budget<K: Hash + Eq + Clone> {
    limiter: DefaultKeyedRateLimiter<K>,
    /// `governor` cannot tell whether a key is over budget without spending from it, so the
    /// failure that finds it spent notes until when.
    barred: Mutex<HashMap<K, Instant>>,
}

impl<K: Hash + Eq + Clone> Budget<K> {
    fn new(quota: Option<Quota>) -> Option<Self> {
        quota.map(|q| Budget { limiter: DefaultKeyedRateLimiter::keyed(q), barred: Mutex::new(HashMap::new()) })
    }

    fn is_barred(&self, key: &K) -> bool {
        let barred = self.barred.lock().unwrap_or_else(PoisonError::into_inner);
        barred.get(key).is_some_and(|until| *until > Instant::now())
    }

    /// Spends one failure of `key`; false when there was none left.
    fn spend(&self, key: &K) -> bool {
        let spent = match self.limiter.check_key(key) {
            Ok(()) => true,
            Err(not_until) => {
                let until = Instant::now() + not_until.wait_time_from(self.limiter.clock().now());
                let mut barred = self.barred.lock().unwrap_or_else(PoisonError::into_inner);
                if barred.len() >= KEEP {
                    let now = Instant::now();
                    barred.retain(|_, until| *until > now);
                }
                barred.insert(key.clone(), until);
                false
            }
        };
        // The limiter keeps a state per key seen: forget the idle ones now and then.
        if self.limiter.len() > KEEP {
            self.limiter.retain_recent();
        }
        spent
    }
}

/// The failed-lookup budgets of one intake, shared by its gRPC API and its Open311 facade.
pub struct FailedLookups {
    clients: Option<Budget<IpAddr>>,
    numbers: Option<Budget<String>>,
}

impl FailedLookups {
    /// Budgets as `limits` sets them.
    pub fn new(limits: LookupLimits) -> Self {
        FailedLookups {
            clients: Budget::new(NonZeroU32::new(limits.per_client_per_minute).map(Quota::per_minute)),
            numbers: Budget::new(NonZeroU32::new(limits.per_number_per_hour).map(Quota::per_hour)),
        }
    }

    /// A lookup by `client` (its address; `None` when unknown, e.g. in-process) of `number`
    /// (`Some` when the caller gives a proof), or why it is refused before it is made.
    pub fn admit(&self, client: Option<IpAddr>, number: Option<&str>) -> Result<Attempt<'_>, OverBudget> {
        if let (Some(b), Some(ip)) = (&self.clients, client)
            && b.is_barred(&ip)
        {
            return Err(OverBudget::Client);
        }
        if let (Some(b), Some(n)) = (&self.numbers, number)
            && b.is_barred(&n.to_string())
        {
            return Err(OverBudget::Number);
        }
        Ok(Attempt { lookups: self, client, number: number.map(str::to_string) })
    }
}

/// A lookup admitted by [`FailedLookups::admit`]; tell it when it finds nothing.
pub struct Attempt<'a> {
    lookups: &'a FailedLookups,
    client: Option<IpAddr>,
    number: Option<String>,
}

impl Attempt<'_> {
    /// Spends one failure of the client and of the number; the budget it found spent, if any.
    pub fn failed(&self) -> Result<(), OverBudget> {
        let client_ok = match (&self.lookups.clients, self.client) {
            (Some(b), Some(ip)) => b.spend(&ip),
            _ => true,
        };
        let number_ok = match (&self.lookups.numbers, &self.number) {
            (Some(b), Some(n)) => b.spend(n),
            _ => true,
        };
        match (client_ok, number_ok) {
            (false, _) => Err(OverBudget::Client),
            (_, false) => Err(OverBudget::Number),
            _ => Ok(()),
        }
    }

    /// The gRPC answer of a lookup that found nothing: NOT_FOUND with `message`, or
    /// RESOURCE_EXHAUSTED when this failure spent the last of a budget.
    pub fn not_found(&self, message: impl Into<String>) -> Status {
        match self.failed() {
            Ok(()) => Status::not_found(message),
            Err(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_past_the_budget_bar_the_client_and_the_number_before_any_lookup() {
        let lookups = FailedLookups::new(LookupLimits { per_client_per_minute: 3, per_number_per_hour: 2 });
        let (a, b): (IpAddr, IpAddr) = ([10, 0, 0, 1].into(), [10, 0, 0, 2].into());
        let n = "411602-20261122-000001";

        // Two failures of one number from two hosts; the third, from a third host, is refused.
        assert_eq!(lookups.admit(Some(a), Some(n)).unwrap().failed(), Ok(()));
        assert_eq!(lookups.admit(Some(b), Some(n)).unwrap().failed(), Ok(()));
        assert_eq!(lookups.admit(Some(b), Some(n)).unwrap().failed(), Err(OverBudget::Number));
        assert_eq!(lookups.admit(Some([10, 0, 0, 3].into()), Some(n)).err(), Some(OverBudget::Number));
        // Another number, or staff without a proof, are still looked up.
        assert!(lookups.admit(Some(b), Some("411602-20261122-000002")).is_ok());
        assert!(lookups.admit(Some(b), None).is_ok());

        // Host a fails three times in all: then it is refused, whatever it looks up.
        let other = "411602-20261122-000003";
        assert_eq!(lookups.admit(Some(a), Some(other)).unwrap().failed(), Ok(()));
        assert_eq!(lookups.admit(Some(a), None).unwrap().failed(), Ok(()));
        assert_eq!(lookups.admit(Some(a), None).unwrap().failed(), Err(OverBudget::Client));
        assert_eq!(lookups.admit(Some(a), None).err(), Some(OverBudget::Client));
        // Success costs nothing; an unknown address is not limited by address.
        assert!(lookups.admit(None, None).is_ok());
        let status = lookups.admit(Some(b), None).unwrap().not_found("no event");
        assert_eq!(status.code(), tonic::Code::NotFound);
    }

    #[test]
    fn zero_turns_a_budget_off() {
        let lookups = FailedLookups::new(LookupLimits { per_client_per_minute: 0, per_number_per_hour: 0 });
        for _ in 0..100 {
            assert_eq!(lookups.admit(Some([10, 0, 0, 1].into()), Some("n")).unwrap().failed(), Ok(()));
        }
    }
}
