//! notify's storage: [`Store`], the handle the bus handlers, the worker and the gRPC handlers go
//! through, and all of notify's SQL, one module per aggregate:
//!
//! - `store/reporters.rs`: the reporters of intake's events (`event_reporters`);
//! - `store/pending.rs`: task facts waiting for their event's reporters (`pending_reporter_facts`);
//! - `store/notifications.rs`: notifications, which are the inbox ([`Store::inbox_page`] …);
//! - `store/deliveries.rs`: deliveries and their attempts ([`Store::deliveries`]);
//! - `store/digests.rs`: digest deliveries and their members;
//! - `store/endpoints.rs`: webhook endpoints and their circuits ([`Store::register_webhook`] …);
//! - `store/preferences.rs`: recipients' preferences ([`Store::set_preferences`] …);
//! - `store/outbox.rs`: notify's facts as outbox rows.
//!
//! What spans aggregates is a use case in [`crate::use_cases`], written as methods of [`Store`]:
//! [`Store::record_facts`], the delivery queue ([`Store::claim_due`], [`Store::record_outcomes`]),
//! [`Store::form_digests`], [`Store::acknowledge`], [`Store::reescalate_due`] and
//! [`Store::delete_webhook`].

pub mod deliveries;
pub(crate) mod digests;
pub(crate) mod endpoints;
pub mod notifications;
pub(crate) mod outbox;
pub(crate) mod pending;
pub(crate) mod preferences;
pub(crate) mod reporters;

use chrono::{Duration, FixedOffset};
use civicgrid_kit::{bus::OutboxSignal, seal::Cipher};
use civicgrid_proto::v1::{Channel, DeliveryStatus, RegionPath};
use sqlx::{PgConnection, PgPool, Row, postgres::PgRow};

pub use civicgrid_kit::storage::StoreError;

pub use crate::domain::preferences::{NewPrefs, Prefs, mask_phone};
pub use deliveries::{Claimed, Outcome};
pub use endpoints::{Endpoint, open_circuits};

use crate::{handoff::Handoff, rules::Rules, use_cases::record_facts::Recorded};

/// The storage of notify.
pub struct Store {
    pub(crate) pool: PgPool,
    pub(crate) rules: Rules,
    pub(crate) cipher: Cipher,
    pub(crate) offset: FixedOffset,
    pub(crate) default_locale: String,
    pub(crate) signal: OutboxSignal,
    /// Wakes the delivery worker (one permit: a wake while it works makes one more round).
    work: std::sync::Arc<tokio::sync::Notify>,
    /// Wakes the inbox watchers (every one registered, no permit kept). Apart from `work`, so
    /// that a watcher never takes the worker's wake, nor the watchers' wake-ups a round.
    inbox: std::sync::Arc<tokio::sync::Notify>,
    pub(crate) max_fact_age: Option<Duration>,
    /// The running worker's handoff (`crate::handoff`): deliveries due at once are written
    /// claimed for it and handed over at commit. `None` while no worker runs.
    handoff: std::sync::Mutex<Option<std::sync::Arc<Handoff>>>,
}

impl Store {
    /// The store `settings` describe over `pool`: the rules in force, the contact key, the
    /// offset, the default locale and the age limit of facts.
    pub fn from_settings(
        settings: &crate::Settings,
        pool: PgPool,
        signal: OutboxSignal,
    ) -> Result<Self, civicgrid_kit::runtime::StartError> {
        let n = &settings.notify;
        let max_age = (n.max_fact_age_hours > 0).then(|| Duration::hours(n.max_fact_age_hours));
        Ok(Store::new(
            pool,
            crate::load_rules(settings)?,
            settings.cipher()?,
            settings.utc_offset()?,
            n.default_locale.as_str().to_string(),
            signal,
        )
        .with_max_fact_age(max_age))
    }

    /// A store over `pool` with `rules`, the contact key `cipher`, the platform's `offset` and
    /// `default_locale`; `signal` wakes the outbox relay.
    pub fn new(
        pool: PgPool,
        rules: Rules,
        cipher: Cipher,
        offset: FixedOffset,
        default_locale: String,
        signal: OutboxSignal,
    ) -> Self {
        Store {
            pool,
            rules,
            cipher,
            offset,
            default_locale,
            signal,
            work: Default::default(),
            inbox: Default::default(),
            max_fact_age: None,
            handoff: Default::default(),
        }
    }

    /// Facts older than `age` (by their own time) still teach notify an event's reporters but
    /// notify nobody: a first start, or a replay, does not announce the past.
    pub fn with_max_fact_age(mut self, age: Option<Duration>) -> Self {
        self.max_fact_age = age;
        self
    }

    /// The pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The rules in force.
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// The platform's offset from UTC.
    pub fn offset(&self) -> FixedOffset {
        self.offset
    }

    /// The delivery worker's wake-up: after a commit that wrote deliveries due at once.
    pub fn work_signal(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.work.clone()
    }

    /// The inbox watchers' wake-up: after a commit that wrote notifications.
    pub fn inbox_signal(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.inbox.clone()
    }

    /// Makes `handoff` the worker's: deliveries due at once are handed to it from now on.
    pub fn open_handoff(&self, handoff: std::sync::Arc<Handoff>) {
        *self.handoff.lock().unwrap_or_else(|p| p.into_inner()) = Some(handoff);
    }

    /// Stops handing deliveries over: from now on they are written unclaimed, for claims.
    pub fn close_handoff(&self) {
        self.handoff.lock().unwrap_or_else(|p| p.into_inner()).take();
    }

    /// The running worker's handoff, if any.
    pub(crate) fn handoff(&self) -> Option<std::sync::Arc<Handoff>> {
        self.handoff.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// To call after a transaction that wrote `recorded` did not commit (rolled back, or its
    /// commit failed): nothing is handed over. Should a failed commit have committed after all,
    /// its deliveries would be held for the worker until their lease ran out; they are released
    /// in the background instead (a release of rows that do not exist changes nothing).
    pub fn discarded(&self, recorded: Recorded) {
        if let Some((claim, _)) = recorded.held.claim() {
            let ids: Vec<uuid::Uuid> = recorded.held.ids().collect();
            self.release_in_background(claim, ids);
        }
    }

    /// Releases `ids`, held by `claim`, in a task of their own.
    fn release_in_background(&self, claim: uuid::Uuid, ids: Vec<uuid::Uuid>) {
        let pool = self.pool.clone();
        tokio::spawn(async move {
            if let Err(e) = deliveries::release_ids(&pool, claim, &ids).await {
                tracing::warn!(error = %e, "releasing held deliveries failed; their lease will run out");
            }
        });
    }

    /// To call after a transaction that wrote notifications or outbox rows committed.
    pub fn committed(&self, recorded: Recorded) {
        self.signal.wake();
        self.notifications_committed(recorded);
    }

    /// To call after a transaction that wrote notifications and deliveries but no outbox rows
    /// committed (the consumers': facts become notices, never facts): wakes the inbox watchers
    /// when there are notices, and the delivery worker only when deliveries are due at once —
    /// not the relay, which would find nothing. (A commit that wrote only inbox entries used
    /// to wake the worker too, and each wake made two rounds: at 25 reports/s notify made four
    /// claims per report, most of them finding nothing, of its eight transactions.)
    ///
    /// Deliveries written claimed for the worker are handed to it now; any whose worker has
    /// stopped meanwhile are released in the background, for the next claim.
    pub fn notifications_committed(&self, recorded: Recorded) {
        if recorded.notices > 0 {
            self.inbox.notify_waiters();
        }
        if recorded.due_now > 0 {
            self.work.notify_one();
        }
        for (claim, ids) in recorded.held.hand_over() {
            self.release_in_background(claim, ids);
        }
    }
}

/// Takes the transaction-scoped advisory lock `key` (`reporters::REPORTERS_LOCK`); it is
/// released by the commit or rollback.
async fn advisory_lock(tx: &mut PgConnection, key: i64) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(key).execute(&mut *tx).await?;
    Ok(())
}

/// The region columns (`city`, `county`, `township`, `village`) of a row.
fn region_of(row: &PgRow) -> RegionPath {
    RegionPath {
        city: row.get("city"),
        county: row.get("county"),
        township: row.get("township"),
        village: row.get("village"),
    }
}

/// A stored channel number.
fn channel_of(v: i16) -> Channel {
    Channel::try_from(i32::from(v)).unwrap_or(Channel::Unspecified)
}

/// A stored delivery status number.
fn status_of(v: i16) -> DeliveryStatus {
    DeliveryStatus::try_from(i32::from(v)).unwrap_or(DeliveryStatus::Unspecified)
}
