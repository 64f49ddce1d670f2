//! The bus handler of consumer `mediation-dispatch` (contract
//! `civicgrid_contracts::mediation::DISPATCH`): dispatch's `task-assigned` facts of a dispute
//! item (`mediation.dispute_items`) to a justice office (`mediation.justice_office_kinds`) open
//! a case, once per task. Every other fact is acknowledged and left alone, without a
//! transaction ([`Handler::concerns`]).

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use civicgrid_kit::{
    bus::{HandleError, Handler, Incoming, inbox::BoxFuture},
    clock::Clock,
};
use civicgrid_proto::v1::{DisputeType, TaskEvent};
use sqlx::PgConnection;

use crate::{
    domain::{case::CaseError, visibility::justice_office_region},
    reference::dispute_type_of,
    store::Store,
    usecase::ActError,
};

/// Opens cases for disputes dispatched to justice offices.
pub struct DispatchHandler {
    /// The store.
    pub store: Arc<Store>,
    /// The time source.
    pub clock: Clock,
    /// Catalog items that are disputes, and their dispute type.
    pub dispute_items: BTreeMap<String, String>,
    /// Department kinds that are justice offices.
    pub justice_kinds: Vec<String>,
    /// Whether a case was opened since the last commit: only then has the relay (and the
    /// dispatch link) anything to do. Most task facts are not disputes, and waking both after
    /// each of them cost three transactions a fact that found nothing.
    pub opened: AtomicBool,
}

impl DispatchHandler {
    /// The dispute type of a task that should open a case: a `task-assigned` of a dispute item
    /// to a justice office.
    fn dispute_of(&self, task: &TaskEvent) -> Option<DisputeType> {
        if task.fact != "task-assigned" {
            return None;
        }
        justice_office_region(&task.department_id, &self.justice_kinds)?;
        self.dispute_items.get(&task.item_code).and_then(|name| dispute_type_of(name))
    }

    /// Whether `msg` is a task fact that opens a case, or cannot be read (to be dead-lettered).
    fn opens_a_case(&self, msg: &Incoming) -> bool {
        match msg.ce_type() {
            None => true,
            Some(_) if !msg.carries::<TaskEvent>() => false,
            Some(_) => msg.decode::<TaskEvent>().map_or(true, |task| self.dispute_of(&task).is_some()),
        }
    }

    async fn apply_one(&self, tx: &mut PgConnection, msg: &Incoming) -> Result<(), HandleError> {
        match msg.ce_type() {
            None => return Err(HandleError::Permanent("no ce-type header".into())),
            Some(_) if !msg.carries::<TaskEvent>() => return Ok(()),
            Some(_) => {}
        }
        let task: TaskEvent = msg.decode()?;
        let Some(kind) = self.dispute_of(&task) else { return Ok(()) };
        match self.store.open_for_task(tx, &task, kind, self.clock.now()).await {
            Ok(Some(case)) => {
                self.opened.store(true, Ordering::Relaxed);
                tracing::info!(case = %case.row.id, number = %case.row.case_number, task = %task.task_id, "case opened from a dispatched dispute");
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(ActError::Store(e)) => Err(e.into()),
            Err(ActError::Case(CaseError::Invalid { field, problem })) => {
                Err(HandleError::Permanent(format!("task {}: {field}: {problem}", task.task_id)))
            }
            Err(e) => Err(HandleError::Permanent(format!("task {}: {e}", task.task_id))),
        }
    }
}

impl Handler for DispatchHandler {
    fn apply<'a>(&'a self, tx: &'a mut PgConnection, msg: &'a Incoming) -> BoxFuture<'a, Result<(), HandleError>> {
        Box::pin(self.apply_one(tx, msg))
    }

    /// Only a dispute dispatched to a justice office: every other task fact (nearly all of
    /// them) is acknowledged without a transaction.
    fn concerns(&self, msg: &Incoming) -> bool {
        self.opens_a_case(msg)
    }

    fn committed(&self) {
        if self.opened.swap(false, Ordering::Relaxed) {
            self.store.committed();
        }
    }
}
