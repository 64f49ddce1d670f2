//! Forming digests: the due members of a recipient's digest (low-priority deliveries held for
//! it) become one digest delivery per recipient, channel and endpoint, which the worker sends
//! like any other.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::store::{Store, StoreError, digests};

impl Store {
    /// Gathers due digest members into digest deliveries, one per recipient, channel and
    /// endpoint; returns how many digests were formed. Safe with several replicas: members are
    /// taken by an UPDATE, so a group is digested once.
    pub async fn form_digests(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let groups = digests::due_groups(&self.pool, now).await?;
        let mut formed = 0;
        for group in groups {
            let mut tx = self.pool.begin().await?;
            let digest = Uuid::now_v7();
            digests::insert(&mut tx, digest, &group, now).await?;
            let taken = digests::take_members(&mut tx, digest, &group, now).await?;
            if taken == 0 {
                // Another replica took this group first: no empty digest.
                tx.rollback().await?;
                continue;
            }
            digests::set_size(&mut tx, digest, taken as i32).await?;
            tx.commit().await?;
            formed += 1;
        }
        Ok(formed)
    }
}
