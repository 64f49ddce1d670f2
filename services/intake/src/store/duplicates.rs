//! The duplicate search: the open events a report may duplicate (same item and county, in the
//! duplicate window, near it or in its grid), for one report and for a batch. The two searches
//! must stay the same; `domain::dedupe` then picks the duplicate.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{Store, StoreError, batch::Submission, sequences};
use crate::domain::{
    dedupe::{self, Candidate},
    validate::NewReport,
};

/// What the duplicate search found.
pub(super) struct Search {
    /// The open event the report duplicates.
    pub(super) duplicate: Option<Uuid>,
    /// The tracking number taken when there was no candidate at all.
    pub(super) next_number: Option<i64>,
}

/// Statement 2 of a batch (`batch/`): the open events each report may duplicate, newest first;
/// the same searches as [`Store::search`], one lateral index scan per report.
const SEARCH: &str = "\
SELECT q.i, e.id, e.lat, e.lng, e.grid_code \
FROM unnest($1::int4[], $2::text[], $3::text[], $4::float8[], $5::float8[], $6::float8[], $7::float8[], \
            $8::timestamptz[]) AS q (i, item, county, lat0, lat1, lng0, lng1, since) \
CROSS JOIN LATERAL (SELECT id, lat, lng, grid_code FROM events WHERE item_code = q.item AND county = q.county \
    AND status <> 6 AND lat BETWEEN q.lat0 AND q.lat1 AND lng BETWEEN q.lng0 AND q.lng1 AND reported_at >= q.since \
    ORDER BY reported_at DESC LIMIT 50) AS e \
UNION ALL \
SELECT q.i, e.id, e.lat, e.lng, e.grid_code \
FROM unnest($9::int4[], $10::text[], $11::text[], $12::text[], $13::timestamptz[]) AS q (i, item, grid, county, since) \
CROSS JOIN LATERAL (SELECT id, lat, lng, grid_code FROM events WHERE item_code = q.item AND grid_code = q.grid \
    AND county = q.county AND status <> 6 AND reported_at >= q.since ORDER BY reported_at DESC LIMIT 50) AS e";

impl Store {
    /// Looks for an open duplicate of `report`; when there is no candidate at all, the same
    /// statement takes the next tracking number (the common case costs one round trip).
    pub(super) async fn search(
        &self,
        tx: &mut PgConnection,
        report: &NewReport,
        now: DateTime<Utc>,
        sequence: &str,
    ) -> Result<Search, StoreError> {
        // `sequence` is digits and underscores only (tracking::sequence_name).
        let numbered = |candidates: &str| {
            format!(
                "WITH c AS ({candidates}) SELECT id, lat, lng, grid_code, NULL::int8 FROM c \
                 UNION ALL SELECT NULL, NULL, NULL, NULL, nextval('{sequence}') WHERE NOT EXISTS (SELECT 1 FROM c)"
            )
        };
        type Row = (Option<Uuid>, Option<f64>, Option<f64>, Option<String>, Option<i64>);
        let rows: Vec<Row> = match (report.point, &report.grid_code) {
            (Some(point), _) => {
                let (lat0, lat1, lng0, lng1) = dedupe::bounding_box(point, self.radius_m);
                let sql = numbered(
                    "SELECT id, lat, lng, grid_code FROM events WHERE item_code = $1 AND county = $2 AND status <> 6 \
                     AND lat BETWEEN $3 AND $4 AND lng BETWEEN $5 AND $6 AND reported_at >= $7 \
                     ORDER BY reported_at DESC LIMIT 50",
                );
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(&report.item_code)
                    .bind(&report.region.county)
                    .bind(lat0)
                    .bind(lat1)
                    .bind(lng0)
                    .bind(lng1)
                    .bind(now - self.window)
                    .fetch_all(&mut *tx)
                    .await?
            }
            (None, Some(grid)) => {
                let sql = numbered(
                    "SELECT id, lat, lng, grid_code FROM events WHERE item_code = $1 AND grid_code = $2 \
                     AND county = $3 AND status <> 6 AND reported_at >= $4 ORDER BY reported_at DESC LIMIT 50",
                );
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(&report.item_code)
                    .bind(grid)
                    .bind(&report.region.county)
                    .bind(now - self.window)
                    .fetch_all(&mut *tx)
                    .await?
            }
            // Only a region: nothing to compare with.
            (None, None) => {
                let seq = sequences::next_number(tx, sequence).await?;
                return Ok(Search { duplicate: None, next_number: Some(seq) });
            }
        };
        let next_number = rows.iter().find_map(|r| r.4);
        let candidates: Vec<Candidate<Uuid>> = rows
            .into_iter()
            .filter_map(|(id, lat, lng, grid_code, _)| Some(Candidate { id: id?, point: lat.zip(lng), grid_code }))
            .collect();
        let duplicate = dedupe::find_duplicate(&candidates, report.point, report.grid_code.as_deref(), self.radius_m);
        Ok(Search { duplicate, next_number })
    }

    /// Statement 2 for the batch's leaders that were not answered before: their candidates,
    /// by submission.
    pub(super) async fn search_batch(
        &self,
        tx: &mut PgConnection,
        batch: &[Submission],
        leaders: &[usize],
        answered: &[bool],
    ) -> Result<Vec<Vec<Candidate<Uuid>>>, StoreError> {
        let mut near = SearchNear::default();
        let mut in_grid = SearchInGrid::default();
        for &i in leaders.iter().filter(|&&i| !answered[i]) {
            let r = &batch[i].report;
            let since = batch[i].now - self.window;
            match (r.point, &r.grid_code) {
                (Some(point), _) => {
                    let (lat0, lat1, lng0, lng1) = dedupe::bounding_box(point, self.radius_m);
                    near.i.push(i as i32);
                    near.item.push(r.item_code.clone());
                    near.county.push(r.region.county.clone());
                    near.lat0.push(lat0);
                    near.lat1.push(lat1);
                    near.lng0.push(lng0);
                    near.lng1.push(lng1);
                    near.since.push(since);
                }
                (None, Some(grid)) => {
                    in_grid.i.push(i as i32);
                    in_grid.item.push(r.item_code.clone());
                    in_grid.grid.push(grid.clone());
                    in_grid.county.push(r.region.county.clone());
                    in_grid.since.push(since);
                }
                // Only a region: nothing to compare with.
                (None, None) => {}
            }
        }
        let mut stored: Vec<Vec<Candidate<Uuid>>> = vec![Vec::new(); batch.len()];
        if near.i.is_empty() && in_grid.i.is_empty() {
            return Ok(stored);
        }
        type Row = (i32, Uuid, Option<f64>, Option<f64>, Option<String>);
        let rows: Vec<Row> = sqlx::query_as(SEARCH)
            .bind(&near.i)
            .bind(&near.item)
            .bind(&near.county)
            .bind(&near.lat0)
            .bind(&near.lat1)
            .bind(&near.lng0)
            .bind(&near.lng1)
            .bind(&near.since)
            .bind(&in_grid.i)
            .bind(&in_grid.item)
            .bind(&in_grid.grid)
            .bind(&in_grid.county)
            .bind(&in_grid.since)
            .fetch_all(&mut *tx)
            .await?;
        for (i, id, lat, lng, grid_code) in rows {
            if let Some(list) = usize::try_from(i).ok().and_then(|i| stored.get_mut(i)) {
                list.push(Candidate { id, point: lat.zip(lng), grid_code });
            }
        }
        Ok(stored)
    }
}

/// Statement 2's parameters for reports with coordinates.
#[derive(Default)]
struct SearchNear {
    i: Vec<i32>,
    item: Vec<String>,
    county: Vec<String>,
    lat0: Vec<f64>,
    lat1: Vec<f64>,
    lng0: Vec<f64>,
    lng1: Vec<f64>,
    since: Vec<DateTime<Utc>>,
}

/// Statement 2's parameters for reports with only a grid code.
#[derive(Default)]
struct SearchInGrid {
    i: Vec<i32>,
    item: Vec<String>,
    grid: Vec<String>,
    county: Vec<String>,
    since: Vec<DateTime<Utc>>,
}
