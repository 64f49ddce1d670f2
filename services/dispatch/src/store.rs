//! All of dispatch's SQL: creating tasks from reported events, applying lifecycle decisions,
//! the warning ticker, listings, the change feed and the facts assessment folds.
//!
//! Every change to a task, in one transaction: the row, its facts (audit and assessment), the
//! outgoing `TaskEvent` (outbox) and a change-feed row. Facts, outgoing messages and change rows
//! are collected in [`Writes`] and written together at the end of the transaction, one
//! multi-row statement per table; the change-feed rows last, under the feed's lock.

use std::{collections::HashSet, sync::Arc};

use chrono::{DateTime, Utc};
use civicgrid_kit::{
    auth::Principal,
    bus::{Envelope, OutboxBatch, OutboxSignal},
    region,
    time::to_proto,
};
use civicgrid_proto::v1::{self as pb, Actor, EventReported, Role, TaskEvent, WarningColour};
use prost::Message;
use sqlx::{PgConnection, PgPool, types::Json};
use tokio::sync::Notify;
use uuid::Uuid;

use civicgrid_contracts::dispatch::TASK_FACTS;
pub use civicgrid_kit::storage::StoreError;

use crate::{
    SERVICE,
    domain::{
        kpi::{self, Period, RecordedFact, TaskRecord},
        lifecycle::{
            self, Action, ActorView, ClockChange, Decision, DepartmentChange, Fact, LifecycleError, Stage, TaskState,
        },
        routing::{self, WhistleLevel},
        sla::StageClock,
        warning::{self, Colour},
    },
    reference::{ReferenceData, ReferenceFiles, Versions},
    tasks::{Clocks, TASK_COLUMNS, TaskRow, colour_to_proto, resume_to_of, warning_at},
};

/// Advisory lock that orders change-feed appends by commit.
const CHANGE_FEED_LOCK: i64 = 7_305_002;

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

/// Tasks not yet closed, by stored warning colour (a `civicgrid.v1.WarningColour` number).
pub async fn open_tasks_by_colour(pool: &PgPool) -> Result<Vec<(i16, i64)>, StoreError> {
    Ok(sqlx::query_as("SELECT colour, count(*) FROM tasks WHERE state <> 'closed' GROUP BY colour")
        .fetch_all(pool)
        .await?)
}

/// The newest stored reference set and its sequence number.
pub async fn latest_reference_set(pool: &PgPool) -> Result<Option<(i64, ReferenceFiles)>, StoreError> {
    let row: Option<(i64, String, String, String, String)> = sqlx::query_as(
        "SELECT seq, catalog_toml, regions_toml, departments_toml, calendar_toml FROM reference_sets ORDER BY seq DESC LIMIT 1",
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(seq, catalog, regions, departments, calendar)| {
        (seq, ReferenceFiles { catalog, regions, departments, calendar })
    }))
}

/// Records a reference set; returns its sequence number.
pub async fn insert_reference_set<'c, E: sqlx::PgExecutor<'c>>(
    executor: E,
    files: &ReferenceFiles,
    versions: &Versions,
    by: &str,
) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO reference_sets (catalog_version, regions_version, departments_version, calendar_version, \
         catalog_toml, regions_toml, departments_toml, calendar_toml, loaded_by, loaded_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now()) RETURNING seq",
    )
    .bind(&versions.catalog)
    .bind(&versions.regions)
    .bind(&versions.departments)
    .bind(&versions.calendar)
    .bind(&files.catalog)
    .bind(&files.regions)
    .bind(&files.departments)
    .bind(&files.calendar)
    .bind(by)
    .fetch_one(executor)
    .await?)
}

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

/// Which tasks a caller may see.
#[derive(Debug, Clone, PartialEq)]
pub enum Visibility {
    /// Everything (administrators).
    All,
    /// One department's tasks.
    Department(String),
    /// Tasks located in a region (any level; empty = everywhere).
    Region(String),
    /// Nothing.
    None,
}

impl Visibility {
    /// What `caller` may see.
    pub fn of(caller: &Principal) -> Self {
        match caller.role {
            Role::Admin if caller.region_scope.is_empty() => Visibility::All,
            // A grid worker's authority is his grid or village: without one, nothing.
            Role::GridWorker if caller.region_scope.is_empty() => Visibility::None,
            Role::Admin | Role::Center | Role::CountyCenter | Role::GridWorker => {
                Visibility::Region(caller.region_scope.clone())
            }
            Role::Department if !caller.department_id.is_empty() => {
                Visibility::Department(caller.department_id.clone())
            }
            _ => Visibility::None,
        }
    }

    /// Whether a task is visible.
    pub fn sees(&self, row: &TaskRow) -> bool {
        match self {
            Visibility::All => true,
            Visibility::Department(d) => row.department_id.as_deref() == Some(d.as_str()),
            // A grid worker may be scoped to one grid (a 15-digit grid code).
            Visibility::Region(scope) if scope.len() == 15 => row.grid_code.as_deref() == Some(scope.as_str()),
            Visibility::Region(scope) => region::contains(scope, &row.region()),
            Visibility::None => false,
        }
    }
}

/// Filters of a task listing; `None` means no filter.
#[derive(Debug, Default, Clone)]
pub struct TaskFilter {
    /// Department.
    pub department_id: Option<String>,
    /// City code.
    pub city: Option<String>,
    /// County code.
    pub county: Option<String>,
    /// Township code.
    pub township: Option<String>,
    /// Village code.
    pub village: Option<String>,
    /// Grid code.
    pub grid_code: Option<String>,
    /// Stored state names.
    pub states: Option<Vec<String>>,
    /// Colour.
    pub colour: Option<i16>,
    /// Event.
    pub event_id: Option<Uuid>,
    /// Only ids below this one (page token).
    pub before_id: Option<Uuid>,
}

impl TaskFilter {
    /// Narrows the filter to a region code of any level, or a 15-digit grid code.
    pub fn set_region(&mut self, code: &str) {
        if code.len() == 15 {
            self.grid_code = Some(code.into());
            return;
        }
        match region::level(code) {
            Ok(region::Level::City) => self.city = Some(code.into()),
            Ok(region::Level::County) => self.county = Some(code.into()),
            Ok(region::Level::Township) => self.township = Some(code.into()),
            Ok(region::Level::Village) => self.village = Some(code.into()),
            Err(_) => {}
        }
    }
}

/// What a transaction writes about tasks, collected as it goes and written together: new task
/// rows, facts, outgoing messages (outbox) and change-feed rows, one multi-row statement per
/// table instead of a round trip per row. Task rows that change are updated by the caller.
#[derive(Default)]
pub struct Writes {
    tasks: Vec<TaskRow>,
    facts: FactColumns,
    outbox: OutboxBatch,
    changes: ChangeColumns,
}

impl Writes {
    /// Writes the new tasks, facts and outgoing messages collected so far, so later statements
    /// of the transaction see them. The change-feed rows wait for [`finish`](Self::finish).
    pub async fn write_rows(&mut self, tx: &mut PgConnection) -> Result<(), StoreError> {
        insert_tasks(tx, &self.tasks).await?;
        self.tasks.clear();
        self.facts.insert(tx).await?;
        self.outbox.insert(tx).await?;
        Ok(())
    }

    /// Writes everything, the change-feed rows last: make it the transaction's last statement
    /// before COMMIT. Returns whether any task changed (so watchers and the relay are woken).
    pub async fn finish(mut self, tx: &mut PgConnection) -> Result<bool, StoreError> {
        self.write_rows(tx).await?;
        Ok(self.changes.insert(tx).await? > 0)
    }

    /// Whether a fact `fact` with `reason` about `task_id` waits to be written.
    fn has_fact(&self, task_id: Uuid, fact: &str, reason: &str) -> bool {
        let f = &self.facts;
        (0..f.task_id.len()).any(|i| f.task_id[i] == task_id && f.fact[i] == fact && f.reason[i] == reason)
    }
}

/// `task_facts` rows waiting to be written, column by column.
#[derive(Default)]
struct FactColumns {
    task_id: Vec<Uuid>,
    fact: Vec<String>,
    recorded: Vec<Json<Vec<RecordedFact>>>,
    actor: Vec<Json<serde_json::Value>>,
    reason: Vec<String>,
    version: Vec<i64>,
    at: Vec<DateTime<Utc>>,
}

impl FactColumns {
    async fn insert(&mut self, tx: &mut PgConnection) -> Result<(), sqlx::Error> {
        if self.task_id.is_empty() {
            return Ok(());
        }
        // In the order recorded (`seq` orders a task's facts for assessment).
        sqlx::query(
            "INSERT INTO task_facts (task_id, fact, recorded, actor, reason, version, at) \
             SELECT task_id, fact, recorded, actor, reason, version, at FROM unnest($1::uuid[], $2::text[], \
               $3::jsonb[], $4::jsonb[], $5::text[], $6::int8[], $7::timestamptz[]) \
               WITH ORDINALITY AS f(task_id, fact, recorded, actor, reason, version, at, n) ORDER BY n",
        )
        .bind(&self.task_id)
        .bind(&self.fact)
        .bind(&self.recorded)
        .bind(&self.actor)
        .bind(&self.reason)
        .bind(&self.version)
        .bind(&self.at)
        .execute(tx)
        .await?;
        *self = FactColumns::default();
        Ok(())
    }
}

/// `task_changes` rows waiting to be appended, column by column.
#[derive(Default)]
struct ChangeColumns {
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
    /// Appends the rows in one statement that first takes the change-feed lock. The lock is
    /// held to COMMIT, so `seq` follows commit order; taking it in the transaction's last
    /// statement keeps writers serialised only for that statement and the commit. The lock is
    /// in a materialised CTE joined to the rows, so no row (and no `seq`) exists before it is
    /// held.
    async fn insert(&mut self, tx: &mut PgConnection) -> Result<usize, sqlx::Error> {
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

/// dispatch's storage.
pub struct Store {
    pool: PgPool,
    /// The reference set in force and its `reference_sets.seq`; replaced whole when a newer
    /// set is loaded, so a request sees one consistent set.
    refdata: std::sync::RwLock<(i64, Arc<ReferenceData>)>,
    signal: OutboxSignal,
    changes: Arc<Notify>,
    grace: f64,
}

/// The system actor that routes and reopens on dispatch's own authority.
pub fn system_actor() -> Actor {
    Actor {
        subject: "civicgrid-dispatch".into(),
        role: Role::Admin as i32,
        department_id: String::new(),
        region_scope: String::new(),
    }
}

impl Store {
    /// A store over `pool`. `grace` is the share of a limit an overdue task may run over before
    /// it escalates.
    pub fn new(
        pool: PgPool,
        refdata: Arc<ReferenceData>,
        reference_seq: i64,
        signal: OutboxSignal,
        grace: f64,
    ) -> Self {
        Store {
            pool,
            refdata: std::sync::RwLock::new((reference_seq, refdata)),
            signal,
            changes: Arc::new(Notify::new()),
            grace,
        }
    }

    /// The pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The reference data in force.
    pub fn refdata(&self) -> Arc<ReferenceData> {
        self.refdata.read().map(|r| r.1.clone()).unwrap_or_else(|e| e.into_inner().1.clone())
    }

    fn put_refdata(&self, seq: i64, data: Arc<ReferenceData>) {
        let mut current = self.refdata.write().unwrap_or_else(|e| e.into_inner());
        if seq > current.0 {
            *current = (seq, data);
        }
    }

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
        let fresh = sqlx::query("INSERT INTO requests (caller, request_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(&caller.subject)
            .bind(format!("reference:{request_id}"))
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from)?
            .rows_affected()
            == 1;
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
        let current = self.refdata.read().map(|r| r.0).unwrap_or(0);
        let newest: Option<i64> =
            sqlx::query_scalar("SELECT max(seq) FROM reference_sets").fetch_one(&self.pool).await?;
        if newest.unwrap_or(0) <= current {
            return Ok(false);
        }
        let Some((seq, files)) = latest_reference_set(&self.pool).await? else { return Ok(false) };
        let data = files.parse().map_err(|e| StoreError::Corrupt(format!("stored reference set {seq}: {e}")))?;
        self.put_refdata(seq, Arc::new(data));
        Ok(true)
    }

    /// Wakes change-feed watchers of this process (others poll).
    pub fn change_signal(&self) -> Arc<Notify> {
        self.changes.clone()
    }

    /// Call after committing a transaction that changed tasks.
    pub fn committed(&self) {
        self.signal.wake();
        self.changes.notify_waiters();
    }

    /// Creates the tasks of newly reported events, inside the consumer's transaction: each is
    /// routed to the lead department (and assisting ones) when a rule matches, else it gets one
    /// task waiting for triage. Events that already have tasks (or came earlier in `events`)
    /// are skipped. The rows go to `w`; returns how many events got tasks.
    pub async fn create_for_events(
        &self,
        tx: &mut PgConnection,
        w: &mut Writes,
        events: &[EventReported],
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        if events.is_empty() {
            return Ok(0);
        }
        let mut parsed = Vec::with_capacity(events.len());
        for reported in events {
            let Some(event) = &reported.event else {
                return Err(StoreError::Corrupt("EventReported without event".into()));
            };
            let event_id =
                Uuid::parse_str(&event.id).map_err(|_| StoreError::Corrupt(format!("event id `{}`", event.id)))?;
            parsed.push((event_id, reported, event));
        }
        let ids: Vec<Uuid> = parsed.iter().map(|p| p.0).collect();
        let existing: HashSet<Uuid> =
            sqlx::query_scalar("SELECT DISTINCT event_id FROM tasks WHERE event_id = ANY($1)")
                .bind(&ids)
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .collect();
        let refdata = self.refdata();
        let mut seen = HashSet::with_capacity(parsed.len());
        let mut created = 0;
        for (event_id, reported, event) in parsed {
            if existing.contains(&event_id) || !seen.insert(event_id) {
                continue;
            }
            self.plan_tasks(&refdata, w, event_id, reported, event, now);
            created += 1;
        }
        Ok(created)
    }

    /// The tasks of one new event, written to `w`.
    fn plan_tasks(
        &self,
        refdata: &ReferenceData,
        w: &mut Writes,
        event_id: Uuid,
        reported: &EventReported,
        event: &pb::Event,
        now: DateTime<Utc>,
    ) {
        let location = event.location.clone().unwrap_or_default();
        let region = location.region.clone().unwrap_or_default();
        let item = refdata.catalog.item(&event.item_code);
        let route = item.and_then(|i| routing::route(&i.route_rule(), &region, refdata.departments.directory()));
        let whistle = item.map(|i| i.whistle).unwrap_or(WhistleLevel::Routine);
        let whistle_name = match whistle {
            WhistleLevel::GridSelf => "grid_self",
            WhistleLevel::Routine => "routine",
            WhistleLevel::Key => "key",
        };
        let reporter = reported.actor.clone().unwrap_or_default();
        let grid_worker_id = (reporter.role == Role::GridWorker as i32).then(|| reporter.subject.clone());
        let actor = system_actor();

        let mut plan: Vec<(Option<String>, bool)> = Vec::new();
        let center_region = match &route {
            Some(r) => {
                plan.push((Some(r.lead.clone()), true));
                plan.extend(r.assisting.iter().map(|d| (Some(d.clone()), false)));
                r.center_region.clone()
            }
            None => {
                plan.push((None, true));
                if region.township.is_empty() { region.county.clone() } else { region.township.clone() }
            }
        };
        for (department, lead) in plan {
            let mut row = TaskRow {
                id: Uuid::now_v7(),
                event_id,
                tracking_number: event.tracking_number.clone(),
                item_code: event.item_code.clone(),
                city: region.city.clone(),
                county: region.county.clone(),
                township: region.township.clone(),
                village: region.village.clone(),
                grid_code: (!location.grid_code.is_empty()).then(|| location.grid_code.clone()),
                description: event.description.clone(),
                address: location.address.clone(),
                department_id: department.clone(),
                state: if department.is_some() { "assigned" } else { "awaiting_triage" }.into(),
                resume_to: None,
                lead,
                whistle: whistle_name.into(),
                center_region: center_region.clone(),
                rework_count: 0,
                returned_by: vec![],
                extension_requested: None,
                clocks: Json(Clocks::default()),
                colour: 0,
                escalated: false,
                escalated_to: None,
                next_change_at: None,
                result: None,
                result_evidence_urls: vec![],
                version: 1,
                created_at: now,
                updated_at: now,
            };
            let mut recorded = vec![RecordedFact::Reported { grid_worker_id: grid_worker_id.clone() }];
            let fact = match (&department, item) {
                (Some(d), Some(item)) => {
                    row.clocks.0.sign_for = Some(StageClock::new(now, item.sign_for));
                    let sign_due = row.clocks.0.sign_for.as_ref().and_then(|c| c.deadline(&refdata.calendar.calendar));
                    recorded.push(RecordedFact::Assigned { department_id: d.clone(), sign_due });
                    "task-assigned"
                }
                _ => "task-awaiting-triage",
            };
            self.refresh_warning(&mut row, now);
            self.record(w, &row, fact, &recorded, &actor, "", now);
            self.publish(w, &row, fact, &actor, "", now);
            w.tasks.push(row);
        }
    }

    /// Recomputes colour and next ticker visit of `row` at `now`.
    fn refresh_warning(&self, row: &mut TaskRow, now: DateTime<Utc>) {
        let w = warning_at(&row.clocks.0, row.escalated, &self.refdata().calendar.calendar, now, self.grace);
        row.colour = colour_to_proto(w.colour) as i16;
        row.next_change_at = if w.overdue_escalation_due { Some(now) } else { w.next_change_at };
    }

    /// Records a fact of `row` (audit and assessment) in `w`.
    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        w: &mut Writes,
        row: &TaskRow,
        fact: &str,
        recorded: &[RecordedFact],
        actor: &Actor,
        reason: &str,
        at: DateTime<Utc>,
    ) {
        let actor_json = serde_json::json!({
            "subject": actor.subject, "role": Role::try_from(actor.role).map(|r| r.as_str_name()).unwrap_or("ROLE_UNSPECIFIED"),
            "department_id": actor.department_id, "region_scope": actor.region_scope,
        });
        let f = &mut w.facts;
        f.task_id.push(row.id);
        f.fact.push(fact.to_string());
        f.recorded.push(Json(recorded.to_vec()));
        f.actor.push(Json(actor_json));
        f.reason.push(reason.to_string());
        f.version.push(row.version);
        f.at.push(at);
    }

    /// Queues the `TaskEvent` for `fact` (outbox) and the change-feed row in `w`.
    fn publish(&self, w: &mut Writes, row: &TaskRow, fact: &str, actor: &Actor, reason: &str, at: DateTime<Utc>) {
        self.publish_for(w, row, fact, actor, reason, at, row.department_id.as_deref())
    }

    /// [`publish`](Self::publish), with the department whose feed shows the change given.
    #[allow(clippy::too_many_arguments)]
    fn publish_for(
        &self,
        w: &mut Writes,
        row: &TaskRow,
        fact: &str,
        actor: &Actor,
        reason: &str,
        at: DateTime<Utc>,
        feed_department: Option<&str>,
    ) {
        let refdata = self.refdata();
        let region = row.region();
        let status = row.task_state().map(|s| s.status()).unwrap_or(pb::TaskStatus::Unspecified);
        let event = TaskEvent {
            task_id: row.id.to_string(),
            event_id: row.event_id.to_string(),
            fact: fact.to_string(),
            status: status as i32,
            department_id: row.department_id.clone().unwrap_or_default(),
            region: Some(region.clone()),
            version: row.version,
            occurred_at: Some(to_proto(at)),
            actor: Some(actor.clone()),
            lead: row.lead,
            colour: row.colour as i32,
            escalated: row.escalated,
            escalated_to: row.escalated_to.clone().unwrap_or_default(),
            reason: reason.to_string(),
            item_code: row.item_code.clone(),
            rework_count: row.rework_count.max(0) as u32,
            grid_worker_id: row
                .grid_code
                .as_deref()
                .and_then(|g| refdata.regions.grid(g).map(|g| g.grid_worker.clone()))
                .unwrap_or_default(),
            grid_code: row.grid_code.clone().unwrap_or_default(),
            tracking_number: row.tracking_number.clone(),
        };
        let envelope = Envelope::family(&TASK_FACTS, fact, &region, row.id, &event);
        w.outbox.add(SERVICE, &envelope, at);
        let c = &mut w.changes;
        c.task_id.push(row.id);
        c.fact.push(fact.to_string());
        c.department_id.push(feed_department.map(str::to_string));
        c.grid_code.push(row.grid_code.clone());
        c.city.push(row.city.clone());
        c.county.push(row.county.clone());
        c.township.push(row.township.clone());
        c.village.push(row.village.clone());
        c.at.push(at);
        c.task.push(row.to_proto(&refdata, at).encode_to_vec());
    }

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
        let fresh = sqlx::query("INSERT INTO requests (caller, request_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(&caller.subject)
            .bind(request_id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
        if !fresh {
            tx.rollback().await?;
            return self.previous_answer(&caller.subject, request_id).await.map_err(ActError::Store);
        }
        let mut row = lock_task(&mut tx, task_id).await?.ok_or(ActError::NotFound)?;
        if !Visibility::of(caller).sees(&row) {
            return Err(ActError::NotFound);
        }
        if let Action::Assign { department_id } = &action {
            let serves =
                self.refdata().departments.get(department_id).map(|d| region::contains(&d.region_code, &row.region()));
            match serves {
                None => {
                    return Err(ActError::Invalid {
                        field: "department_id",
                        problem: format!("no department `{department_id}`"),
                    });
                }
                Some(false) => {
                    return Err(ActError::Invalid {
                        field: "department_id",
                        problem: format!("`{department_id}` does not serve the task's region"),
                    });
                }
                Some(true) => {}
            }
        }
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
        sqlx::query("UPDATE requests SET response = $3 WHERE caller = $1 AND request_id = $2")
            .bind(&caller.subject)
            .bind(request_id)
            .bind(answer.encode_to_vec())
            .execute(&mut *tx)
            .await?;
        w.finish(&mut tx).await?;
        tx.commit().await?;
        self.committed();
        Ok(answer)
    }

    async fn previous_answer(&self, caller: &str, request_id: &str) -> Result<pb::Task, StoreError> {
        let stored: Option<Option<Vec<u8>>> =
            sqlx::query_scalar("SELECT response FROM requests WHERE caller = $1 AND request_id = $2")
                .bind(caller)
                .bind(request_id)
                .fetch_optional(&self.pool)
                .await?;
        let bytes = stored
            .flatten()
            .ok_or_else(|| StoreError::Corrupt(format!("no stored answer for request {request_id}")))?;
        pb::Task::decode(bytes.as_slice()).map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    /// Writes a decision: state, department, clocks, counters (the row, updated now), facts, bus
    /// event and change row (to `w`), and an escalation when one is due.
    #[allow(clippy::too_many_arguments)]
    async fn apply(
        &self,
        tx: &mut PgConnection,
        w: &mut Writes,
        row: &mut TaskRow,
        decision: &Decision,
        action: &Action,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<(), ActError> {
        let refdata = self.refdata();
        let cal = &refdata.calendar.calendar;
        let item = refdata.catalog.item(&row.item_code);
        let previous_department = row.department_id.clone();
        row.state = decision.state.as_str().to_string();
        row.resume_to = resume_to_of(decision.state).map(str::to_string);
        match &decision.department {
            DepartmentChange::Keep => {}
            DepartmentChange::Set(d) => row.department_id = Some(d.clone()),
            DepartmentChange::Clear => row.department_id = None,
        }
        let mut recorded = Vec::new();
        for change in &decision.clocks {
            match *change {
                ClockChange::Start(stage) => {
                    // An item missing from a newer catalog keeps running without limits.
                    if let Some(item) = item {
                        *row.clocks.0.slot(stage) = Some(StageClock::new(now, item.limit(stage)));
                    }
                    // A new stage is a new clock: an earlier stage's escalation does not colour it.
                    row.escalated = false;
                }
                ClockChange::Stop(stage) => {
                    if let Some(c) = row.clocks.0.slot(stage).as_mut() {
                        let _ = c.stop(now);
                    }
                }
                ClockChange::Pause(stage) => {
                    if let Some(c) = row.clocks.0.slot(stage).as_mut() {
                        let _ = c.pause(now);
                    }
                }
                ClockChange::Resume(stage) => {
                    if let Some(c) = row.clocks.0.slot(stage).as_mut() {
                        let _ = c.resume(now);
                    }
                }
                ClockChange::Extend(stage, amount) => {
                    if let Some(c) = row.clocks.0.slot(stage).as_mut() {
                        let _ = c.extend(amount);
                    }
                }
            }
        }
        row.rework_count = decision.rework_count as i32;
        row.extension_requested = decision.extension_requested.map(|n| n as i32);
        if let Some(d) = &decision.returned_by {
            row.returned_by.push(d.clone());
        }
        let mut reason = String::new();
        match action {
            Action::Resolve { result, evidence_urls } => {
                row.result = Some(result.clone());
                row.result_evidence_urls = evidence_urls.clone();
            }
            Action::Return { reason: r }
            | Action::Dismiss { reason: r }
            | Action::RefuseExtension { reason: r }
            | Action::Suspend { reason: r }
            | Action::RejectVerification { reason: r }
            | Action::Reopen { reason: r }
            | Action::RequestExtension { reason: r, .. } => reason = r.clone(),
            _ => {}
        }

        let deadline = |row: &TaskRow, stage: Stage| row.clocks.0.get(stage).and_then(|c| c.deadline(cal));
        let by = actor.subject.clone();
        match decision.fact {
            Fact::Assigned => {
                recorded.push(RecordedFact::Assigned {
                    department_id: row.department_id.clone().unwrap_or_default(),
                    sign_due: deadline(row, Stage::SignFor),
                });
            }
            Fact::Signed => {
                recorded.push(RecordedFact::Signed);
                recorded.push(RecordedFact::Due { due_at: deadline(row, Stage::Handle) });
            }
            Fact::Returned => recorded.push(RecordedFact::Returned),
            Fact::Extended | Fact::Resumed => recorded.push(RecordedFact::Due { due_at: deadline(row, Stage::Handle) }),
            Fact::Suspended => recorded.push(RecordedFact::Due { due_at: None }),
            Fact::Resolved => recorded.push(RecordedFact::Resolved),
            Fact::Verified => recorded.push(RecordedFact::Verified { by, due: deadline(row, Stage::Verify) }),
            Fact::Reworked => {
                recorded.push(RecordedFact::VerificationRejected { by, due: deadline(row, Stage::Verify) });
                recorded.push(RecordedFact::Due { due_at: deadline(row, Stage::Handle) });
            }
            Fact::Closed if matches!(action, Action::Dismiss { .. }) => recorded.push(RecordedFact::Dismissed),
            Fact::Closed => recorded.push(RecordedFact::Closed),
            Fact::Reopened => {
                recorded.push(RecordedFact::Reopened);
                if let Some(d) = &row.department_id {
                    recorded.push(RecordedFact::Assigned {
                        department_id: d.clone(),
                        sign_due: deadline(row, Stage::SignFor),
                    });
                }
            }
            Fact::ExtensionRequested | Fact::ExtensionRefused => {}
        }
        self.refresh_warning(row, now);
        row.version += 1;
        row.updated_at = now;
        let fact = decision.fact.as_str();
        self.record(w, row, fact, &recorded, actor, &reason, now);
        let feed_department = row.department_id.clone().or(previous_department);
        self.publish_for(w, row, fact, actor, &reason, now, feed_department.as_deref());
        self.escalate_if_due(tx, w, row, now).await?;
        update_task(tx, row).await?;
        Ok(())
    }

    /// Why `row` must escalate (督办) now, if it must: overdue past the grace, reworked three
    /// times or returned by three departments, and not escalated yet. A rework or return
    /// escalation happens once per task; the caller checks that against the recorded facts.
    fn escalation_reason(&self, row: &TaskRow, now: DateTime<Utc>) -> Option<warning::EscalationReason> {
        let w = warning_at(&row.clocks.0, row.escalated, &self.refdata().calendar.calendar, now, self.grace);
        let overdue = w.overdue_escalation_due.then_some(Colour::Orange);
        warning::should_escalate(overdue, row.escalated, row.rework_count.max(0) as u32, &row.returned_by)
    }

    /// Escalates `row` for `reason` in memory, with its fact and message in `w`; the caller
    /// writes the row.
    fn escalate(&self, w: &mut Writes, row: &mut TaskRow, reason: warning::EscalationReason, now: DateTime<Utc>) {
        row.escalated = true;
        row.escalated_to = warning::escalation_target(&row.center_region).or_else(|| Some(row.center_region.clone()));
        self.refresh_warning(row, now);
        row.version += 1;
        row.updated_at = now;
        let actor = system_actor();
        self.record(w, row, "task-escalated", &[], &actor, reason.as_str(), now);
        self.publish(w, row, "task-escalated", &actor, reason.as_str(), now);
    }

    /// Escalates `row` when [`escalation_reason`](Self::escalation_reason) says so and, for
    /// reworks and returns, it has not escalated for that reason before. Returns whether it did;
    /// the caller writes the row.
    async fn escalate_if_due(
        &self,
        tx: &mut PgConnection,
        w: &mut Writes,
        row: &mut TaskRow,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let Some(reason) = self.escalation_reason(row, now) else { return Ok(false) };
        // Overdue escalates once per stage clock; too many reworks or returns once per task.
        if reason != warning::EscalationReason::Overdue {
            let done = w.has_fact(row.id, "task-escalated", reason.as_str())
                || sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM task_facts WHERE task_id = $1 AND fact = 'task-escalated' AND reason = $2)",
                )
                .bind(row.id)
                .bind(reason.as_str())
                .fetch_one(&mut *tx)
                .await?;
            if done {
                return Ok(false);
            }
        }
        self.escalate(w, row, reason, now);
        Ok(true)
    }

    /// One ticker round, set-based: one statement claims every task whose next change is due
    /// by `now` (at most `batch`, the earliest first, rows other replicas or actions hold
    /// skipped); each gets its colour recomputed in memory, a change becoming `task-warning` and
    /// a due escalation `task-escalated`; then one statement updates the claimed rows (colour,
    /// escalation, next instant, version), one writes the facts, one the outgoing messages, and
    /// one appends the change-feed rows under the feed's lock. Returns how many tasks were
    /// visited.
    pub async fn tick(&self, now: DateTime<Utc>, batch: i64) -> Result<usize, StoreError> {
        let mut tx = self.pool.begin().await?;
        let sql = format!(
            "SELECT {TASK_COLUMNS} FROM tasks WHERE next_change_at <= $1 ORDER BY next_change_at LIMIT $2 FOR UPDATE SKIP LOCKED"
        );
        let mut rows: Vec<TaskRow> =
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(now).bind(batch).fetch_all(&mut *tx).await?;
        if rows.is_empty() {
            tx.commit().await?;
            return Ok(0);
        }
        let visited = rows.len();
        // Reworks and returns escalate once per task: which candidates of this round already did,
        // in one query for the round.
        let candidates: Vec<Uuid> = rows
            .iter()
            .filter(|r| {
                warning::should_escalate(None, r.escalated, r.rework_count.max(0) as u32, &r.returned_by).is_some()
            })
            .map(|r| r.id)
            .collect();
        let done: HashSet<(Uuid, String)> = if candidates.is_empty() {
            HashSet::new()
        } else {
            sqlx::query_as::<_, (Uuid, String)>(
                "SELECT DISTINCT task_id, reason FROM task_facts WHERE task_id = ANY($1) AND fact = 'task-escalated'",
            )
            .bind(&candidates)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .collect()
        };
        let mut w = Writes::default();
        let actor = system_actor();
        for row in &mut rows {
            let before = row.colour;
            self.refresh_warning(row, now);
            if row.colour != before {
                row.version += 1;
                row.updated_at = now;
                let colour =
                    WarningColour::try_from(row.colour as i32).map(|c| c.as_str_name()).unwrap_or_default().to_string();
                self.record(&mut w, row, "task-warning", &[], &actor, &colour, now);
                self.publish(&mut w, row, "task-warning", &actor, &colour, now);
            }
            let reason = self.escalation_reason(row, now).filter(|r| {
                *r == warning::EscalationReason::Overdue || !done.contains(&(row.id, r.as_str().to_string()))
            });
            if let Some(reason) = reason {
                self.escalate(&mut w, row, reason, now);
            }
        }
        // Unchanged rows get their next instant too (e.g. a later deadline after an extension).
        update_ticked(&mut tx, &rows).await?;
        let changed = w.finish(&mut tx).await?;
        tx.commit().await?;
        if changed {
            self.committed();
        }
        Ok(visited)
    }

    /// Records a rating of an event's outcome on its lead tasks; a dissatisfied one reopens
    /// closed (or resolved/verified) lead tasks for rework. Inside the consumer's transaction:
    /// the task rows, facts and messages are written before it returns, the change-feed rows
    /// stay in `w`.
    pub async fn apply_rating(
        &self,
        tx: &mut PgConnection,
        w: &mut Writes,
        rated: &pb::EventRated,
        now: DateTime<Utc>,
    ) -> Result<usize, ActError> {
        let Ok(event_id) = Uuid::parse_str(&rated.event_id) else { return Ok(0) };
        let sql = format!("SELECT {TASK_COLUMNS} FROM tasks WHERE event_id = $1 AND lead FOR UPDATE");
        let rows: Vec<TaskRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(event_id).fetch_all(&mut *tx).await?;
        let rating = match pb::Rating::try_from(rated.rating) {
            Ok(pb::Rating::Satisfied) => kpi::Rating::Satisfied,
            Ok(pb::Rating::BasicallySatisfied) => kpi::Rating::BasicallySatisfied,
            Ok(pb::Rating::Dissatisfied) => kpi::Rating::Dissatisfied,
            _ => return Err(ActError::Invalid { field: "rating", problem: "unknown rating".into() }),
        };
        let actor = rated.actor.clone().unwrap_or_else(system_actor);
        let n = rows.len();
        for mut row in rows {
            self.record(w, &row, "task-rated", &[RecordedFact::Rated { rating }], &actor, &rated.comment, now);
            if rating != kpi::Rating::Dissatisfied {
                continue;
            }
            let Some(view) = row.view() else { continue };
            let reason = format!("dissatisfied rating: {}", rated.comment);
            // Rated before closing: the fix was not accepted, so it goes back like a failed
            // verification; rated after closing: the case is reopened.
            let action = match view.state {
                TaskState::Closed | TaskState::Verified => Action::Reopen { reason },
                TaskState::Resolved => Action::RejectVerification { reason },
                _ => continue,
            };
            let system = ActorView { role: Role::Admin, department_id: String::new(), region_scope: String::new() };
            let decision = lifecycle::decide(&view, &action, &system)?;
            self.apply(tx, w, &mut row, &decision, &action, &system_actor(), now).await?;
        }
        w.write_rows(tx).await?;
        Ok(n)
    }

    /// One task, if `visibility` lets the caller see it.
    pub async fn get(&self, id: Uuid, visibility: &Visibility) -> Result<Option<TaskRow>, StoreError> {
        let sql = format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1");
        let row: Option<TaskRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&self.pool).await?;
        Ok(row.filter(|r| visibility.sees(r)))
    }

    /// Up to `limit` tasks matching `filter`, newest first.
    pub async fn list(&self, filter: &TaskFilter, limit: i64) -> Result<Vec<TaskRow>, StoreError> {
        let sql = format!(
            "SELECT {TASK_COLUMNS} FROM tasks WHERE \
               ($1::text IS NULL OR department_id = $1) AND ($2::text IS NULL OR city = $2) \
               AND ($3::text IS NULL OR county = $3) AND ($4::text IS NULL OR township = $4) \
               AND ($5::text IS NULL OR village = $5) AND ($6::text[] IS NULL OR state = ANY($6)) \
               AND ($7::int2 IS NULL OR colour = $7) AND ($8::uuid IS NULL OR event_id = $8) \
               AND ($9::uuid IS NULL OR id < $9) AND ($11::text IS NULL OR grid_code = $11) \
             ORDER BY id DESC LIMIT $10"
        );
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(&filter.department_id)
            .bind(&filter.city)
            .bind(&filter.county)
            .bind(&filter.township)
            .bind(&filter.village)
            .bind(&filter.states)
            .bind(filter.colour)
            .bind(filter.event_id)
            .bind(filter.before_id)
            .bind(limit)
            .bind(&filter.grid_code)
            .fetch_all(&self.pool)
            .await?)
    }

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

    /// Assessment figures for `scope` over `period`, folded from the recorded facts.
    pub async fn kpis(
        &self,
        department: Option<&str>,
        region_code: Option<&str>,
        period: Period,
    ) -> Result<kpi::TaskKpis, StoreError> {
        let tasks: Vec<TaskHead> = match (department, region_code) {
            (Some(d), _) => {
                sqlx::query_as(
                    "SELECT t.id, t.city, t.county, t.township, t.village, t.lead FROM tasks t WHERE EXISTS \
                     (SELECT 1 FROM task_facts f WHERE f.task_id = t.id AND f.recorded @> $1)",
                )
                .bind(Json(serde_json::json!([{ "Assigned": { "department_id": d } }])))
                .fetch_all(&self.pool)
                .await?
            }
            (None, code) => {
                let mut f = TaskFilter::default();
                if let Some(code) = code {
                    f.set_region(code);
                }
                sqlx::query_as(
                    "SELECT id, city, county, township, village, lead FROM tasks WHERE \
                       ($1::text IS NULL OR city = $1) AND ($2::text IS NULL OR county = $2) \
                       AND ($3::text IS NULL OR township = $3) AND ($4::text IS NULL OR village = $4)",
                )
                .bind(&f.city)
                .bind(&f.county)
                .bind(&f.township)
                .bind(&f.village)
                .fetch_all(&self.pool)
                .await?
            }
        };
        let records = self.records(tasks, period).await?;
        let scope = match (department, region_code) {
            (Some(d), _) => kpi::Scope::Department(d),
            (None, Some(code)) => kpi::Scope::Region(code),
            (None, None) => kpi::Scope::All,
        };
        Ok(kpi::task_kpis(&records, scope, period))
    }

    /// A grid worker's figures over `period`, folded from the recorded facts of the tasks they
    /// reported or verified.
    pub async fn grid_worker_kpis(&self, worker_id: &str, period: Period) -> Result<kpi::GridWorkerKpis, StoreError> {
        // Only the facts that can name a grid worker: a task's creation (Reported) and a
        // verification, passed or rejected.
        let tasks: Vec<TaskHead> = sqlx::query_as(
            "SELECT t.id, t.city, t.county, t.township, t.village, t.lead FROM tasks t WHERE t.id IN              (SELECT f.task_id FROM task_facts f WHERE f.at < $4                 AND f.fact IN ('task-assigned', 'task-awaiting-triage', 'task-verified', 'task-reworked')                 AND (f.recorded @> $1 OR f.recorded @> $2 OR f.recorded @> $3))",
        )
        .bind(Json(serde_json::json!([{ "Reported": { "grid_worker_id": worker_id } }])))
        .bind(Json(serde_json::json!([{ "Verified": { "by": worker_id } }])))
        .bind(Json(serde_json::json!([{ "VerificationRejected": { "by": worker_id } }])))
        .bind(period.to)
        .fetch_all(&self.pool)
        .await?;
        let records = self.records(tasks, period).await?;
        Ok(kpi::grid_worker_kpis(&records, worker_id, period))
    }

    /// The assessment records of `tasks`, folded from their facts dated before the period's end.
    async fn records(&self, tasks: Vec<TaskHead>, period: Period) -> Result<Vec<TaskRecord>, StoreError> {
        let ids: Vec<Uuid> = tasks.iter().map(|t| t.0).collect();
        let facts: Vec<(Uuid, Json<Vec<RecordedFact>>, DateTime<Utc>)> = sqlx::query_as(
            "SELECT task_id, recorded, at FROM task_facts WHERE task_id = ANY($1) AND at < $2 ORDER BY task_id, seq",
        )
        .bind(&ids)
        .bind(period.to)
        .fetch_all(&self.pool)
        .await?;
        let mut records: std::collections::HashMap<Uuid, TaskRecord> = tasks
            .into_iter()
            .map(|(id, city, county, township, village, lead)| {
                (id, TaskRecord::new(id.to_string(), pb::RegionPath { city, county, township, village }, lead))
            })
            .collect();
        for (task, recorded, at) in facts {
            if let Some(r) = records.get_mut(&task) {
                for f in &recorded.0 {
                    r.apply(at, f);
                }
            }
        }
        Ok(records.into_values().collect())
    }
}

/// What assessment needs of a task row: id, region path, lead flag.
type TaskHead = (Uuid, String, String, String, String, bool);

async fn lock_task(tx: &mut PgConnection, id: Uuid) -> Result<Option<TaskRow>, sqlx::Error> {
    let sql = format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1 FOR UPDATE");
    sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(tx).await
}

/// Inserts new task rows in one statement. The two list columns travel as JSON arrays, since
/// PostgreSQL has no arrays of arrays of different lengths.
async fn insert_tasks(tx: &mut PgConnection, rows: &[TaskRow]) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    fn col<'r, T>(rows: &'r [TaskRow], f: impl Fn(&'r TaskRow) -> T) -> Vec<T> {
        rows.iter().map(f).collect()
    }
    sqlx::query(
        "INSERT INTO tasks (id, event_id, tracking_number, item_code, city, county, township, village, grid_code, \
         description, address, department_id, state, resume_to, lead, whistle, center_region, rework_count, returned_by, \
         extension_requested, clocks, colour, escalated, escalated_to, next_change_at, result, result_evidence_urls, \
         version, created_at, updated_at) \
         SELECT id, event_id, tracking_number, item_code, city, county, township, village, grid_code, description, \
           address, department_id, state, resume_to, lead, whistle, center_region, rework_count, \
           ARRAY(SELECT jsonb_array_elements_text(returned_by)), extension_requested, clocks, colour, escalated, \
           escalated_to, next_change_at, result, ARRAY(SELECT jsonb_array_elements_text(result_evidence_urls)), \
           version, created_at, updated_at \
         FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], \
           $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::bool[], $16::text[], \
           $17::text[], $18::int4[], $19::jsonb[], $20::int4[], $21::jsonb[], $22::int2[], $23::bool[], $24::text[], \
           $25::timestamptz[], $26::text[], $27::jsonb[], $28::int8[], $29::timestamptz[], $30::timestamptz[]) \
           AS t(id, event_id, tracking_number, item_code, city, county, township, village, grid_code, description, \
             address, department_id, state, resume_to, lead, whistle, center_region, rework_count, returned_by, \
             extension_requested, clocks, colour, escalated, escalated_to, next_change_at, result, \
             result_evidence_urls, version, created_at, updated_at)",
    )
    .bind(col(rows, |r| r.id))
    .bind(col(rows, |r| r.event_id))
    .bind(col(rows, |r| r.tracking_number.as_str()))
    .bind(col(rows, |r| r.item_code.as_str()))
    .bind(col(rows, |r| r.city.as_str()))
    .bind(col(rows, |r| r.county.as_str()))
    .bind(col(rows, |r| r.township.as_str()))
    .bind(col(rows, |r| r.village.as_str()))
    .bind(col(rows, |r| r.grid_code.as_deref()))
    .bind(col(rows, |r| r.description.as_str()))
    .bind(col(rows, |r| r.address.as_str()))
    .bind(col(rows, |r| r.department_id.as_deref()))
    .bind(col(rows, |r| r.state.as_str()))
    .bind(col(rows, |r| r.resume_to.as_deref()))
    .bind(col(rows, |r| r.lead))
    .bind(col(rows, |r| r.whistle.as_str()))
    .bind(col(rows, |r| r.center_region.as_str()))
    .bind(col(rows, |r| r.rework_count))
    .bind(col(rows, |r| Json(&r.returned_by)))
    .bind(col(rows, |r| r.extension_requested))
    .bind(col(rows, |r| Json(&r.clocks.0)))
    .bind(col(rows, |r| r.colour))
    .bind(col(rows, |r| r.escalated))
    .bind(col(rows, |r| r.escalated_to.as_deref()))
    .bind(col(rows, |r| r.next_change_at))
    .bind(col(rows, |r| r.result.as_deref()))
    .bind(col(rows, |r| Json(&r.result_evidence_urls)))
    .bind(col(rows, |r| r.version))
    .bind(col(rows, |r| r.created_at))
    .bind(col(rows, |r| r.updated_at))
    .execute(tx)
    .await?;
    Ok(())
}

/// Writes what a ticker round changes on its claimed rows, in one statement.
async fn update_ticked(tx: &mut PgConnection, rows: &[TaskRow]) -> Result<(), sqlx::Error> {
    fn col<T>(rows: &[TaskRow], f: impl Fn(&TaskRow) -> T) -> Vec<T> {
        rows.iter().map(f).collect()
    }
    sqlx::query(
        "UPDATE tasks t SET colour = u.colour, escalated = u.escalated, escalated_to = u.escalated_to, \
           next_change_at = u.next_change_at, version = u.version, updated_at = u.updated_at \
         FROM unnest($1::uuid[], $2::int2[], $3::bool[], $4::text[], $5::timestamptz[], $6::int8[], $7::timestamptz[]) \
           AS u(id, colour, escalated, escalated_to, next_change_at, version, updated_at) \
         WHERE t.id = u.id",
    )
    .bind(col(rows, |r| r.id))
    .bind(col(rows, |r| r.colour))
    .bind(col(rows, |r| r.escalated))
    .bind(col(rows, |r| r.escalated_to.clone()))
    .bind(col(rows, |r| r.next_change_at))
    .bind(col(rows, |r| r.version))
    .bind(col(rows, |r| r.updated_at))
    .execute(tx)
    .await?;
    Ok(())
}

async fn update_task(tx: &mut PgConnection, row: &TaskRow) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE tasks SET department_id = $2, state = $3, resume_to = $4, rework_count = $5, returned_by = $6, \
         extension_requested = $7, clocks = $8, colour = $9, escalated = $10, escalated_to = $11, next_change_at = $12, \
         result = $13, result_evidence_urls = $14, version = $15, updated_at = $16 WHERE id = $1",
    )
    .bind(row.id)
    .bind(&row.department_id)
    .bind(&row.state)
    .bind(&row.resume_to)
    .bind(row.rework_count)
    .bind(&row.returned_by)
    .bind(row.extension_requested)
    .bind(&row.clocks)
    .bind(row.colour)
    .bind(row.escalated)
    .bind(&row.escalated_to)
    .bind(row.next_change_at)
    .bind(&row.result)
    .bind(&row.result_evidence_urls)
    .bind(row.version)
    .bind(row.updated_at)
    .execute(tx)
    .await?;
    Ok(())
}
