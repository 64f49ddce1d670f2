//! An action on a task for a caller ([`Store::act`]): idempotent by request id, checked
//! against what the caller may see and the lifecycle, written with [`Store::apply`].

use chrono::{DateTime, Utc};
use civicgrid_kit::{auth::Principal, region};
use civicgrid_proto::v1 as pb;
use uuid::Uuid;

use crate::{
    domain::lifecycle::{self, Action, ActorView, LifecycleError},
    reference::ReferenceData,
    store::{Store, StoreError, Writes, tasks},
    tasks::TaskRow,
    visibility::Visibility,
};
use civicgrid_kit::requests;

/// Why an action on a task was not taken.
#[derive(Debug, thiserror::Error)]
pub enum ActError {
    /// No such task in the caller's scope.
    #[error("no such task")]
    NotFound,
    /// A field of the request is unusable.
    #[error("{field}: {problem}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// The lifecycle refused.
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ActError {
    fn from(e: sqlx::Error) -> Self {
        ActError::Store(StoreError::Db(e))
    }
}

/// Checks that an `Assign` names a department that serves the task's region; other actions
/// pass.
fn check_assignment(action: &Action, row: &TaskRow, refdata: &ReferenceData) -> Result<(), ActError> {
    let Action::Assign { department_id } = action else { return Ok(()) };
    let serves = refdata.departments.get(department_id).map(|d| region::contains(&d.region_code, &row.region()));
    match serves {
        None => Err(ActError::Invalid { field: "department_id", problem: format!("no department `{department_id}`") }),
        Some(false) => Err(ActError::Invalid {
            field: "department_id",
            problem: format!("`{department_id}` does not serve the task's region"),
        }),
        Some(true) => Ok(()),
    }
}

impl Store {
    /// Takes `action` on a task for `caller`, idempotently by `request_id`, and returns the task
    /// after it.
    pub async fn act(
        &self,
        caller: &Principal,
        request_id: &str,
        task_id: Uuid,
        action: Action,
        now: DateTime<Utc>,
    ) -> Result<pb::Task, ActError> {
        let mut tx = self.pool.begin().await?;
        if !requests::claim(&mut tx, &caller.subject, request_id).await? {
            tx.rollback().await?;
            return self.previous_answer(&caller.subject, request_id).await.map_err(ActError::Store);
        }
        let mut row = tasks::lock(&mut tx, task_id).await?.ok_or(ActError::NotFound)?;
        if !Visibility::of(caller).sees(&row) {
            return Err(ActError::NotFound);
        }
        check_assignment(&action, &row, &self.refdata())?;
        let view = row.view().ok_or_else(|| StoreError::Corrupt(format!("task state `{}`", row.state)))?;
        let actor_view = ActorView {
            role: caller.role,
            department_id: caller.department_id.clone(),
            region_scope: caller.region_scope.clone(),
        };
        let decision = lifecycle::decide(&view, &action, &actor_view)?;
        let mut w = Writes::default();
        self.apply(&mut tx, &mut w, &mut row, &decision, &action, &caller.actor(), now).await?;
        let answer = row.to_proto(&self.refdata(), now);
        requests::store_answer(&mut tx, &caller.subject, request_id, &answer).await?;
        w.finish(&mut tx).await?;
        tx.commit().await?;
        self.committed();
        Ok(answer)
    }

    /// The answer stored for a request already handled.
    async fn previous_answer(&self, caller: &str, request_id: &str) -> Result<pb::Task, StoreError> {
        requests::previous(&self.pool, caller, request_id).await
    }
}
