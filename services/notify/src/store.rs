//! All of notify's SQL.
//!
//! - [`Store::record_fact`]: a fact becomes notifications (one per rule and recipient, once
//!   however often the fact arrives), their inbox entries and their deliveries;
//! - the delivery queue: [`Store::claim_due`], [`Store::record_outcomes`],
//!   [`Store::form_digests`];
//! - re-escalation of unacknowledged notices: [`Store::reescalate_due`];
//! - what the gRPC API reads and changes.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, FixedOffset, Utc};
use civicgrid_kit::{
    bus::{Envelope, OutboxBatch, OutboxSignal, outbox::OutboxRow},
    seal::Cipher,
    time::to_proto,
};
use civicgrid_proto::v1::{self as pb, Channel, DeliveryStatus, NotifyEvent, RegionPath};
use serde_json::Value;
use sqlx::{PgConnection, PgPool, Row, postgres::PgRow, types::Json};
use uuid::Uuid;

use civicgrid_contracts::notify::NOTIFY_FACTS;
pub use civicgrid_kit::storage::StoreError;

use crate::{
    SERVICE,
    domain::{
        breaker::Circuit,
        facts::{self, Fact, Unacknowledged},
        recipients::Recipient,
        schedule::{Plan, Priority, QuietHours, Timing, plan},
    },
    rules::Rules,
};

/// Orders inbox cursors: every transaction that creates notifications takes it just before
/// numbering them, so cursors become visible in increasing order and a watcher that has seen
/// cursor n never later finds a committed n-1 it skipped.
const INBOX_LOCK: i64 = 7_305_003;

/// Orders the two sides of a closure that overtakes its report: the transaction that records
/// an event's reporters and takes the facts waiting for them, and the one that finds no
/// reporters and parks its fact. Without it each could miss the other's uncommitted row and the
/// parked fact would wait forever. Taken before `INBOX_LOCK` on both sides.
const REPORTERS_LOCK: i64 = 7_305_004;

/// A recipient's preferences as stored (or the defaults).
#[derive(Debug, Clone, PartialEq)]
pub struct Prefs {
    /// The recipient.
    pub recipient: String,
    /// Channels (the inbox is always used).
    pub channels: Vec<Channel>,
    /// "zh-CN" or "en".
    pub locale: String,
    /// Quiet hours as "HH:MM" pairs.
    pub quiet: Option<(String, String)>,
    /// Digest interval in minutes; 0 for none.
    pub digest_minutes: i32,
    /// The masked phone, if one is stored.
    pub phone_masked: Option<String>,
    /// True when nothing was ever stored.
    pub defaults: bool,
    /// When they were last stored.
    pub updated_at: Option<DateTime<Utc>>,
}

impl Prefs {
    /// The defaults for `recipient`: organisations get the inbox and their webhooks, people
    /// the inbox.
    pub fn defaults(recipient: &str, locale: &str) -> Prefs {
        let organisation = Recipient::parse(recipient).map(|r| r.takes_webhooks()).unwrap_or(false);
        Prefs {
            recipient: recipient.to_string(),
            channels: if organisation { vec![Channel::Inbox, Channel::Webhook] } else { vec![Channel::Inbox] },
            locale: locale.to_string(),
            quiet: None,
            digest_minutes: 0,
            phone_masked: None,
            defaults: true,
            updated_at: None,
        }
    }

    /// The timing part.
    pub fn timing(&self) -> Timing {
        Timing {
            quiet: self.quiet.as_ref().and_then(|(s, e)| QuietHours::parse(s, e)),
            digest_minutes: self.digest_minutes,
        }
    }
}

/// New preferences to store.
#[derive(Debug, Clone)]
pub struct NewPrefs {
    /// Channels.
    pub channels: Vec<Channel>,
    /// Locale.
    pub locale: String,
    /// Quiet hours.
    pub quiet: Option<(String, String)>,
    /// Digest interval.
    pub digest_minutes: i32,
    /// `None` keeps the stored phone, `Some("")` removes it, otherwise the new number.
    pub phone: Option<String>,
}

/// A claimed delivery, with what is needed to send it.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// The delivery id.
    pub id: Uuid,
    /// The recipient.
    pub recipient: String,
    /// The channel.
    pub channel: Channel,
    /// The webhook endpoint.
    pub endpoint: Option<Endpoint>,
    /// Attempts made before this one.
    pub attempts: i32,
    /// The notifications it carries: one, or a digest's members.
    pub notifications: Vec<pb::Notification>,
    /// True for a digest delivery.
    pub digest: bool,
    /// The fact (for the published event).
    pub fact: String,
    /// The region (for the published event's subject).
    pub region: RegionPath,
    /// For SMS: the recipient's phone, unsealed.
    pub phone: Option<String>,
    /// Why it cannot be sent at all (a secret or phone that does not unseal): given up at once
    /// instead of holding up the queue.
    pub problem: Option<String>,
}

/// A webhook endpoint as the worker needs it.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Its id.
    pub id: Uuid,
    /// Its URL.
    pub url: String,
    /// Its secret, unsealed.
    pub secret: String,
    /// Its circuit.
    pub circuit: Circuit,
    /// Still registered.
    pub active: bool,
}

/// What happened to a claimed delivery.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The delivery.
    pub id: Uuid,
    /// Its new status.
    pub status: DeliveryStatus,
    /// The attempt count after this attempt.
    pub attempts: i32,
    /// The next attempt, when pending.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The attempt to record; `None` when nothing was sent (held by an open circuit).
    pub attempt: Option<pb::DeliveryAttempt>,
    /// The last error; empty on success.
    pub error: String,
    /// The notify fact to publish, for delivered and failed deliveries.
    pub publish: Option<NotifyEvent>,
    /// The region of the published fact.
    pub region: RegionPath,
}

/// Webhook endpoints whose circuit is open now.
pub async fn open_circuits(pool: &PgPool) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM webhook_endpoints WHERE active AND open_until > now()")
        .fetch_one(pool)
        .await?)
}

/// The storage of notify.
pub struct Store {
    pool: PgPool,
    rules: Rules,
    cipher: Cipher,
    offset: FixedOffset,
    default_locale: String,
    signal: OutboxSignal,
    work: std::sync::Arc<tokio::sync::Notify>,
    max_fact_age: Option<Duration>,
}

fn region_of(row: &PgRow) -> RegionPath {
    RegionPath {
        city: row.get("city"),
        county: row.get("county"),
        township: row.get("township"),
        village: row.get("village"),
    }
}

fn channel_of(v: i16) -> Channel {
    Channel::try_from(i32::from(v)).unwrap_or(Channel::Unspecified)
}

fn status_of(v: i16) -> DeliveryStatus {
    DeliveryStatus::try_from(i32::from(v)).unwrap_or(DeliveryStatus::Unspecified)
}

/// `138****5678` for an 11-digit number; other lengths keep only the last four digits.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() == 11 {
        format!("{}****{}", chars[..3].iter().collect::<String>(), chars[7..].iter().collect::<String>())
    } else {
        let tail: String = chars.iter().rev().take(4).rev().collect();
        format!("****{tail}")
    }
}

const NOTIFICATION_COLUMNS: &str = "id, recipient, rule, template, priority, locale, title, body, source_type, \
     source_event_id, fact, subject_id, city, county, township, village, data, created_at, read_at, ack_required, \
     ack_due_at, acked_at, cursor";

fn notification_of(row: &PgRow) -> pb::Notification {
    let data: Json<BTreeMap<String, String>> = row.get("data");
    let ts = |name: &str| row.get::<Option<DateTime<Utc>>, _>(name).map(to_proto);
    pb::Notification {
        id: row.get::<Uuid, _>("id").to_string(),
        recipient: row.get("recipient"),
        rule: row.get("rule"),
        template: row.get("template"),
        priority: match Priority::from_i16(row.get("priority")) {
            Priority::Low => pb::Priority::Low,
            Priority::Normal => pb::Priority::Normal,
            Priority::High => pb::Priority::High,
            Priority::Critical => pb::Priority::Critical,
        } as i32,
        locale: row.get("locale"),
        title: row.get("title"),
        body: row.get("body"),
        source_type: row.get("source_type"),
        source_event_id: row.get("source_event_id"),
        fact: row.get("fact"),
        subject_id: row.get("subject_id"),
        region: Some(region_of(row)),
        created_at: ts("created_at"),
        read_at: ts("read_at"),
        ack_required: row.get("ack_required"),
        ack_due_at: ts("ack_due_at"),
        acked_at: ts("acked_at"),
        cursor: row.get("cursor"),
        data: data.0.into_iter().collect(),
    }
}

/// A notification being written, before its row exists.
struct Draft {
    id: Uuid,
    dedup_key: String,
    recipient: String,
    rule: String,
    template: String,
    priority: Priority,
    locale: String,
    title: String,
    body: String,
    ack_due_at: Option<DateTime<Utc>>,
}

/// A delivery being written.
struct NewDelivery {
    id: Uuid,
    notification_id: Uuid,
    recipient: String,
    channel: Channel,
    endpoint_id: Option<Uuid>,
    status: DeliveryStatus,
    next_attempt_at: Option<DateTime<Utc>>,
    delivered_at: Option<DateTime<Utc>>,
}

impl Store {
    /// A store over `pool`.
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

    pub fn new(
        pool: PgPool,
        rules: Rules,
        cipher: Cipher,
        offset: FixedOffset,
        default_locale: String,
        signal: OutboxSignal,
    ) -> Self {
        Store { pool, rules, cipher, offset, default_locale, signal, work: Default::default(), max_fact_age: None }
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

    /// Woken when deliveries or inbox entries were committed.
    pub fn work_signal(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.work.clone()
    }

    /// To call after a transaction that wrote notifications or outbox rows committed.
    pub fn committed(&self) {
        self.signal.wake();
        self.work.notify_waiters();
        self.work.notify_one();
    }

    /// Turns `fact` into notifications inside `tx` (see [`record_facts`](Self::record_facts)).
    pub async fn record_fact(
        &self,
        tx: &mut PgConnection,
        fact: &Fact,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        self.record_facts(tx, std::slice::from_ref(fact), now).await
    }

    /// Turns `facts` (in delivery order) into notifications inside `tx`: remembers intake
    /// events' reporters, finds the rules and recipients, and writes each new notification with
    /// its inbox entry and its deliveries. A fact seen before (same ce-id) writes nothing. The
    /// whole batch costs the same few statements as one fact: one per table. Returns the
    /// notifications written.
    pub async fn record_facts(
        &self,
        tx: &mut PgConnection,
        facts: &[Fact],
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let replayed;
        let facts = match self.remember_reporters(&mut *tx, facts).await? {
            pending if pending.is_empty() => facts,
            pending => {
                replayed = facts.iter().cloned().chain(pending).collect::<Vec<_>>();
                replayed.as_slice()
            }
        };
        let matched: Vec<(usize, Vec<&crate::rules::Rule>)> = facts
            .iter()
            .enumerate()
            .filter(|(_, f)| match (self.max_fact_age, f.at) {
                (Some(age), Some(at)) => now - at <= age,
                _ => true,
            })
            .map(|(i, f)| (i, self.rules.matching(f).collect::<Vec<_>>()))
            .filter(|(_, rules)| !rules.is_empty())
            .collect();
        if matched.is_empty() {
            return Ok(0);
        }
        let mut events_needing_reporters: Vec<String> = matched
            .iter()
            .filter(|(i, rules)| {
                let f = &facts[*i];
                f.kind == facts::FactKind::Task
                    && !f.event_id.is_empty()
                    && rules.iter().any(|r| r.to.iter().any(|s| s.needs_reporters()))
            })
            .map(|(i, _)| facts[*i].event_id.clone())
            .collect();
        events_needing_reporters.sort();
        events_needing_reporters.dedup();
        let mut reporters: HashMap<String, Vec<String>> = HashMap::new();
        if !events_needing_reporters.is_empty() {
            sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(REPORTERS_LOCK).execute(&mut *tx).await?;
            for row in sqlx::query(
                "SELECT event_id, reporter_id FROM event_reporters WHERE event_id = ANY($1) ORDER BY event_id, reporter_id",
            )
            .bind(&events_needing_reporters)
            .fetch_all(&mut *tx)
            .await?
            {
                reporters.entry(row.get("event_id")).or_default().push(row.get("reporter_id"));
            }
        }
        // A task fact for reporters nobody knows yet waits for intake's fact about its event.
        let waiting: Vec<&Fact> = matched
            .iter()
            .map(|(i, _)| &facts[*i])
            .filter(|f| events_needing_reporters.contains(&f.event_id) && !reporters.contains_key(&f.event_id))
            .collect();
        if !waiting.is_empty() {
            sqlx::query(
                "INSERT INTO pending_reporter_facts (event_id, source_id, fact, created_at) \
                 SELECT e, s, f, $4 FROM unnest($1::text[], $2::text[], $3::jsonb[]) AS p(e, s, f) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(waiting.iter().map(|f| f.event_id.clone()).collect::<Vec<_>>())
            .bind(waiting.iter().map(|f| f.source_event_id.clone()).collect::<Vec<_>>())
            .bind(waiting.iter().map(|f| f.to_json()).collect::<Vec<_>>())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        // (fact, rule, recipient), each pair once per fact.
        let mut targets: Vec<(usize, &crate::rules::Rule, String)> = Vec::new();
        for (i, rules) in &matched {
            let fact = &facts[*i];
            let known = reporters.get(&fact.event_id).map(Vec::as_slice).unwrap_or(&[]);
            for rule in rules {
                for selector in &rule.to {
                    for r in selector.resolve(fact, known) {
                        let r = r.to_string();
                        if !targets.iter().any(|(j, rr, t)| j == i && rr.name == rule.name && *t == r) {
                            targets.push((*i, rule, r));
                        }
                    }
                }
            }
        }
        if targets.is_empty() {
            return Ok(0);
        }
        let mut recipients: Vec<String> = targets.iter().map(|(_, _, r)| r.clone()).collect();
        recipients.sort();
        recipients.dedup();
        let prefs = self.prefs_of(&mut *tx, &recipients).await?;
        let endpoints = self.endpoints_of(&mut *tx, &recipients).await?;

        let drafts: Vec<(usize, Draft)> = targets
            .iter()
            .map(|(i, rule, recipient)| {
                let fact = &facts[*i];
                let p = &prefs[recipient];
                let (title, body) = self.rules.render(&rule.template, &p.locale, &fact.data);
                let draft = Draft {
                    id: Uuid::now_v7(),
                    dedup_key: format!("{}/{}/{}", fact.source_event_id, rule.name, recipient),
                    recipient: recipient.clone(),
                    rule: rule.name.clone(),
                    template: rule.template.clone(),
                    priority: rule.priority,
                    locale: p.locale.clone(),
                    title,
                    body,
                    ack_due_at: rule.ack_within_minutes.map(|m| now + Duration::minutes(m)),
                };
                (*i, draft)
            })
            .collect();
        let fact_of = |i: usize| &facts[i];
        // Numbered last, under the inbox lock, in batch order, so cursors commit in order.
        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(INBOX_LOCK).execute(&mut *tx).await?;
        let inserted: Vec<Uuid> = sqlx::query_scalar(
            "INSERT INTO notifications (id, dedup_key, recipient, rule, template, priority, locale, title, body, \
               source_type, source_event_id, fact, subject_id, city, county, township, village, data, created_at, \
               ack_required, ack_due_at, cursor) \
             SELECT d.id, d.dedup_key, d.recipient, d.rule, d.template, d.priority, d.locale, d.title, d.body, \
               d.source_type, d.source_event_id, d.fact, d.subject_id, d.city, d.county, d.township, d.village, \
               d.data, $19, d.ack_due_at IS NOT NULL, d.ack_due_at, nextval('inbox_seq') \
             FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::smallint[], $7::text[], \
                         $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], \
                         $15::text[], $16::text[], $17::text[], $18::jsonb[], $20::timestamptz[]) \
                  WITH ORDINALITY AS d(id, dedup_key, recipient, rule, template, priority, locale, title, body, \
                    source_type, source_event_id, fact, subject_id, city, county, township, village, data, \
                    ack_due_at, n) \
             ORDER BY d.n \
             ON CONFLICT (dedup_key) DO NOTHING RETURNING id",
        )
        .bind(drafts.iter().map(|(_, d)| d.id).collect::<Vec<_>>())
        .bind(drafts.iter().map(|(_, d)| d.dedup_key.clone()).collect::<Vec<_>>())
        .bind(drafts.iter().map(|(_, d)| d.recipient.clone()).collect::<Vec<_>>())
        .bind(drafts.iter().map(|(_, d)| d.rule.clone()).collect::<Vec<_>>())
        .bind(drafts.iter().map(|(_, d)| d.template.clone()).collect::<Vec<_>>())
        .bind(drafts.iter().map(|(_, d)| d.priority as i16).collect::<Vec<_>>())
        .bind(drafts.iter().map(|(_, d)| d.locale.clone()).collect::<Vec<_>>())
        .bind(drafts.iter().map(|(_, d)| d.title.clone()).collect::<Vec<_>>())
        .bind(drafts.iter().map(|(_, d)| d.body.clone()).collect::<Vec<_>>())
        .bind(drafts.iter().map(|(i, _)| fact_of(*i).source_type.clone()).collect::<Vec<_>>())
        .bind(drafts.iter().map(|(i, _)| fact_of(*i).source_event_id.clone()).collect::<Vec<_>>())
        .bind(drafts.iter().map(|(i, _)| fact_of(*i).fact.clone()).collect::<Vec<_>>())
        .bind(drafts.iter().map(|(i, _)| fact_of(*i).subject_id.clone()).collect::<Vec<_>>())
        .bind(drafts.iter().map(|(i, _)| fact_of(*i).region.city.clone()).collect::<Vec<_>>())
        .bind(drafts.iter().map(|(i, _)| fact_of(*i).region.county.clone()).collect::<Vec<_>>())
        .bind(drafts.iter().map(|(i, _)| fact_of(*i).region.township.clone()).collect::<Vec<_>>())
        .bind(drafts.iter().map(|(i, _)| fact_of(*i).region.village.clone()).collect::<Vec<_>>())
        .bind(
            drafts
                .iter()
                .map(|(i, _)| serde_json::to_value(&fact_of(*i).data).unwrap_or(Value::Null))
                .collect::<Vec<_>>(),
        )
        .bind(now)
        .bind(drafts.iter().map(|(_, d)| d.ack_due_at).collect::<Vec<_>>())
        .fetch_all(&mut *tx)
        .await?;
        if inserted.is_empty() {
            return Ok(0);
        }
        let inserted: std::collections::HashSet<Uuid> = inserted.into_iter().collect();

        let mut deliveries: Vec<(usize, NewDelivery)> = Vec::new();
        for (i, d) in drafts.iter().filter(|(_, d)| inserted.contains(&d.id)) {
            let p = &prefs[&d.recipient];
            let (status, next) = match plan(d.priority, &p.timing(), now, self.offset) {
                Plan::Now => (DeliveryStatus::Pending, Some(now)),
                Plan::Defer(at) => (DeliveryStatus::Deferred, Some(at)),
                Plan::Digest(at) => (DeliveryStatus::InDigest, Some(at)),
            };
            let mut add = |channel: Channel, endpoint_id: Option<Uuid>, status, next, delivered_at| {
                deliveries.push((
                    *i,
                    NewDelivery {
                        id: Uuid::now_v7(),
                        notification_id: d.id,
                        recipient: d.recipient.clone(),
                        channel,
                        endpoint_id,
                        status,
                        next_attempt_at: next,
                        delivered_at,
                    },
                ))
            };
            // The inbox entry exists from this commit on: that is its delivery.
            add(Channel::Inbox, None, DeliveryStatus::Delivered, None, Some(now));
            if p.channels.contains(&Channel::Webhook) {
                for e in endpoints.get(&d.recipient).into_iter().flatten() {
                    add(Channel::Webhook, Some(*e), status, next, None);
                }
            }
            if p.channels.contains(&Channel::Sms) && p.phone_masked.is_some() {
                add(Channel::Sms, None, status, next, None);
            }
        }
        sqlx::query(
            "INSERT INTO deliveries (id, notification_id, recipient, channel, endpoint_id, status, next_attempt_at, \
               delivered_at, attempt_count, fact, created_at, city, county, township, village) \
             SELECT d.id, d.notification_id, d.recipient, d.channel, d.endpoint_id, d.status, d.next_at, d.delivered_at, \
               CASE WHEN d.delivered_at IS NULL THEN 0 ELSE 1 END, d.fact, $9, d.city, d.county, d.township, d.village \
             FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::smallint[], $5::uuid[], $6::smallint[], \
                         $7::timestamptz[], $8::timestamptz[], $10::text[], $11::text[], $12::text[], $13::text[], \
                         $14::text[]) \
                  AS d(id, notification_id, recipient, channel, endpoint_id, status, next_at, delivered_at, fact, \
                       city, county, township, village)",
        )
        .bind(deliveries.iter().map(|(_, d)| d.id).collect::<Vec<_>>())
        .bind(deliveries.iter().map(|(_, d)| d.notification_id).collect::<Vec<_>>())
        .bind(deliveries.iter().map(|(_, d)| d.recipient.clone()).collect::<Vec<_>>())
        .bind(deliveries.iter().map(|(_, d)| d.channel as i16).collect::<Vec<_>>())
        .bind(deliveries.iter().map(|(_, d)| d.endpoint_id).collect::<Vec<_>>())
        .bind(deliveries.iter().map(|(_, d)| d.status as i16).collect::<Vec<_>>())
        .bind(deliveries.iter().map(|(_, d)| d.next_attempt_at).collect::<Vec<_>>())
        .bind(deliveries.iter().map(|(_, d)| d.delivered_at).collect::<Vec<_>>())
        .bind(now)
        .bind(deliveries.iter().map(|(i, _)| fact_of(*i).fact.clone()).collect::<Vec<_>>())
        .bind(deliveries.iter().map(|(i, _)| fact_of(*i).region.city.clone()).collect::<Vec<_>>())
        .bind(deliveries.iter().map(|(i, _)| fact_of(*i).region.county.clone()).collect::<Vec<_>>())
        .bind(deliveries.iter().map(|(i, _)| fact_of(*i).region.township.clone()).collect::<Vec<_>>())
        .bind(deliveries.iter().map(|(i, _)| fact_of(*i).region.village.clone()).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
        // The inbox deliveries are not announced on the bus: the notification is the inbox entry,
        // and WatchInbox is how to follow it. (A notice that asks for acknowledgement is
        // announced when it is acknowledged, or when it is not in time.) Leaving out one message
        // per notification halves what the relay publishes.
        Ok(inserted.len())
    }

    /// Records the reporters of intake's facts (first, so a closure later in the same batch
    /// finds them) and returns the facts that were waiting for those events' reporters.
    async fn remember_reporters(&self, tx: &mut PgConnection, facts: &[Fact]) -> Result<Vec<Fact>, StoreError> {
        let mut seen: Vec<(String, String)> = facts
            .iter()
            .filter(|f| !f.reporter_id.is_empty() && !f.event_id.is_empty())
            .map(|f| (f.event_id.clone(), f.reporter_id.clone()))
            .collect();
        seen.sort();
        seen.dedup();
        if seen.is_empty() {
            return Ok(Vec::new());
        }
        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(REPORTERS_LOCK).execute(&mut *tx).await?;
        sqlx::query(
            "INSERT INTO event_reporters (event_id, reporter_id) \
             SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING",
        )
        .bind(seen.iter().map(|(e, _)| e.clone()).collect::<Vec<_>>())
        .bind(seen.iter().map(|(_, r)| r.clone()).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
        let events: Vec<String> = seen.into_iter().map(|(e, _)| e).collect();
        let kept: Vec<Json<Value>> =
            sqlx::query_scalar("DELETE FROM pending_reporter_facts WHERE event_id = ANY($1) RETURNING fact")
                .bind(&events)
                .fetch_all(&mut *tx)
                .await?;
        Ok(kept.iter().filter_map(|k| Fact::from_json(&k.0)).collect())
    }

    /// The preferences of `recipients` (defaults for those without).
    async fn prefs_of(
        &self,
        tx: &mut PgConnection,
        recipients: &[String],
    ) -> Result<HashMap<String, Prefs>, StoreError> {
        let rows = sqlx::query(
            "SELECT recipient, channels, locale, quiet_start, quiet_end, digest_minutes, phone_masked, updated_at \
             FROM preferences WHERE recipient = ANY($1)",
        )
        .bind(recipients)
        .fetch_all(&mut *tx)
        .await?;
        let mut out: HashMap<String, Prefs> =
            recipients.iter().map(|r| (r.clone(), Prefs::defaults(r, &self.default_locale))).collect();
        for row in rows {
            let p = prefs_of_row(&row);
            out.insert(p.recipient.clone(), p);
        }
        Ok(out)
    }

    /// The active webhook endpoints of `recipients`.
    async fn endpoints_of(
        &self,
        tx: &mut PgConnection,
        recipients: &[String],
    ) -> Result<HashMap<String, Vec<Uuid>>, StoreError> {
        let rows = sqlx::query(
            "SELECT recipient, id FROM webhook_endpoints WHERE active AND recipient = ANY($1) ORDER BY created_at, id",
        )
        .bind(recipients)
        .fetch_all(&mut *tx)
        .await?;
        let mut out: HashMap<String, Vec<Uuid>> = HashMap::new();
        for row in rows {
            out.entry(row.get("recipient")).or_default().push(row.get("id"));
        }
        Ok(out)
    }

    /// Claims up to `limit` deliveries due at `now` (pending or deferred) for `lease`: another
    /// replica skips them until the lease runs out, which is how a crashed replica's claims come
    /// back. Leases follow the database's clock, due times the service clock.
    ///
    /// Returns the round's claim token with the deliveries: only that token can record their
    /// outcomes ([`record_outcomes`](Self::record_outcomes)). If reading what the deliveries need
    /// fails, the claim is released at once.
    pub async fn claim_due(
        &self,
        now: DateTime<Utc>,
        limit: i64,
        lease: Duration,
    ) -> Result<(Uuid, Vec<Claimed>), StoreError> {
        let claim = Uuid::now_v7();
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(
            "WITH due AS ( \
               SELECT id FROM deliveries \
               WHERE status IN (1, 2) AND next_attempt_at <= $1 AND (claimed_until IS NULL OR claimed_until < now()) \
               ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED) \
             UPDATE deliveries d SET claimed_until = now() + make_interval(secs => $3), claim = $4 \
             FROM due WHERE d.id = due.id \
             RETURNING d.id, d.notification_id, d.recipient, d.channel, d.endpoint_id, d.attempt_count, d.digest_size, \
               d.fact, d.city, d.county, d.township, d.village",
        )
        .bind(now)
        .bind(limit)
        .bind(lease.num_seconds() as f64)
        .bind(claim)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        if rows.is_empty() {
            return Ok((claim, Vec::new()));
        }
        match self.load_claimed(&rows).await {
            Ok(claimed) => Ok((claim, claimed)),
            Err(e) => {
                let released = sqlx::query("UPDATE deliveries SET claimed_until = NULL, claim = NULL WHERE claim = $1")
                    .bind(claim)
                    .execute(&self.pool)
                    .await;
                if let Err(r) = released {
                    tracing::warn!(error = %r, "releasing a claim failed; its lease will run out");
                }
                Err(e)
            }
        }
    }

    /// What the claimed `rows` need to be sent: their notifications, endpoints and phones.
    async fn load_claimed(&self, rows: &[PgRow]) -> Result<Vec<Claimed>, StoreError> {
        let single: Vec<Uuid> = rows.iter().filter_map(|r| r.get::<Option<Uuid>, _>("notification_id")).collect();
        let digests: Vec<Uuid> =
            rows.iter().filter(|r| r.get::<i32, _>("digest_size") > 0).map(|r| r.get::<Uuid, _>("id")).collect();
        let mut notes: HashMap<Uuid, pb::Notification> = HashMap::new();
        if !single.is_empty() {
            let q = format!("SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE id = ANY($1)");
            for row in sqlx::query(sqlx::AssertSqlSafe(q)).bind(&single).fetch_all(&self.pool).await? {
                notes.insert(row.get("id"), notification_of(&row));
            }
        }
        let mut members: HashMap<Uuid, Vec<pb::Notification>> = HashMap::new();
        if !digests.is_empty() {
            let q = format!(
                "SELECT m.digest_id, n.{} FROM deliveries m JOIN notifications n ON n.id = m.notification_id \
                 WHERE m.digest_id = ANY($1) ORDER BY n.cursor",
                NOTIFICATION_COLUMNS.replace(", ", ", n.")
            );
            for row in sqlx::query(sqlx::AssertSqlSafe(q)).bind(&digests).fetch_all(&self.pool).await? {
                members.entry(row.get("digest_id")).or_default().push(notification_of(&row));
            }
        }
        let endpoint_ids: Vec<Uuid> = rows.iter().filter_map(|r| r.get::<Option<Uuid>, _>("endpoint_id")).collect();
        let mut endpoints: HashMap<Uuid, Endpoint> = HashMap::new();
        let mut problems: HashMap<Uuid, String> = HashMap::new();
        if !endpoint_ids.is_empty() {
            for row in sqlx::query(
                "SELECT id, url, secret_sealed, consecutive_failures, open_until, active FROM webhook_endpoints \
                 WHERE id = ANY($1)",
            )
            .bind(&endpoint_ids)
            .fetch_all(&self.pool)
            .await?
            {
                let id: Uuid = row.get("id");
                // One unreadable secret (sealed under another contact key) fails its own
                // deliveries, not the round.
                let secret = match self.cipher.decrypt(id, row.get::<Vec<u8>, _>("secret_sealed").as_slice()) {
                    Ok(secret) => secret,
                    Err(e) => {
                        problems.insert(id, format!("the endpoint's secret is unreadable ({e}); re-register it"));
                        String::new()
                    }
                };
                endpoints.insert(
                    id,
                    Endpoint {
                        id,
                        url: row.get("url"),
                        secret,
                        circuit: Circuit {
                            failures: row.get("consecutive_failures"),
                            open_until: row.get("open_until"),
                        },
                        active: row.get("active"),
                    },
                );
            }
        }
        let sms_recipients: Vec<String> = rows
            .iter()
            .filter(|r| channel_of(r.get("channel")) == Channel::Sms)
            .map(|r| r.get::<String, _>("recipient"))
            .collect();
        let mut phones: HashMap<String, Result<String, String>> = HashMap::new();
        if !sms_recipients.is_empty() {
            for row in sqlx::query(
                "SELECT recipient, phone_sealed, seal_owner FROM preferences \
                 WHERE recipient = ANY($1) AND phone_sealed IS NOT NULL",
            )
            .bind(&sms_recipients)
            .fetch_all(&self.pool)
            .await?
            {
                let owner: Uuid = row.get("seal_owner");
                let phone = self
                    .cipher
                    .decrypt(owner, row.get::<Vec<u8>, _>("phone_sealed").as_slice())
                    .map_err(|e| format!("the phone number is unreadable ({e}); set it again"));
                phones.insert(row.get("recipient"), phone);
            }
        }
        Ok(rows
            .iter()
            .map(|row| {
                let id: Uuid = row.get("id");
                let digest = row.get::<i32, _>("digest_size") > 0;
                let notifications = if digest {
                    members.remove(&id).unwrap_or_default()
                } else {
                    row.get::<Option<Uuid>, _>("notification_id")
                        .and_then(|n| notes.get(&n).cloned())
                        .into_iter()
                        .collect()
                };
                let recipient: String = row.get("recipient");
                let endpoint_id: Option<Uuid> = row.get("endpoint_id");
                let phone = phones.get(&recipient).cloned();
                let problem = endpoint_id
                    .and_then(|e| problems.get(&e).cloned())
                    .or_else(|| phone.as_ref().and_then(|p| p.as_ref().err().cloned()));
                Claimed {
                    id,
                    channel: channel_of(row.get("channel")),
                    endpoint: endpoint_id.and_then(|e| endpoints.get(&e).cloned()),
                    attempts: row.get("attempt_count"),
                    notifications,
                    digest,
                    fact: row.get("fact"),
                    region: region_of(row),
                    phone: phone.and_then(Result::ok),
                    problem,
                    recipient,
                }
            })
            .collect())
    }

    /// Records the outcomes of a round of sends in one transaction: the deliveries, their
    /// attempts, the endpoints' circuits and the notify facts for the outbox.
    ///
    /// Only deliveries still held by `claim` are written: a round that outlived its lease, whose
    /// deliveries another round took over, records and publishes nothing for them. Circuits are
    /// written only where they still are as this round saw them (`seen`), so a replica's round
    /// does not undo what another replica's round decided meanwhile.
    pub async fn record_outcomes(
        &self,
        claim: Uuid,
        outcomes: &[Outcome],
        circuits: &HashMap<Uuid, (Circuit, Circuit)>,
    ) -> Result<(), StoreError> {
        if outcomes.is_empty() && circuits.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        let ours: Vec<Uuid> = sqlx::query_scalar(
            "UPDATE deliveries d SET status = u.status, attempt_count = u.attempts, next_attempt_at = u.next_at, \
               delivered_at = CASE WHEN u.status = 4 THEN u.at ELSE d.delivered_at END, last_error = u.error, \
               claimed_until = NULL, claim = NULL \
             FROM unnest($1::uuid[], $2::smallint[], $3::int[], $4::timestamptz[], $5::text[], $6::timestamptz[]) \
               AS u(id, status, attempts, next_at, error, at) \
             WHERE d.id = u.id AND d.claim = $7 \
             RETURNING d.id",
        )
        .bind(outcomes.iter().map(|o| o.id).collect::<Vec<_>>())
        .bind(outcomes.iter().map(|o| o.status as i16).collect::<Vec<_>>())
        .bind(outcomes.iter().map(|o| o.attempts).collect::<Vec<_>>())
        .bind(outcomes.iter().map(|o| o.next_attempt_at).collect::<Vec<_>>())
        .bind(outcomes.iter().map(|o| o.error.clone()).collect::<Vec<_>>())
        .bind(
            outcomes
                .iter()
                .map(|o| o.attempt.as_ref().and_then(|a| a.at.as_ref()).and_then(civicgrid_kit::time::from_proto))
                .collect::<Vec<_>>(),
        )
        .bind(claim)
        .fetch_all(&mut *tx)
        .await?;
        if ours.len() < outcomes.len() {
            tracing::warn!(
                lost = outcomes.len() - ours.len(),
                "a delivery round outlived its lease; another round took those deliveries over"
            );
        }
        let ours: std::collections::HashSet<Uuid> = ours.into_iter().collect();
        let outcomes: Vec<&Outcome> = outcomes.iter().filter(|o| ours.contains(&o.id)).collect();
        let attempts: Vec<(Uuid, &pb::DeliveryAttempt)> =
            outcomes.iter().filter_map(|o| o.attempt.as_ref().map(|a| (o.id, a))).collect();
        if !attempts.is_empty() {
            sqlx::query(
                "INSERT INTO delivery_attempts (delivery_id, number, at, outcome, http_status, error, duration_ms) \
                 SELECT * FROM unnest($1::uuid[], $2::int[], $3::timestamptz[], $4::text[], $5::int[], $6::text[], $7::bigint[]) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(attempts.iter().map(|(id, _)| *id).collect::<Vec<_>>())
            .bind(attempts.iter().map(|(_, a)| a.number).collect::<Vec<_>>())
            .bind(
                attempts
                    .iter()
                    .map(|(_, a)| a.at.as_ref().and_then(civicgrid_kit::time::from_proto).unwrap_or_default())
                    .collect::<Vec<_>>(),
            )
            .bind(attempts.iter().map(|(_, a)| a.outcome.clone()).collect::<Vec<_>>())
            .bind(attempts.iter().map(|(_, a)| a.http_status).collect::<Vec<_>>())
            .bind(attempts.iter().map(|(_, a)| a.error.clone()).collect::<Vec<_>>())
            .bind(attempts.iter().map(|(_, a)| a.duration_ms).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await?;
        }
        if !circuits.is_empty() {
            let ids: Vec<Uuid> = circuits.keys().copied().collect();
            let (seen, new): (Vec<Circuit>, Vec<Circuit>) = ids.iter().map(|id| circuits[id]).unzip();
            sqlx::query(
                "UPDATE webhook_endpoints e SET consecutive_failures = u.failures, open_until = u.open_until \
                 FROM unnest($1::uuid[], $2::int[], $3::timestamptz[], $4::int[], $5::timestamptz[]) \
                   AS u(id, failures, open_until, seen_failures, seen_open_until) \
                 WHERE e.id = u.id AND e.consecutive_failures = u.seen_failures \
                   AND e.open_until IS NOT DISTINCT FROM u.seen_open_until",
            )
            .bind(ids)
            .bind(new.iter().map(|c| c.failures).collect::<Vec<_>>())
            .bind(new.iter().map(|c| c.open_until).collect::<Vec<_>>())
            .bind(seen.iter().map(|c| c.failures).collect::<Vec<_>>())
            .bind(seen.iter().map(|c| c.open_until).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await?;
        }
        let rows: Vec<OutboxRow> = outcomes
            .iter()
            .filter_map(|o| {
                let e = o.publish.as_ref()?;
                let at = e.occurred_at.as_ref().and_then(civicgrid_kit::time::from_proto).unwrap_or_default();
                Some(notify_row(e, &o.region, at))
            })
            .collect();
        rows.iter().cloned().collect::<OutboxBatch>().insert(&mut tx).await?;
        tx.commit().await?;
        if !rows.is_empty() {
            self.signal.wake();
        }
        Ok(())
    }

    /// Gathers due digest members into digest deliveries, one per recipient, channel and
    /// endpoint; returns how many digests were formed. Safe with several replicas: members are
    /// taken by an UPDATE, so a group is digested once.
    pub async fn form_digests(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let groups = sqlx::query(
            "SELECT recipient, channel, endpoint_id, (array_agg(city ORDER BY id))[1] AS city, \
               (array_agg(county ORDER BY id))[1] AS county, (array_agg(township ORDER BY id))[1] AS township, \
               (array_agg(village ORDER BY id))[1] AS village \
             FROM deliveries WHERE status = 3 AND next_attempt_at <= $1 \
             GROUP BY recipient, channel, endpoint_id LIMIT 200",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        let mut formed = 0;
        for g in groups {
            let mut tx = self.pool.begin().await?;
            let digest = Uuid::now_v7();
            let recipient: String = g.get("recipient");
            let channel: i16 = g.get("channel");
            let endpoint: Option<Uuid> = g.get("endpoint_id");
            sqlx::query(
                "INSERT INTO deliveries (id, recipient, channel, endpoint_id, status, fact, next_attempt_at, created_at, \
                   digest_size, city, county, township, village) \
                 VALUES ($1, $2, $3, $4, 1, 'digest', $5, $5, 0, $6, $7, $8, $9)",
            )
            .bind(digest)
            .bind(&recipient)
            .bind(channel)
            .bind(endpoint)
            .bind(now)
            .bind(g.get::<String, _>("city"))
            .bind(g.get::<String, _>("county"))
            .bind(g.get::<String, _>("township"))
            .bind(g.get::<String, _>("village"))
            .execute(&mut *tx)
            .await?;
            let taken = sqlx::query(
                "UPDATE deliveries SET status = 6, digest_id = $1 \
                 WHERE status = 3 AND next_attempt_at <= $2 AND recipient = $3 AND channel = $4 \
                   AND endpoint_id IS NOT DISTINCT FROM $5",
            )
            .bind(digest)
            .bind(now)
            .bind(&recipient)
            .bind(channel)
            .bind(endpoint)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if taken == 0 {
                tx.rollback().await?;
                continue;
            }
            sqlx::query("UPDATE deliveries SET digest_size = $2 WHERE id = $1")
                .bind(digest)
                .bind(taken as i32)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            formed += 1;
        }
        Ok(formed)
    }

    /// Escalates, once, the notices due for acknowledgement at `now` that nobody acknowledged:
    /// each becomes a `notify-unacknowledged` fact for the rules. Returns how many escalated.
    pub async fn reescalate_due(&self, now: DateTime<Utc>, limit: i64) -> Result<usize, StoreError> {
        let mut tx = self.pool.begin().await?;
        let q = format!(
            "SELECT {NOTIFICATION_COLUMNS} FROM notifications \
             WHERE ack_required AND acked_at IS NULL AND reescalated_at IS NULL AND ack_due_at <= $1 \
             ORDER BY ack_due_at LIMIT $2 FOR UPDATE SKIP LOCKED"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(q)).bind(now).bind(limit).fetch_all(&mut *tx).await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let ids: Vec<Uuid> = rows.iter().map(|r| r.get::<Uuid, _>("id")).collect();
        let facts: Vec<Fact> = rows
            .iter()
            .map(|row| {
                let note = notification_of(row);
                let data: Json<BTreeMap<String, String>> = row.get("data");
                let u = Unacknowledged {
                    notification_id: note.id.clone(),
                    recipient: note.recipient.clone(),
                    title: note.title.clone(),
                    fact: note.fact.clone(),
                    subject_id: note.subject_id.clone(),
                    region: note.region.clone().unwrap_or_default(),
                    data: data.0,
                    ack_due_at: row.get::<Option<DateTime<Utc>>, _>("ack_due_at").unwrap_or(now),
                };
                facts::unacknowledged(&u, self.offset)
            })
            .collect();
        self.record_facts(&mut tx, &facts, now).await?;
        sqlx::query("UPDATE notifications SET reescalated_at = $2 WHERE id = ANY($1)")
            .bind(&ids)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let verdicts = self.inbox_verdicts(&mut tx, &ids, "notify-failed", "not acknowledged in time", now).await?;
        verdicts.iter().cloned().collect::<OutboxBatch>().insert(&mut tx).await?;
        let n = ids.len();
        tx.commit().await?;
        if n > 0 {
            self.committed();
        }
        Ok(n)
    }

    /// A page of `recipient`'s inbox, newest first, before cursor `before` (0: from the top).
    pub async fn inbox_page(
        &self,
        recipient: &str,
        unread_only: bool,
        before: i64,
        limit: i64,
    ) -> Result<(Vec<pb::Notification>, i64), StoreError> {
        let q = format!(
            "SELECT {NOTIFICATION_COLUMNS} FROM notifications \
             WHERE recipient = $1 AND ($2 = 0 OR cursor < $2) AND (NOT $3 OR read_at IS NULL) \
             ORDER BY cursor DESC LIMIT $4"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(q))
            .bind(recipient)
            .bind(before)
            .bind(unread_only)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        let unread = self.unread(recipient).await?;
        Ok((rows.iter().map(notification_of).collect(), unread))
    }

    async fn unread(&self, recipient: &str) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT count(*) FROM notifications WHERE recipient = $1 AND read_at IS NULL")
            .bind(recipient)
            .fetch_one(&self.pool)
            .await?)
    }

    /// `recipient`'s notifications after cursor `after`, oldest first.
    pub async fn inbox_after(
        &self,
        recipient: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<pb::Notification>, StoreError> {
        let q = format!(
            "SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE recipient = $1 AND cursor > $2 \
             ORDER BY cursor LIMIT $3"
        );
        let rows =
            sqlx::query(sqlx::AssertSqlSafe(q)).bind(recipient).bind(after).bind(limit).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(notification_of).collect())
    }

    /// The highest cursor of `recipient` (0 when the inbox is empty).
    pub async fn last_cursor(&self, recipient: &str) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT coalesce(max(cursor), 0) FROM notifications WHERE recipient = $1")
            .bind(recipient)
            .fetch_one(&self.pool)
            .await?)
    }

    /// Marks `ids` of `recipient` read at `now`; returns (marked, still unread).
    pub async fn mark_read(&self, recipient: &str, ids: &[Uuid], now: DateTime<Utc>) -> Result<(i64, i64), StoreError> {
        let marked = sqlx::query(
            "UPDATE notifications SET read_at = $3 WHERE recipient = $1 AND id = ANY($2) AND read_at IS NULL",
        )
        .bind(recipient)
        .bind(ids)
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected() as i64;
        Ok((marked, self.unread(recipient).await?))
    }

    /// One notification.
    pub async fn notification(&self, id: Uuid) -> Result<Option<pb::Notification>, StoreError> {
        let q = format!("SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE id = $1");
        Ok(sqlx::query(sqlx::AssertSqlSafe(q)).bind(id).fetch_optional(&self.pool).await?.as_ref().map(notification_of))
    }

    /// Acknowledges notification `id` at `now` (reading it too). The first acknowledgement
    /// stands; a repeat changes nothing.
    /// The first acknowledgement publishes `notify-delivered` for the notice's inbox delivery:
    /// only now has it been received.
    pub async fn acknowledge(&self, id: Uuid, request_id: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let acked = sqlx::query(
            "UPDATE notifications SET acked_at = $2, ack_request_id = $3, read_at = coalesce(read_at, $2) \
             WHERE id = $1 AND acked_at IS NULL RETURNING reescalated_at IS NULL AS in_time",
        )
        .bind(id)
        .bind(now)
        .bind(request_id)
        .fetch_optional(&mut *tx)
        .await?;
        // A notice already reported as not acknowledged in time keeps that verdict.
        if let Some(row) = acked
            && row.get::<bool, _>("in_time")
        {
            let rows = self.inbox_verdicts(&mut tx, &[id], "notify-delivered", "", now).await?;
            rows.iter().cloned().collect::<OutboxBatch>().insert(&mut tx).await?;
        }
        tx.commit().await?;
        self.signal.wake();
        Ok(())
    }

    /// `fact` (notify-delivered or notify-failed) for the inbox deliveries of `notifications`.
    async fn inbox_verdicts(
        &self,
        tx: &mut PgConnection,
        notifications: &[Uuid],
        fact: &str,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT d.id, d.notification_id, d.recipient, d.fact, n.source_event_id, d.city, d.county, d.township, \
               d.village \
             FROM deliveries d JOIN notifications n ON n.id = d.notification_id \
             WHERE d.notification_id = ANY($1) AND d.channel = 1",
        )
        .bind(notifications)
        .fetch_all(&mut *tx)
        .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let region = region_of(r);
                let event = NotifyEvent {
                    fact: fact.into(),
                    delivery_id: r.get::<Uuid, _>("id").to_string(),
                    notification_id: r.get::<Uuid, _>("notification_id").to_string(),
                    recipient: r.get("recipient"),
                    channel: Channel::Inbox as i32,
                    endpoint_id: String::new(),
                    source_event_id: r.get("source_event_id"),
                    source_fact: r.get("fact"),
                    attempts: 1,
                    error: error.into(),
                    region: Some(region.clone()),
                    occurred_at: Some(to_proto(now)),
                };
                notify_row(&event, &region, now)
            })
            .collect())
    }

    /// Registers an endpoint; the same `request_id` for the same recipient again returns the
    /// first one.
    pub async fn register_webhook(
        &self,
        recipient: &str,
        url: &str,
        secret: &str,
        description: &str,
        request_id: &str,
        now: DateTime<Utc>,
    ) -> Result<pb::WebhookEndpoint, StoreError> {
        let id = Uuid::now_v7();
        // Request ids are the caller's, not global: keyed by recipient (a space is in neither), so
        // another recipient's caller reusing one neither gets nor blocks this registration.
        let key = format!("{recipient} {request_id}");
        sqlx::query(
            "INSERT INTO webhook_endpoints (id, recipient, url, secret_sealed, description, created_at, request_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (request_id) DO NOTHING",
        )
        .bind(id)
        .bind(recipient)
        .bind(url)
        .bind(self.cipher.encrypt(id, secret))
        .bind(description)
        .bind(now)
        .bind(&key)
        .execute(&self.pool)
        .await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE request_id = $1"
        )))
        .bind(&key)
        .fetch_one(&self.pool)
        .await?;
        Ok(endpoint_of(&row, now))
    }

    /// One endpoint.
    pub async fn webhook(&self, id: Uuid, now: DateTime<Utc>) -> Result<Option<pb::WebhookEndpoint>, StoreError> {
        let row =
            sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1")))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|r| endpoint_of(&r, now)))
    }

    /// `recipient`'s endpoints.
    pub async fn webhooks(
        &self,
        recipient: &str,
        include_inactive: bool,
        now: DateTime<Utc>,
    ) -> Result<Vec<pb::WebhookEndpoint>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE recipient = $1 AND (active OR $2) \
             ORDER BY created_at, id"
        )))
        .bind(recipient)
        .bind(include_inactive)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| endpoint_of(r, now)).collect())
    }

    /// Deactivates endpoint `id`; its waiting deliveries fail ("endpoint removed") and, like
    /// every delivery given up, are published as `notify-failed`. A delivery the worker has
    /// claimed is left to it: its call may succeed, and if not, the worker gives it up on its
    /// next claim because the endpoint is inactive, so each delivery gets one verdict.
    pub async fn delete_webhook(&self, id: Uuid, now: DateTime<Utc>) -> Result<(), StoreError> {
        const WHY: &str = "endpoint removed";
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE webhook_endpoints SET active = false WHERE id = $1").bind(id).execute(&mut *tx).await?;
        let failed = sqlx::query(
            "UPDATE deliveries d SET status = 5, last_error = $2, next_attempt_at = NULL, claimed_until = NULL \
             WHERE endpoint_id = $1 AND status IN (1, 2, 3) AND (claimed_until IS NULL OR claimed_until < now()) \
             RETURNING d.id, d.notification_id, d.recipient, d.channel, d.attempt_count, d.fact, d.city, d.county, \
               d.township, d.village, \
               (SELECT n.source_event_id FROM notifications n WHERE n.id = d.notification_id) AS source_event_id",
        )
        .bind(id)
        .bind(WHY)
        .fetch_all(&mut *tx)
        .await?;
        let rows: Vec<OutboxRow> = failed
            .iter()
            .map(|r| {
                let region = region_of(r);
                let event = NotifyEvent {
                    fact: "notify-failed".into(),
                    delivery_id: r.get::<Uuid, _>("id").to_string(),
                    notification_id: r
                        .get::<Option<Uuid>, _>("notification_id")
                        .map(|n| n.to_string())
                        .unwrap_or_default(),
                    recipient: r.get("recipient"),
                    channel: channel_of(r.get("channel")) as i32,
                    endpoint_id: id.to_string(),
                    source_event_id: r.get::<Option<String>, _>("source_event_id").unwrap_or_default(),
                    source_fact: r.get("fact"),
                    attempts: r.get("attempt_count"),
                    error: WHY.into(),
                    region: Some(region.clone()),
                    occurred_at: Some(to_proto(now)),
                };
                notify_row(&event, &region, now)
            })
            .collect();
        rows.iter().cloned().collect::<OutboxBatch>().insert(&mut tx).await?;
        tx.commit().await?;
        if !rows.is_empty() {
            self.signal.wake();
        }
        Ok(())
    }

    /// `recipient`'s preferences, or the defaults.
    pub async fn preferences(&self, recipient: &str) -> Result<Prefs, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let mut all = self.prefs_of(&mut conn, &[recipient.to_string()]).await?;
        Ok(all.remove(recipient).unwrap_or_else(|| Prefs::defaults(recipient, &self.default_locale)))
    }

    /// Stores `recipient`'s preferences.
    pub async fn set_preferences(
        &self,
        recipient: &str,
        p: &NewPrefs,
        now: DateTime<Utc>,
    ) -> Result<Prefs, StoreError> {
        let owner = Uuid::now_v7();
        let (sealed, masked, keep_phone) = match p.phone.as_deref() {
            None => (None, None, true),
            Some("") => (None, None, false),
            Some(phone) => (Some(self.cipher.encrypt(owner, phone)), Some(mask_phone(phone)), false),
        };
        // Keeping the phone keeps its seal owner too; a new phone brings a new owner.
        sqlx::query(
            "INSERT INTO preferences (recipient, channels, locale, quiet_start, quiet_end, digest_minutes, \
               phone_sealed, phone_masked, seal_owner, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (recipient) DO UPDATE SET channels = $2, locale = $3, quiet_start = $4, quiet_end = $5, \
               digest_minutes = $6, updated_at = $10, \
               phone_sealed = CASE WHEN $11 THEN preferences.phone_sealed ELSE $7 END, \
               phone_masked = CASE WHEN $11 THEN preferences.phone_masked ELSE $8 END, \
               seal_owner = CASE WHEN $11 THEN preferences.seal_owner ELSE $9 END",
        )
        .bind(recipient)
        .bind(p.channels.iter().map(|c| *c as i16).collect::<Vec<_>>())
        .bind(&p.locale)
        .bind(p.quiet.as_ref().map(|q| q.0.clone()))
        .bind(p.quiet.as_ref().map(|q| q.1.clone()))
        .bind(p.digest_minutes)
        .bind(sealed)
        .bind(masked)
        .bind(owner)
        .bind(now)
        .bind(keep_phone)
        .execute(&self.pool)
        .await?;
        self.preferences(recipient).await
    }

    /// A page of deliveries (newest first) of one notification or one recipient, before `before`.
    pub async fn deliveries(
        &self,
        notification: Option<Uuid>,
        recipient: Option<&str>,
        status: Option<DeliveryStatus>,
        before: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<pb::Delivery>, StoreError> {
        // A notification's digests are found first, so the listing is two index lookups rather
        // than an OR over a subquery.
        let digests: Vec<Uuid> = match notification {
            Some(n) => {
                sqlx::query_scalar(
                    "SELECT digest_id FROM deliveries WHERE notification_id = $1 AND digest_id IS NOT NULL",
                )
                .bind(n)
                .fetch_all(&self.pool)
                .await?
            }
            None => Vec::new(),
        };
        let rows = sqlx::query(
            "SELECT id, notification_id, recipient, channel, endpoint_id, status, attempt_count, next_attempt_at, \
               delivered_at, last_error, digest_id, created_at, fact, digest_size \
             FROM deliveries \
             WHERE ($1::uuid IS NULL OR notification_id = $1 OR id = ANY($6)) \
               AND ($2::text IS NULL OR recipient = $2) AND ($3::smallint IS NULL OR status = $3) \
               AND ($4::uuid IS NULL OR id < $4) \
             ORDER BY id DESC LIMIT $5",
        )
        .bind(notification)
        .bind(recipient)
        .bind(status.map(|s| s as i16))
        .bind(before)
        .bind(limit)
        .bind(&digests)
        .fetch_all(&self.pool)
        .await?;
        let ids: Vec<Uuid> = rows.iter().map(|r| r.get("id")).collect();
        let mut attempts: HashMap<Uuid, Vec<pb::DeliveryAttempt>> = HashMap::new();
        for a in sqlx::query(
            "SELECT delivery_id, number, at, outcome, http_status, error, duration_ms FROM delivery_attempts \
             WHERE delivery_id = ANY($1) ORDER BY delivery_id, number",
        )
        .bind(&ids)
        .fetch_all(&self.pool)
        .await?
        {
            attempts.entry(a.get("delivery_id")).or_default().push(pb::DeliveryAttempt {
                number: a.get("number"),
                at: Some(to_proto(a.get("at"))),
                outcome: a.get("outcome"),
                http_status: a.get("http_status"),
                error: a.get("error"),
                duration_ms: a.get("duration_ms"),
            });
        }
        let ts = |r: &PgRow, name: &str| r.get::<Option<DateTime<Utc>>, _>(name).map(to_proto);
        let id_text = |r: &PgRow, name: &str| r.get::<Option<Uuid>, _>(name).map(|u| u.to_string()).unwrap_or_default();
        Ok(rows
            .iter()
            .map(|r| {
                let id: Uuid = r.get("id");
                pb::Delivery {
                    id: id.to_string(),
                    notification_id: id_text(r, "notification_id"),
                    recipient: r.get("recipient"),
                    channel: channel_of(r.get("channel")) as i32,
                    endpoint_id: id_text(r, "endpoint_id"),
                    status: status_of(r.get("status")) as i32,
                    attempt_count: r.get("attempt_count"),
                    next_attempt_at: ts(r, "next_attempt_at"),
                    delivered_at: ts(r, "delivered_at"),
                    last_error: r.get("last_error"),
                    attempts: attempts.remove(&id).unwrap_or_default(),
                    digest_id: id_text(r, "digest_id"),
                    created_at: ts(r, "created_at"),
                    fact: r.get("fact"),
                    digest_size: r.get("digest_size"),
                }
            })
            .collect())
    }
}

const ENDPOINT_COLUMNS: &str = "id, recipient, url, description, active, consecutive_failures, open_until, created_at";

fn endpoint_of(row: &PgRow, now: DateTime<Utc>) -> pb::WebhookEndpoint {
    let circuit = Circuit { failures: row.get("consecutive_failures"), open_until: row.get("open_until") };
    pb::WebhookEndpoint {
        id: row.get::<Uuid, _>("id").to_string(),
        recipient: row.get("recipient"),
        url: row.get("url"),
        description: row.get("description"),
        active: row.get("active"),
        circuit: circuit.state_name(now).to_string(),
        consecutive_failures: circuit.failures,
        open_until: circuit.open_until.map(to_proto),
        created_at: Some(to_proto(row.get("created_at"))),
    }
}

fn prefs_of_row(row: &PgRow) -> Prefs {
    let channels: Vec<i16> = row.get("channels");
    let start: Option<String> = row.get("quiet_start");
    let end: Option<String> = row.get("quiet_end");
    Prefs {
        recipient: row.get("recipient"),
        channels: channels.into_iter().map(channel_of).collect(),
        locale: row.get("locale"),
        quiet: start.zip(end),
        digest_minutes: row.get("digest_minutes"),
        phone_masked: row.get("phone_masked"),
        defaults: false,
        updated_at: row.get("updated_at"),
    }
}

/// The outbox row of a notify fact.
fn notify_row(event: &NotifyEvent, region: &RegionPath, at: DateTime<Utc>) -> OutboxRow {
    let envelope = Envelope::family(&NOTIFY_FACTS, &event.fact, region, &event.delivery_id, event);
    OutboxRow::new(SERVICE, &envelope, at)
}
