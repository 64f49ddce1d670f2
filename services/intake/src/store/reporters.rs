//! Reporters: every report gets a reporter row of its own, with the name and phone sealed
//! ([`crate::pii`]) and the phone masked for display. A new event's reporter row is inserted by
//! the new-event statement (`submit`, `batch/`); a merged report's by [`insert_reporter`].

use chrono::{DateTime, Utc};
use civicgrid_kit::time::to_proto;
use civicgrid_proto::v1::EventReport;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{Store, StoreError};
use crate::domain::{mask, validate::NewReport};

/// What a report needs before it is written: its ids, the reporter's sealed PII and the
/// report as the bus and the answer show it.
pub(super) struct Prepared {
    pub(super) reporter_id: Uuid,
    pub(super) report_id: Uuid,
    pub(super) masked: String,
    pub(super) name_sealed: Option<Vec<u8>>,
    pub(super) phone_sealed: Option<Vec<u8>>,
    pub(super) report: EventReport,
}

impl Store {
    /// New ids for a report and its reporter, the sealed PII and the masked phone.
    pub(super) fn prepare(&self, report: &NewReport, now: DateTime<Utc>) -> Prepared {
        let reporter_id = Uuid::now_v7();
        let report_id = Uuid::now_v7();
        let masked = mask::mask_phone(&report.reporter_phone);
        let seal = |s: &str| (!s.is_empty()).then(|| self.cipher.encrypt(reporter_id, s));
        let (name_sealed, phone_sealed) = (seal(&report.reporter_name), seal(&report.reporter_phone));
        let event_report = EventReport {
            report_id: report_id.to_string(),
            source: report.source as i32,
            reporter_id: reporter_id.to_string(),
            masked_phone: masked.clone(),
            description: report.description.clone(),
            evidence_urls: report.evidence_urls.clone(),
            reported_at: Some(to_proto(now)),
        };
        Prepared { reporter_id, report_id, masked, name_sealed, phone_sealed, report: event_report }
    }
}

/// Inserts the reporter row of `p`, with the caller's `account` id for them.
pub(super) async fn insert_reporter(tx: &mut PgConnection, p: &Prepared, account: &str) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO reporters (id, account_id, name_sealed, phone_sealed, phone_masked) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(p.reporter_id)
    .bind(account)
    .bind(&p.name_sealed)
    .bind(&p.phone_sealed)
    .bind(&p.masked)
    .execute(tx)
    .await?;
    Ok(())
}
