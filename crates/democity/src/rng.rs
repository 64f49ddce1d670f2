//! The seeded random numbers behind every choice the generator makes.
//!
//! The stream is ChaCha8 ([`rand_chacha::ChaCha8Rng`]), whose output for a given key and stream
//! is fixed by its algorithm and documented as portable — unlike `rand::rngs::StdRng`, whose
//! algorithm may change between `rand` versions. Ranges and fractions are derived here from the
//! raw 64-bit words (not with `rand`'s distributions, whose sampling may also change), so the
//! same seed gives the same city on every platform and with every dependency update that keeps
//! ChaCha8.
//!
//! Each entity draws from its own stream ([`Rng::for_entity`]: the seed, a [`Purpose`] and the
//! entity's code), so what one county, township or village gets does not depend on which other
//! counties are generated or in which order.

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

/// What a stream is used for; streams of different purposes are independent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// Seed points of the cells (geometry).
    Geometry = 1,
    /// Place names.
    Names = 2,
    /// How many children a region has.
    Counts = 3,
    /// People's names (grid workers, mediators, patrol members).
    People = 4,
    /// Key places, their fences and routes.
    Patrol = 5,
    /// Mediators of an organisation.
    Mediation = 6,
}

/// A seeded generator of one entity's choices.
pub(crate) struct Rng(ChaCha8Rng);

impl Rng {
    /// The stream of `purpose` for the entity with numeric code `code`, under `seed`.
    pub(crate) fn for_entity(seed: u64, purpose: Purpose, code: u64) -> Rng {
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&seed.to_le_bytes());
        key[8..16].copy_from_slice(&(purpose as u64).to_le_bytes());
        let mut rng = ChaCha8Rng::from_seed(key);
        rng.set_stream(code);
        Rng(rng)
    }

    /// The stream for an entity named by a decimal code (a region or grid code); a code that is
    /// not a number is hashed (FNV-1a) instead.
    pub(crate) fn for_code(seed: u64, purpose: Purpose, code: &str) -> Rng {
        let numeric = code.parse::<u64>().unwrap_or_else(|_| {
            code.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
        });
        Rng::for_entity(seed, purpose, numeric)
    }

    /// A uniform integer in `0..n` (`0` when `n` is 0), without modulo bias.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        if n <= 1 {
            return 0;
        }
        // Reject the top partial copy of 0..n so every value is equally likely.
        let zone = u64::MAX - (u64::MAX % n + 1) % n;
        loop {
            let x = self.0.next_u64();
            if x <= zone {
                return x % n;
            }
        }
    }

    /// A uniform integer in `lo..=hi` (`lo` when `hi < lo`).
    pub(crate) fn between(&mut self, lo: usize, hi: usize) -> usize {
        if hi <= lo {
            return lo;
        }
        lo + self.below((hi - lo + 1) as u64) as usize
    }

    /// A uniform fraction in `[0, 1)` with 53 random bits.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// True with probability `p`.
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// A uniformly chosen element of a non-empty slice (`None` when empty).
    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        items.get(self.below(items.len() as u64) as usize)
    }

    /// Shuffles `items` in place (Fisher–Yates).
    pub(crate) fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests;
