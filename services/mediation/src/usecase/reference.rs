//! The reference set in force: found (or seeded) at start, loaded anew through gRPC
//! (idempotent by request id), and picked up when another replica loaded a newer one.

use std::sync::Arc;

use civicgrid_kit::{auth::Principal, time::to_proto};
use civicgrid_proto::v1::MediationReferenceVersions;
use sqlx::PgPool;

use crate::{
    reference::{ReferenceError, ReferenceFiles},
    store::{InForce, Store, StoreError, reference_sets},
};

use super::Claimed;

/// Why a reference set was not loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The files do not parse or check.
    #[error(transparent)]
    Invalid(ReferenceError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for LoadError {
    fn from(e: sqlx::Error) -> Self {
        LoadError::Store(StoreError::Db(e))
    }
}

/// The reference set in force: the newest stored one; when none is stored yet, the files in
/// `dir` (or the shipped dataset), stored as the first.
pub async fn reference_in_force(pool: &PgPool, dir: Option<&str>) -> Result<InForce, LoadError> {
    let in_force = match reference_sets::latest(pool).await? {
        Some((seq, files, loaded_at)) => {
            InForce { seq, data: Arc::new(files.parse().map_err(LoadError::Invalid)?), loaded_at }
        }
        None => {
            let files = match dir.filter(|d| !d.is_empty()) {
                Some(dir) => ReferenceFiles::read_dir(std::path::Path::new(dir)).map_err(LoadError::Invalid)?,
                None => ReferenceFiles::shipped(),
            };
            let data = files.parse().map_err(LoadError::Invalid)?;
            let (seq, loaded_at) = reference_sets::insert(pool, &files, &data.versions, "configuration").await?;
            InForce { seq, data: Arc::new(data), loaded_at }
        }
    };
    let v = &in_force.data.versions;
    tracing::info!(set = in_force.seq, organisations = %v.organisations, mediators = %v.mediators, calendar = %v.calendar, "mediation reference data in force");
    Ok(in_force)
}

/// The contract's versions of a set in force.
pub fn versions_of(set: &InForce) -> MediationReferenceVersions {
    let v = &set.data.versions;
    MediationReferenceVersions {
        organisations: v.organisations.clone(),
        mediators: v.mediators.clone(),
        calendar: v.calendar.clone(),
        loaded_at: Some(to_proto(set.loaded_at)),
    }
}

impl Store {
    /// Puts a new reference set in force after checking it as a whole, records it, and
    /// answers its versions; idempotent by `request_id` (a retry answers the first load).
    pub async fn load_reference(
        &self,
        caller: &Principal,
        request_id: &str,
        files: ReferenceFiles,
    ) -> Result<MediationReferenceVersions, LoadError> {
        // Its own key space in `requests`, apart from the case calls' ids.
        let key = format!("reference:{request_id}");
        let mut tx = match self.claim(&caller.subject, &key).await? {
            Claimed::Fresh(tx) => tx,
            Claimed::Answered(answer) => return Ok(answer),
        };
        let data = files.parse().map_err(LoadError::Invalid)?;
        let (seq, loaded_at) = reference_sets::insert(&mut *tx, &files, &data.versions, &caller.subject).await?;
        let set = InForce { seq, data: Arc::new(data), loaded_at };
        let answer = self.answer(tx, &caller.subject, &key, versions_of(&set)).await?;
        tracing::info!(set = seq, organisations = %answer.organisations, by = %caller.subject, "new mediation reference data in force");
        self.put_refdata(set);
        Ok(answer)
    }

    /// Puts the newest stored set in force if another replica loaded one.
    pub async fn reload_reference_if_newer(&self) -> Result<bool, StoreError> {
        let current = self.in_force().seq;
        if reference_sets::newest_seq(&self.pool).await?.unwrap_or(0) <= current {
            return Ok(false);
        }
        let Some((seq, files, loaded_at)) = reference_sets::latest(&self.pool).await? else { return Ok(false) };
        let data = files.parse().map_err(|e| StoreError::Corrupt(format!("stored reference set {seq}: {e}")))?;
        self.put_refdata(InForce { seq, data: Arc::new(data), loaded_at });
        Ok(true)
    }
}
