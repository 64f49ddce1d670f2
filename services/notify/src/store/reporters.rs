//! The reporters of intake's events (`event_reporters`): what a task fact for `reporters` is
//! resolved with. Both sides of a closure that overtakes its report take `REPORTERS_LOCK`.

use std::collections::HashMap;

use sqlx::{PgConnection, Row};

use super::{StoreError, advisory_lock};

/// Orders the two sides of a closure that overtakes its report: the transaction that records
/// an event's reporters and takes the facts waiting for them, and the one that finds no
/// reporters and parks its fact. Without it each could miss the other's uncommitted row and the
/// parked fact would wait forever. Taken before the inbox locks on both sides.
const REPORTERS_LOCK: i64 = 7_305_004;

/// Records (event, reporter) `pairs` under `REPORTERS_LOCK`, which `tx` holds from then on: the
/// caller takes the facts waiting for those events in the same transaction.
pub(crate) async fn remember(tx: &mut PgConnection, pairs: &[(String, String)]) -> Result<(), StoreError> {
    advisory_lock(&mut *tx, REPORTERS_LOCK).await?;
    sqlx::query(
        "INSERT INTO event_reporters (event_id, reporter_id) \
         SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING",
    )
    .bind(pairs.iter().map(|(e, _)| e.clone()).collect::<Vec<_>>())
    .bind(pairs.iter().map(|(_, r)| r.clone()).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The known reporters of `events`, by event, read under `REPORTERS_LOCK`, which `tx` holds from
/// then on: the caller parks the facts of events without reporters in the same transaction.
/// For no events nothing is read or locked.
pub(crate) async fn of_events(
    tx: &mut PgConnection,
    events: &[String],
) -> Result<HashMap<String, Vec<String>>, StoreError> {
    if events.is_empty() {
        return Ok(HashMap::new());
    }
    advisory_lock(&mut *tx, REPORTERS_LOCK).await?;
    let mut reporters: HashMap<String, Vec<String>> = HashMap::new();
    for row in sqlx::query(
        "SELECT event_id, reporter_id FROM event_reporters WHERE event_id = ANY($1) ORDER BY event_id, reporter_id",
    )
    .bind(events)
    .fetch_all(&mut *tx)
    .await?
    {
        reporters.entry(row.get("event_id")).or_default().push(row.get("reporter_id"));
    }
    Ok(reporters)
}
