//! Bus handlers: intake's reported events become tasks; ratings are recorded and a
//! dissatisfied one reopens the case.

use std::sync::Arc;

use civicgrid_kit::{
    bus::{HandleError, Handler, Incoming, inbox::BoxFuture},
    clock::Clock,
};
use civicgrid_proto::v1::{EventRated, EventReported};
use prost::Message;
use sqlx::PgConnection;

use crate::store::{ActError, Store, StoreError};

/// The durable consumer name of [`IntakeHandler`].
pub const INTAKE_CONSUMER: &str = "dispatch-intake";

/// The subjects it reads.
pub fn intake_subjects() -> Vec<String> {
    vec!["civicgrid.intake.event-reported.>".into(), "civicgrid.intake.event-rated.>".into()]
}

/// Applies intake's `event-reported` and `event-rated`.
pub struct IntakeHandler {
    /// The store.
    pub store: Arc<Store>,
    /// The time source.
    pub clock: Clock,
}

fn store_error(e: StoreError) -> HandleError {
    match e {
        StoreError::Db(e) => e.into(),
        StoreError::Corrupt(m) => HandleError::Permanent(m),
    }
}

impl Handler for IntakeHandler {
    fn apply<'a>(&'a self, tx: &'a mut PgConnection, msg: &'a Incoming) -> BoxFuture<'a, Result<(), HandleError>> {
        Box::pin(async move {
            let now = self.clock.now();
            match msg.ce_type() {
                Some("civicgrid.v1.EventReported") => {
                    let reported = EventReported::decode(msg.payload.clone())?;
                    self.store.create_for_event(tx, &reported, now).await.map_err(store_error)?;
                    Ok(())
                }
                Some("civicgrid.v1.EventRated") => {
                    let rated = EventRated::decode(msg.payload.clone())?;
                    match self.store.apply_rating(tx, &rated, now).await {
                        Ok(_) => Ok(()),
                        Err(ActError::Store(e)) => Err(store_error(e)),
                        Err(e) => Err(HandleError::Permanent(e.to_string())),
                    }
                }
                Some(other) => Err(HandleError::Permanent(format!("unexpected ce-type `{other}`"))),
                None => Err(HandleError::Permanent("no ce-type header".into())),
            }
        })
    }

    fn committed(&self) {
        self.store.committed();
    }
}
