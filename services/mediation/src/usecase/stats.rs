//! GetStats: the recorded facts of a period within a scope, folded by `domain::stats`, and the
//! organisations in scope that opened no case (零报告).

use chrono::{DateTime, Utc};
use civicgrid_kit::region::{self, Level};
use civicgrid_proto::v1::MediationStats;

use crate::{
    domain::stats::{self, GroupBy, RegionLevel, Tally},
    store::{Store, StoreError, case_facts, cases::CaseFilter},
};

/// What GetStats asks, checked.
#[derive(Debug, Clone)]
pub struct StatsQuery {
    /// Start of the period (inclusive).
    pub from: DateTime<Utc>,
    /// End of the period (exclusive).
    pub to: DateTime<Utc>,
    /// The scope: its region, organisation and mediator fields.
    pub scope: CaseFilter,
    /// The region code of the scope (empty: everywhere), for the zero reports.
    pub region: String,
    /// How to group.
    pub group: GroupBy,
}

/// The grouping of a `group_by` name in a scope of region `scope` (empty: everywhere):
/// regions one level below the scope (counties of everywhere or of a city, townships of a
/// county, villages of a township or a village). `None` for an unknown name.
pub fn group_of(name: &str, scope: &str) -> Option<GroupBy> {
    Some(match name {
        "" => GroupBy::Whole,
        "organisation" => GroupBy::Organisation,
        "mediator" => GroupBy::Mediator,
        "dispute_type" => GroupBy::DisputeType,
        "region" => GroupBy::Region(match region::level(scope) {
            Ok(Level::County) => RegionLevel::Township,
            Ok(Level::Township | Level::Village) => RegionLevel::Village,
            Ok(Level::City) | Err(_) => RegionLevel::County,
        }),
        _ => return None,
    })
}

impl Store {
    /// The figures of `q`.
    pub async fn stats(&self, q: &StatsQuery) -> Result<MediationStats, StoreError> {
        let facts = case_facts::recorded_between(&self.pool, q.from, q.to, &q.scope).await?;
        let mut folded = stats::fold(&facts, q.from, q.to, q.group);
        if q.group == GroupBy::Whole && folded.is_empty() {
            folded.insert(String::new(), Tally::default());
        }
        let zero_report_organisations = if q.group == GroupBy::Organisation {
            let refdata = self.refdata();
            refdata
                .organisations
                .iter()
                .filter(|o| region::within(&o.org.region_code, &q.region))
                .filter(|o| q.scope.organisation_id.as_ref().is_none_or(|only| *only == o.org.id))
                .filter(|o| folded.get(&o.org.id).is_none_or(|t| t.opened == 0))
                .map(|o| o.org.id.clone())
                .collect()
        } else {
            vec![]
        };
        Ok(MediationStats {
            rows: folded.into_iter().map(|(key, tally)| tally.to_proto(key)).collect(),
            zero_report_organisations,
        })
    }
}
