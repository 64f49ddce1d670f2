//! SQL on `parties`: a case's parties, their name, phone, ID number and address sealed with
//! `mediation.pii_key` (bound to the party's id, as intake seals reporters) and only the masked
//! forms in clear; reading them back masked, or unsealed for the agreement document.

use std::collections::HashMap;

use civicgrid_kit::seal::Cipher;
use civicgrid_proto::v1::{Party, PartyRole};
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use super::StoreError;
use crate::domain::mask;

/// A party as a request gives it, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct NewParty {
    /// Applicant, respondent or third party.
    pub role: PartyRole,
    /// Full name.
    pub name: String,
    /// Mobile number; empty when none.
    pub phone: String,
    /// Resident ID number; empty when none.
    pub id_number: String,
    /// Address; empty when none.
    pub address: String,
}

/// A `parties` row.
#[derive(Debug, Clone, FromRow)]
pub struct PartyRow {
    pub id: Uuid,
    pub case_id: Uuid,
    pub position: i32,
    pub role: i16,
    pub name_sealed: Vec<u8>,
    pub phone_sealed: Option<Vec<u8>>,
    pub id_number_sealed: Option<Vec<u8>>,
    pub address_sealed: Option<Vec<u8>>,
    pub name_masked: String,
    pub phone_masked: String,
    pub id_number_masked: String,
}

/// A party in full, unsealed.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenParty {
    /// The role.
    pub role: PartyRole,
    /// Full name.
    pub name: String,
    /// Phone, empty when none.
    pub phone: String,
    /// ID number, empty when none.
    pub id_number: String,
    /// Address, empty when none.
    pub address: String,
}

impl PartyRow {
    /// The row of `party`, the `position`th of case `case_id`, sealed with `cipher`.
    pub fn seal(cipher: &Cipher, case_id: Uuid, position: i32, party: &NewParty) -> Self {
        let id = Uuid::now_v7();
        let seal = |s: &str| (!s.is_empty()).then(|| cipher.encrypt(id, s));
        PartyRow {
            id,
            case_id,
            position,
            role: party.role as i16,
            name_sealed: cipher.encrypt(id, &party.name),
            phone_sealed: seal(&party.phone),
            id_number_sealed: seal(&party.id_number),
            address_sealed: seal(&party.address),
            name_masked: mask::name(&party.name),
            phone_masked: mask::phone(&party.phone),
            id_number_masked: mask::id_number(&party.id_number),
        }
    }

    /// The party as answers and facts show it.
    pub fn to_proto(&self) -> Party {
        Party {
            party_id: self.id.to_string(),
            role: i32::from(self.role),
            name_masked: self.name_masked.clone(),
            phone_masked: self.phone_masked.clone(),
            id_number_masked: self.id_number_masked.clone(),
        }
    }

    /// The party in full.
    pub fn unseal(&self, cipher: &Cipher) -> Result<OpenParty, StoreError> {
        let open = |sealed: &Option<Vec<u8>>| match sealed {
            Some(s) => cipher.decrypt(self.id, s).map_err(|e| StoreError::Corrupt(format!("party {}: {e}", self.id))),
            None => Ok(String::new()),
        };
        Ok(OpenParty {
            role: PartyRole::try_from(i32::from(self.role)).unwrap_or(PartyRole::Unspecified),
            name: open(&Some(self.name_sealed.clone()))?,
            phone: open(&self.phone_sealed)?,
            id_number: open(&self.id_number_sealed)?,
            address: open(&self.address_sealed)?,
        })
    }
}

const COLUMNS: &str = "id, case_id, position, role, name_sealed, phone_sealed, id_number_sealed, address_sealed, \
                       name_masked, phone_masked, id_number_masked";

/// Inserts `rows` in one statement.
pub async fn insert(tx: &mut PgConnection, rows: &[PartyRow]) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let col = |f: fn(&PartyRow) -> Option<Vec<u8>>| rows.iter().map(f).collect::<Vec<_>>();
    sqlx::query(
        "INSERT INTO parties (id, case_id, position, role, name_sealed, phone_sealed, id_number_sealed, address_sealed, \
           name_masked, phone_masked, id_number_masked) \
         SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::int[], $4::smallint[], $5::bytea[], $6::bytea[], $7::bytea[], \
           $8::bytea[], $9::text[], $10::text[], $11::text[])",
    )
    .bind(rows.iter().map(|r| r.id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.case_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.position).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.role).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.name_sealed.clone()).collect::<Vec<_>>())
    .bind(col(|r| r.phone_sealed.clone()))
    .bind(col(|r| r.id_number_sealed.clone()))
    .bind(col(|r| r.address_sealed.clone()))
    .bind(rows.iter().map(|r| r.name_masked.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.phone_masked.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.id_number_masked.clone()).collect::<Vec<_>>())
    .execute(tx)
    .await?;
    Ok(())
}

/// The parties of the cases `ids`, by case, each case's in order.
pub async fn of_cases<'c, E: sqlx::PgExecutor<'c>>(
    executor: E,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<PartyRow>>, StoreError> {
    let rows: Vec<PartyRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM parties WHERE case_id = ANY($1) ORDER BY case_id, position"
    )))
    .bind(ids)
    .fetch_all(executor)
    .await?;
    Ok(super::by_case(rows, |p| p.case_id))
}
