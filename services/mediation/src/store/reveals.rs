//! The record of each reveal of parties' personal data: a `pii-revealed` record in mediation's
//! audit trail (who, which case, which fields of which parties, when, why, in which request),
//! written before the answer that carries the data leaves, and never published
//! (docs/reliability.md, "Personal data").

use chrono::{DateTime, Utc};
use civicgrid_contracts::mediation::PII_REVEALED;
use civicgrid_kit::{audit, bus::Envelope, time::to_proto};
use civicgrid_proto::v1::{Actor, PiiRevealed, RevealedPerson};
use uuid::Uuid;

use super::{Store, StoreError, parties::OpenParty};
use crate::{SERVICE, cases::Case};

/// Why, and in which request, a caller asked for parties' personal data.
#[derive(Debug, Clone, PartialEq)]
pub struct Reveal {
    /// The RPC answering with the data, e.g. `GetAgreementDocument`.
    pub method: &'static str,
    /// The caller's reason, as given (trimmed).
    pub purpose: String,
    /// The request's `request_id`.
    pub request_id: String,
    /// When, by the service's clock.
    pub at: DateTime<Utc>,
}

/// The party `id`, `open`, as a reveal names it: its id, role and the fields it has in clear.
pub fn revealed_person(id: Uuid, open: &OpenParty) -> RevealedPerson {
    let fields =
        [("name", &open.name), ("phone", &open.phone), ("id_number", &open.id_number), ("address", &open.address)]
            .into_iter()
            .filter(|(_, value)| !value.is_empty())
            .map(|(field, _)| field.to_string())
            .collect();
    RevealedPerson { id: id.to_string(), role: open.role.as_str_name().to_string(), fields }
}

impl Store {
    /// Records that `actor` was shown `people` of `case` for `reveal`; the record's `ce-id`.
    /// A failure here means the data must not be answered.
    pub async fn record_reveal(
        &self,
        case: &Case,
        people: Vec<RevealedPerson>,
        actor: Actor,
        reveal: &Reveal,
    ) -> Result<Uuid, StoreError> {
        let row = &case.row;
        let region = row.path();
        let record = PiiRevealed {
            method: reveal.method.to_string(),
            record_id: row.id.to_string(),
            record_number: row.case_number.clone(),
            region: Some(region.clone()),
            actor: Some(actor),
            purpose: reveal.purpose.clone(),
            request_id: reveal.request_id.clone(),
            people,
            revealed_at: Some(to_proto(reveal.at)),
        };
        // The case is the aggregate: `audit export --aggregate <case>` shows who saw its
        // parties among its changes.
        let envelope = Envelope::fact(&PII_REVEALED, &region, row.id, &record);
        let mut conn = self.pool.acquire().await?;
        Ok(audit::record(&mut conn, SERVICE, &envelope, reveal.at).await?)
    }
}
