//! The statistics, folded from the recorded facts of a period (docs/mediation.md#statistics).
//! Every fact is recorded with what the figures need of its case at that moment, so any past
//! period recomputes identically.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use civicgrid_proto::v1::{CaseSource, DisputeType, MediationStatsRow, Money, RegionPath};
use serde::{Deserialize, Serialize};

/// One recorded fact, with the case as it was then.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedFact {
    /// The fact, e.g. `case-accepted`.
    pub fact: String,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// The case's organisation.
    pub organisation_id: String,
    /// The case's mediator (empty when none).
    pub mediator_id: String,
    /// The case's region path.
    pub region: RegionPathRecord,
    /// The dispute type (the contract's number).
    pub dispute_type: i32,
    /// The case's source (the contract's number).
    pub source: i32,
    /// The amount involved in nano-yuan (units × 10⁹ + nanos).
    pub amount_nanos: i128,
    /// For outcomes (agreement, failure): days from acceptance.
    pub days_to_outcome: Option<f64>,
    /// For outcomes: whether it came after the mediation deadline.
    pub overdue: bool,
    /// For `case-confirmation-ruled`: "confirmed" or "invalid".
    pub ruling: Option<String>,
}

/// A region path as stored with a fact.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RegionPathRecord {
    /// City code.
    pub city: String,
    /// County code.
    pub county: String,
    /// Township code.
    pub township: String,
    /// Village code.
    pub village: String,
}

impl From<&RegionPath> for RegionPathRecord {
    fn from(p: &RegionPath) -> Self {
        RegionPathRecord {
            city: p.city.clone(),
            county: p.county.clone(),
            township: p.township.clone(),
            village: p.village.clone(),
        }
    }
}

impl RegionPathRecord {
    /// The path as the contract has it.
    pub fn to_proto(&self) -> RegionPath {
        RegionPath {
            city: self.city.clone(),
            county: self.county.clone(),
            township: self.township.clone(),
            village: self.village.clone(),
        }
    }
}

/// How the figures are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    /// One row for everything.
    Whole,
    /// By the region one level below the scope: counties of a city, townships of a county,
    /// villages of a township.
    Region(RegionLevel),
    /// By organisation.
    Organisation,
    /// By mediator.
    Mediator,
    /// By dispute type.
    DisputeType,
}

/// The region level figures are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegionLevel {
    /// Counties.
    County,
    /// Townships.
    Township,
    /// Villages.
    Village,
}

fn key(f: &RecordedFact, group: GroupBy) -> String {
    match group {
        GroupBy::Whole => String::new(),
        GroupBy::Region(RegionLevel::County) => f.region.county.clone(),
        GroupBy::Region(RegionLevel::Township) => f.region.township.clone(),
        GroupBy::Region(RegionLevel::Village) => f.region.village.clone(),
        GroupBy::Organisation => f.organisation_id.clone(),
        GroupBy::Mediator => f.mediator_id.clone(),
        GroupBy::DisputeType => {
            DisputeType::try_from(f.dispute_type).map(|t| t.as_str_name().to_string()).unwrap_or_default()
        }
    }
}

/// The running figures of one group.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Tally {
    /// `case-opened`.
    pub opened: i64,
    /// `case-accepted`.
    pub accepted: i64,
    /// `case-agreement-reached`.
    pub settled: i64,
    /// `case-failed`.
    pub failed: i64,
    /// Amounts of the cases accepted, in nano-yuan.
    pub amount_nanos: i128,
    /// Sum of days to outcome, and how many outcomes had them.
    pub days: (f64, i64),
    /// Outcomes after their deadline.
    pub overdue: i64,
    /// `case-confirmation-applied`.
    pub confirmations_applied: i64,
    /// `case-confirmation-ruled` with "confirmed".
    pub confirmations_confirmed: i64,
    /// Cases opened by a transfer in.
    pub transfers_in: i64,
    /// `case-transferred`.
    pub transfers_out: i64,
    /// `case-refused`.
    pub refused: i64,
    /// `case-withdrawn`.
    pub withdrawn: i64,
}

impl Tally {
    fn add(&mut self, f: &RecordedFact) {
        match f.fact.as_str() {
            "case-opened" => {
                self.opened += 1;
                let transferred_in = [CaseSource::Court, CaseSource::PetitionOffice, CaseSource::Police]
                    .iter()
                    .any(|s| *s as i32 == f.source);
                self.transfers_in += i64::from(transferred_in);
            }
            "case-accepted" => {
                self.accepted += 1;
                self.amount_nanos += f.amount_nanos;
            }
            "case-agreement-reached" | "case-failed" => {
                if f.fact == "case-failed" {
                    self.failed += 1;
                } else {
                    self.settled += 1;
                }
                if let Some(d) = f.days_to_outcome {
                    self.days.0 += d;
                    self.days.1 += 1;
                }
                self.overdue += i64::from(f.overdue);
            }
            "case-confirmation-applied" => self.confirmations_applied += 1,
            "case-confirmation-ruled" if f.ruling.as_deref() == Some("confirmed") => self.confirmations_confirmed += 1,
            "case-transferred" => self.transfers_out += 1,
            "case-refused" => self.refused += 1,
            "case-withdrawn" => self.withdrawn += 1,
            _ => {}
        }
    }

    /// settled ÷ (settled + failed); 0 when both are 0.
    pub fn success_rate(&self) -> f64 {
        let outcomes = self.settled + self.failed;
        if outcomes == 0 { 0.0 } else { self.settled as f64 / outcomes as f64 }
    }

    /// The mean days to outcome; 0 when there were none.
    pub fn mean_days(&self) -> f64 {
        if self.days.1 == 0 { 0.0 } else { self.days.0 / self.days.1 as f64 }
    }

    /// The contract's row for group `key`.
    pub fn to_proto(&self, key: String) -> MediationStatsRow {
        MediationStatsRow {
            key,
            opened: self.opened,
            accepted: self.accepted,
            settled: self.settled,
            failed: self.failed,
            success_rate: self.success_rate(),
            amount_involved: Some(money_of_nanos(self.amount_nanos)),
            mean_days_to_outcome: self.mean_days(),
            overdue: self.overdue,
            confirmations_applied: self.confirmations_applied,
            confirmations_confirmed: self.confirmations_confirmed,
            transfers_in: self.transfers_in,
            transfers_out: self.transfers_out,
            refused: self.refused,
            withdrawn: self.withdrawn,
        }
    }
}

/// The facts of `[from, to)` folded by `group`, ordered by key.
pub fn fold(facts: &[RecordedFact], from: DateTime<Utc>, to: DateTime<Utc>, group: GroupBy) -> BTreeMap<String, Tally> {
    let mut out: BTreeMap<String, Tally> = BTreeMap::new();
    for f in facts.iter().filter(|f| f.at >= from && f.at < to) {
        out.entry(key(f, group)).or_default().add(f);
    }
    out
}

/// An amount in nano-yuan.
pub fn nanos_of_money(m: &Money) -> i128 {
    i128::from(m.units) * 1_000_000_000 + i128::from(m.nanos)
}

/// An amount in nano-yuan as CNY money.
pub fn money_of_nanos(nanos: i128) -> Money {
    let units = nanos / 1_000_000_000;
    let rest = nanos % 1_000_000_000;
    Money {
        currency_code: "CNY".into(),
        units: i64::try_from(units).unwrap_or(i64::MAX),
        nanos: i32::try_from(rest).unwrap_or(0),
    }
}

#[cfg(test)]
mod tests;
