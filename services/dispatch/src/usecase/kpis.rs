//! Assessment figures (考核, [`Store::kpis`], [`Store::grid_worker_kpis`]): the tasks in scope
//! read, their facts dated before the period's end folded into records, and the records
//! scored by [`crate::domain::kpi`].

use std::collections::HashMap;

use civicgrid_proto::v1 as pb;
use uuid::Uuid;

use crate::{
    domain::kpi::{self, Period, TaskRecord},
    store::{
        Store, StoreError, TaskFilter, facts,
        tasks::{self, TaskHead},
    },
};

impl Store {
    /// Assessment figures for `scope` over `period`, folded from the recorded facts.
    pub async fn kpis(
        &self,
        department: Option<&str>,
        region_code: Option<&str>,
        period: Period,
    ) -> Result<kpi::TaskKpis, StoreError> {
        let heads = match (department, region_code) {
            (Some(d), _) => tasks::heads_assigned_to(&self.pool, d).await?,
            (None, code) => {
                let mut f = TaskFilter::default();
                if let Some(code) = code {
                    f.set_region(code);
                }
                tasks::heads_in_region(&self.pool, &f).await?
            }
        };
        let records = self.records(heads, period).await?;
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
        let heads = tasks::heads_of_grid_worker(&self.pool, worker_id, period.to).await?;
        let records = self.records(heads, period).await?;
        Ok(kpi::grid_worker_kpis(&records, worker_id, period))
    }

    /// The assessment records of `heads`, folded from their facts dated before the period's end.
    async fn records(&self, heads: Vec<TaskHead>, period: Period) -> Result<Vec<TaskRecord>, StoreError> {
        let ids: Vec<Uuid> = heads.iter().map(|t| t.0).collect();
        let facts = facts::recorded_before(&self.pool, &ids, period.to).await?;
        let mut records: HashMap<Uuid, TaskRecord> = heads
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
