//! SQL on `task_changes`, the change feed WatchTasks follows: rows collected column by column
//! and appended in commit order under an advisory lock, and reading the feed after a cursor.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use sqlx::PgConnection;

use super::{Store, StoreError, TaskFilter};
use crate::tasks::TaskRow;

/// Advisory lock that orders change-feed appends by commit.
const CHANGE_FEED_LOCK: i64 = 7_305_002;

/// `task_changes` rows waiting to be appended, column by column.
#[derive(Default)]
pub(crate) struct ChangeColumns {
    task_id: Vec<Uuid>,
    fact: Vec<String>,
    department_id: Vec<Option<String>>,
    grid_code: Vec<Option<String>>,
    city: Vec<String>,
    county: Vec<String>,
    township: Vec<String>,
    village: Vec<String>,
    at: Vec<DateTime<Utc>>,
    task: Vec<Vec<u8>>,
}

impl ChangeColumns {
    /// Adds a row: `fact` about `row`, shown in `department`'s feed and its region's, with the
    /// task as it is now (`task`, encoded).
    pub(crate) fn push(
        &mut self,
        row: &TaskRow,
        fact: &str,
        department: Option<&str>,
        at: DateTime<Utc>,
        task: Vec<u8>,
    ) {
        self.task_id.push(row.id);
        self.fact.push(fact.to_string());
        self.department_id.push(department.map(str::to_string));
        self.grid_code.push(row.grid_code.clone());
        self.city.push(row.city.clone());
        self.county.push(row.county.clone());
        self.township.push(row.township.clone());
        self.village.push(row.village.clone());
        self.at.push(at);
        self.task.push(task);
    }

    /// Appends the rows in one statement that first takes the change-feed lock. The lock is
    /// held to COMMIT, so `seq` follows commit order; taking it in the transaction's last
    /// statement keeps writers serialised only for that statement and the commit. The lock is
    /// in a materialised CTE joined to the rows, so no row (and no `seq`) exists before it is
    /// held.
    pub(crate) async fn insert(&mut self, tx: &mut PgConnection) -> Result<usize, sqlx::Error> {
        let n = self.task_id.len();
        if n == 0 {
            return Ok(0);
        }
        sqlx::query(
            "WITH feed_lock AS MATERIALIZED (SELECT pg_advisory_xact_lock($1)) \
             INSERT INTO task_changes (task_id, fact, department_id, grid_code, city, county, township, village, at, task) \
             SELECT c.task_id, c.fact, c.department_id, c.grid_code, c.city, c.county, c.township, c.village, c.at, c.task \
             FROM feed_lock, unnest($2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], \
               $9::text[], $10::timestamptz[], $11::bytea[]) \
               WITH ORDINALITY AS c(task_id, fact, department_id, grid_code, city, county, township, village, at, task, n) \
             ORDER BY c.n",
        )
        .bind(CHANGE_FEED_LOCK)
        .bind(&self.task_id)
        .bind(&self.fact)
        .bind(&self.department_id)
        .bind(&self.grid_code)
        .bind(&self.city)
        .bind(&self.county)
        .bind(&self.township)
        .bind(&self.village)
        .bind(&self.at)
        .bind(&self.task)
        .execute(tx)
        .await?;
        *self = ChangeColumns::default();
        Ok(n)
    }
}

impl Store {
    /// Change-feed entries after `cursor` in a scope: (cursor, task id, fact, the task as it
    /// was right after the change, encoded).
    pub async fn changes_after(
        &self,
        cursor: i64,
        filter: &TaskFilter,
        limit: i64,
    ) -> Result<Vec<(i64, Uuid, String, Option<Vec<u8>>)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT seq, task_id, fact, task FROM task_changes WHERE seq > $1 \
               AND ($2::text IS NULL OR department_id = $2) AND ($3::text IS NULL OR city = $3) \
               AND ($4::text IS NULL OR county = $4) AND ($5::text IS NULL OR township = $5) \
               AND ($6::text IS NULL OR village = $6) AND ($8::text IS NULL OR grid_code = $8) \
             ORDER BY seq LIMIT $7",
        )
        .bind(cursor)
        .bind(&filter.department_id)
        .bind(&filter.city)
        .bind(&filter.county)
        .bind(&filter.township)
        .bind(&filter.village)
        .bind(limit)
        .bind(&filter.grid_code)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The newest change-feed position.
    pub async fn last_change(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COALESCE(max(seq), 0) FROM task_changes").fetch_one(&self.pool).await?)
    }
}
