//! The reference set in force: found (or seeded) at start, loaded anew through gRPC
//! (idempotent by request id), and picked up when another replica loaded a newer one.

use std::sync::Arc;

use civicgrid_kit::auth::Principal;
use sqlx::PgPool;

use civicgrid_kit::requests;

use crate::{
    reference::{ReferenceData, ReferenceFiles, Versions},
    store::{
        Store, StoreError,
        reference_sets::{self, insert_reference_set, latest_reference_set},
    },
};

/// Why a reference set was not loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The files do not parse or check.
    #[error(transparent)]
    Invalid(crate::reference::ReferenceError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The reference set in force and its sequence number: the newest stored one; when none is
/// stored yet, the files in `dir` (or the shipped dataset), stored as the first.
pub async fn reference_in_force(pool: &PgPool, dir: Option<&str>) -> Result<(i64, ReferenceData), LoadError> {
    let (seq, refdata) = match latest_reference_set(pool).await? {
        Some((seq, files)) => (seq, files.parse().map_err(LoadError::Invalid)?),
        None => {
            let files = match dir.filter(|d| !d.is_empty()) {
                Some(dir) => ReferenceFiles::read_dir(std::path::Path::new(dir)).map_err(LoadError::Invalid)?,
                None => ReferenceFiles::shipped(),
            };
            let refdata = files.parse().map_err(LoadError::Invalid)?;
            (insert_reference_set(pool, &files, &refdata.versions(), "configuration").await?, refdata)
        }
    };
    let v = refdata.versions();
    tracing::info!(set = seq, catalog = %v.catalog, regions = %v.regions, departments = %v.departments, calendar = %v.calendar, "reference data in force");
    Ok((seq, refdata))
}

impl Store {
    /// Puts a new reference set in force after checking it, records it, and returns its
    /// versions; idempotent by `request_id`.
    pub async fn load_reference(
        &self,
        caller: &Principal,
        request_id: &str,
        files: ReferenceFiles,
    ) -> Result<Versions, LoadError> {
        let data = files.parse().map_err(LoadError::Invalid)?;
        let versions = data.versions();
        let mut tx = self.pool.begin().await.map_err(StoreError::from)?;
        // Its own key space in `requests`, apart from the task actions' ids.
        let fresh = requests::claim(&mut tx, &caller.subject, &format!("reference:{request_id}")).await?;
        if !fresh {
            tx.rollback().await.map_err(StoreError::from)?;
            // The first call's set was stored with this key, perhaps through another replica
            // that this one has not caught up with yet: answer the set in force now, the newest.
            self.reload_reference_if_newer().await?;
            return Ok(self.refdata().versions());
        }
        let seq = insert_reference_set(&mut *tx, &files, &versions, &caller.subject).await?;
        tx.commit().await.map_err(StoreError::from)?;
        self.put_refdata(seq, Arc::new(data));
        tracing::info!(set = seq, catalog = %versions.catalog, by = %caller.subject, "new reference data in force");
        Ok(versions)
    }

    /// Puts the newest stored set in force if another replica loaded one.
    pub async fn reload_reference_if_newer(&self) -> Result<bool, StoreError> {
        let current = self.reference_seq();
        let newest = reference_sets::newest_seq(&self.pool).await?;
        if newest.unwrap_or(0) <= current {
            return Ok(false);
        }
        let Some((seq, files)) = latest_reference_set(&self.pool).await? else { return Ok(false) };
        let data = files.parse().map_err(|e| StoreError::Corrupt(format!("stored reference set {seq}: {e}")))?;
        self.put_refdata(seq, Arc::new(data));
        Ok(true)
    }
}
