//! Field checks every handler shares. Each records what is wrong in the call's
//! [`Violations`] under the field's proto path (`parties[1].phone`) and returns what it could
//! read, so a handler reports every bad field at once.

use chrono::{DateTime, Utc};
use civicgrid_kit::{
    grpc::{REQUEST_ID_RULE, Violations, is_request_id},
    region,
    time::from_proto,
};
use civicgrid_proto::v1::{Money, PartyInput, PartyRole, RegionPath};
use prost_types::Timestamp;
use uuid::Uuid;

use crate::{
    domain::{mask, stats::nanos_of_money},
    store::parties::NewParty,
    usecase::effects::MAX_PARTIES,
};

/// `request_id`.
pub fn request_id(v: &mut Violations, id: &str) {
    if !is_request_id(id) {
        v.add("request_id", REQUEST_ID_RULE);
    }
}

/// A UUID field; nil when it is not one.
pub fn uuid(v: &mut Violations, field: &str, id: &str) -> Uuid {
    Uuid::parse_str(id).unwrap_or_else(|_| {
        v.add(field, "must be a UUID");
        Uuid::nil()
    })
}

/// A text of `min` to `max` characters once trimmed; returns it trimmed.
pub fn text(v: &mut Violations, field: &str, value: &str, min: usize, max: usize) -> String {
    let t = value.trim();
    if !(min..=max).contains(&t.chars().count()) {
        v.add(field, format!("must be {min} to {max} characters"));
    }
    t.to_string()
}

/// A reason, 2 to 500 characters.
pub fn reason(v: &mut Violations, value: &str) -> String {
    text(v, "reason", value, 2, 500)
}

/// An id of the reference data (organisation, mediator): 1 to 64 of `A-Za-z0-9-_.`.
pub fn plain_id(v: &mut Violations, field: &str, id: &str) {
    let ok = (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    v.check(ok, field, "must be 1 to 64 characters of A-Z a-z 0-9 - _ .");
}

/// An amount of money: non-negative, CNY; in nano-yuan.
pub fn money(v: &mut Violations, field: &str, m: &Money) -> i128 {
    let mut ok = true;
    if m.currency_code != "CNY" {
        v.add(format!("{field}.currency_code"), "must be CNY");
        ok = false;
    }
    if m.units < 0 {
        v.add(format!("{field}.units"), "must not be negative");
        ok = false;
    }
    if !(0..1_000_000_000).contains(&m.nanos) {
        v.add(format!("{field}.nanos"), "must be 0 to 999,999,999");
        ok = false;
    }
    if ok { nanos_of_money(m) } else { 0 }
}

/// A timestamp that is set and in range.
pub fn instant(v: &mut Violations, field: &str, ts: Option<&Timestamp>) -> Option<DateTime<Utc>> {
    let at = ts.and_then(from_proto);
    if at.is_none() {
        v.add(field, if ts.is_none() { "is required" } else { "is not a valid timestamp" });
    }
    at
}

/// The parties of a request under `field` (`parties`): each one checked, at most 20.
pub fn parties(v: &mut Violations, field: &str, parties: &[PartyInput]) -> Vec<NewParty> {
    if parties.len() > MAX_PARTIES {
        v.add(field, format!("at most {MAX_PARTIES} parties"));
    }
    let mut out = Vec::with_capacity(parties.len());
    for (i, p) in parties.iter().enumerate() {
        let at = |name: &str| format!("{field}[{i}].{name}");
        let role = PartyRole::try_from(p.role).unwrap_or(PartyRole::Unspecified);
        if role == PartyRole::Unspecified {
            v.add(at("role"), "must be APPLICANT, RESPONDENT or THIRD_PARTY");
        }
        let name = text(v, &at("name"), &p.name, 1, 50);
        let phone = p.phone.trim().to_string();
        if !phone.is_empty() && !mask::is_mobile(&phone) {
            v.add(at("phone"), "must be a mobile number: 11 digits starting with 1");
        }
        let id_number = p.id_number.trim().to_ascii_uppercase();
        if !id_number.is_empty() && !mask::is_id_number(&id_number) {
            v.add(at("id_number"), "must be an 18-character resident ID number with a valid check digit");
        }
        let address = text(v, &at("address"), &p.address, 0, 200);
        out.push(NewParty { role, name, phone, id_number, address });
    }
    out
}

/// Where a case is: a township or village code, or a grid code; its path and the grid.
pub fn place(v: &mut Violations, field: &str, code: &str) -> Option<(RegionPath, Option<String>)> {
    let found = match code.len() {
        15 => region::path_of_grid(code).ok().map(|p| (p, Some(code.to_string()))),
        9 | 12 => region::path_of(code).ok().map(|p| (p, None)),
        _ => None,
    };
    if found.is_none() {
        v.add(field, "must be a township (9 digits) or village (12) code, or a grid code (15)");
    }
    found
}

/// A region code of any level, or empty.
pub fn region_code(v: &mut Violations, field: &str, code: &str) {
    if !code.is_empty() && region::level(code).is_err() {
        v.add(field, "must be a 6, 9 or 12-digit region code");
    }
}
