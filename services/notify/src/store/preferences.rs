//! Recipients' preferences (`preferences`): reading them (the defaults for a recipient who
//! stored none), storing them with the phone sealed, and the unsealed phones SMS goes to.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use civicgrid_kit::seal::Cipher;
use sqlx::{PgConnection, PgPool, Row, postgres::PgRow};
use uuid::Uuid;

use super::{Store, StoreError, channel_of};
use crate::domain::preferences::{NewPrefs, Prefs, mask_phone};

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

/// The phones of `recipients` who stored one, unsealed by `cipher`, by recipient; a phone that
/// does not unseal is an `Err` saying why, which fails only its own deliveries. No statement
/// for none.
pub(crate) async fn phones_of(
    pool: &PgPool,
    cipher: &Cipher,
    recipients: &[String],
) -> Result<HashMap<String, Result<String, String>>, StoreError> {
    let mut phones: HashMap<String, Result<String, String>> = HashMap::new();
    if recipients.is_empty() {
        return Ok(phones);
    }
    for row in sqlx::query(
        "SELECT recipient, phone_sealed, seal_owner FROM preferences \
         WHERE recipient = ANY($1) AND phone_sealed IS NOT NULL",
    )
    .bind(recipients)
    .fetch_all(pool)
    .await?
    {
        let owner: Uuid = row.get("seal_owner");
        let phone = cipher
            .decrypt(owner, row.get::<Vec<u8>, _>("phone_sealed").as_slice())
            .map_err(|e| format!("the phone number is unreadable ({e}); set it again"));
        phones.insert(row.get("recipient"), phone);
    }
    Ok(phones)
}

impl Store {
    /// The preferences of `recipients` (defaults for those without).
    pub(crate) async fn prefs_of(
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
}
