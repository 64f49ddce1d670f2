//! Webhook endpoints (`webhook_endpoints`) and their circuits: registering, listing and
//! deactivating them, the active ones of recipients, the ones claimed deliveries go to (secrets
//! unsealed) and the circuits a round of sends changed.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use civicgrid_kit::{seal::Cipher, time::to_proto};
use civicgrid_proto::v1 as pb;
use sqlx::{PgConnection, PgPool, Row, postgres::PgRow};
use uuid::Uuid;

use super::{Store, StoreError};
use crate::domain::breaker::Circuit;

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

const ENDPOINT_COLUMNS: &str = "id, recipient, url, description, active, consecutive_failures, open_until, created_at";

fn circuit_of(row: &PgRow) -> Circuit {
    Circuit { failures: row.get("consecutive_failures"), open_until: row.get("open_until") }
}

fn endpoint_of(row: &PgRow, now: DateTime<Utc>) -> pb::WebhookEndpoint {
    let circuit = circuit_of(row);
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

/// Webhook endpoints whose circuit is open now.
pub async fn open_circuits(pool: &PgPool) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM webhook_endpoints WHERE active AND open_until > now()")
        .fetch_one(pool)
        .await?)
}

/// The active endpoints of `recipients`, by recipient, oldest first.
pub(crate) async fn active_of(
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

/// The endpoints `ids` (active or not) with their secrets unsealed by `cipher`, and why each
/// endpoint whose secret does not unseal cannot be called (no statement for none).
pub(crate) async fn for_sending(
    pool: &PgPool,
    cipher: &Cipher,
    ids: &[Uuid],
) -> Result<(HashMap<Uuid, Endpoint>, HashMap<Uuid, String>), StoreError> {
    let mut endpoints: HashMap<Uuid, Endpoint> = HashMap::new();
    let mut problems: HashMap<Uuid, String> = HashMap::new();
    if ids.is_empty() {
        return Ok((endpoints, problems));
    }
    for row in sqlx::query(
        "SELECT id, url, secret_sealed, consecutive_failures, open_until, active FROM webhook_endpoints \
         WHERE id = ANY($1)",
    )
    .bind(ids)
    .fetch_all(pool)
    .await?
    {
        let id: Uuid = row.get("id");
        // One unreadable secret (sealed under another contact key) fails its own
        // deliveries, not the round.
        let secret = match cipher.decrypt(id, row.get::<Vec<u8>, _>("secret_sealed").as_slice()) {
            Ok(secret) => secret,
            Err(e) => {
                problems.insert(id, format!("the endpoint's secret is unreadable ({e}); re-register it"));
                String::new()
            }
        };
        endpoints.insert(
            id,
            Endpoint { id, url: row.get("url"), secret, circuit: circuit_of(&row), active: row.get("active") },
        );
    }
    Ok((endpoints, problems))
}

/// Writes the `circuits` a round changed, `(as the round saw it, as it left it)` by endpoint,
/// only where a circuit still is as the round saw it: a replica's round does not undo what
/// another replica's round decided meanwhile. No statement for none.
pub(crate) async fn update_circuits(
    tx: &mut PgConnection,
    circuits: &HashMap<Uuid, (Circuit, Circuit)>,
) -> Result<(), StoreError> {
    if circuits.is_empty() {
        return Ok(());
    }
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
    Ok(())
}

/// Deactivates endpoint `id`.
pub(crate) async fn deactivate(tx: &mut PgConnection, id: Uuid) -> Result<(), StoreError> {
    sqlx::query("UPDATE webhook_endpoints SET active = false WHERE id = $1").bind(id).execute(&mut *tx).await?;
    Ok(())
}

impl Store {
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
}
