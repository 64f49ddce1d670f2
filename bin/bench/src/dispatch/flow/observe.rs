//! What PostgreSQL tells about a phase: rows written per table (`pg_stat_user_tables`), where
//! dispatch's backends wait (`pg_stat_activity`), and per-statement figures
//! (`pg_stat_statements`, when loaded). Catalog and statistics views only.

use std::{collections::BTreeMap, time::Duration};

use civicgrid_kit::Shutdown;
use sqlx::Connection;
use tokio::task::JoinHandle;

use crate::env::Env;

/// Rows inserted, updated and deleted per table of one database (`pg_stat_user_tables`).
pub(super) async fn table_counters(db_url: &str) -> BTreeMap<String, (i64, i64, i64)> {
    let Ok(mut conn) = sqlx::PgConnection::connect(db_url).await else { return BTreeMap::new() };
    let rows: Vec<(String, String, i64, i64, i64)> = sqlx::query_as(
        "SELECT schemaname::text, relname::text, n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap_or_default();
    let _ = conn.close().await;
    rows.into_iter().map(|(s, t, i, u, d)| (format!("{s}.{t}"), (i, u, d))).collect()
}

/// Where PostgreSQL's backends of one database spend their time: sampled from
/// `pg_stat_activity` every 10 ms while a phase runs.
pub(super) struct WaitSampler {
    stop: Shutdown,
    handle: JoinHandle<(u64, BTreeMap<String, u64>)>,
}

impl WaitSampler {
    pub(super) async fn start(env: &Env) -> Option<WaitSampler> {
        let mut conn = sqlx::PgConnection::connect(&env.admin_url).await.ok()?;
        let db = env.db_name.clone();
        let stop = Shutdown::new();
        let s = stop.clone();
        let handle = tokio::spawn(async move {
            let mut tally: BTreeMap<String, u64> = BTreeMap::new();
            let mut samples = 0u64;
            let mut tick = tokio::time::interval(Duration::from_millis(10));
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = s.cancelled() => break,
                }
                let rows: Vec<(String, Option<String>, Option<String>, String)> = match sqlx::query_as(
                    "SELECT coalesce(state, ''), wait_event_type, wait_event, coalesce(application_name, '') \
                     FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
                )
                .bind(&db)
                .fetch_all(&mut conn)
                .await
                {
                    Ok(r) => r,
                    Err(_) => continue,
                };
                samples += 1;
                for (state, kind, event, app) in rows {
                    if app != "civicgrid-dispatch" {
                        continue;
                    }
                    let key = match state.as_str() {
                        "active" => match (kind, event) {
                            (Some(k), Some(e)) => format!("active, waiting on {k}:{e}"),
                            _ => "active, on CPU".to_string(),
                        },
                        "idle in transaction" => "idle in transaction (waiting for dispatch's next statement)".into(),
                        _ => continue,
                    };
                    *tally.entry(key).or_default() += 1;
                }
            }
            let _ = conn.close().await;
            (samples, tally)
        });
        Some(WaitSampler { stop, handle })
    }

    /// (what, average number of dispatch's backends in that state), largest first.
    pub(super) async fn finish(self) -> Vec<(String, f64)> {
        self.stop.cancel();
        let Ok((samples, tally)) = self.handle.await else { return vec![] };
        let mut v: Vec<(String, f64)> = tally.into_iter().map(|(k, n)| (k, n as f64 / samples.max(1) as f64)).collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1));
        v
    }
}

/// `pg_stat_statements`, when the server preloads it: reset before a phase, read after.
pub struct Statements {
    url: String,
}

/// One statement's figures over a phase.
pub struct StatementLine {
    pub calls: i64,
    pub total_ms: f64,
    pub mean_ms: f64,
    pub rows: i64,
    pub query: String,
}

impl Statements {
    /// Enables it in the run's database if the server has it loaded.
    pub async fn enable(db_url: &str) -> Option<Statements> {
        let mut conn = sqlx::PgConnection::connect(db_url).await.ok()?;
        let ok = sqlx::raw_sql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements").execute(&mut conn).await.is_ok()
            && sqlx::raw_sql("SELECT pg_stat_statements_reset()").execute(&mut conn).await.is_ok();
        let _ = conn.close().await;
        ok.then(|| Statements { url: db_url.to_string() })
    }

    pub(super) async fn reset(&self) {
        if let Ok(mut conn) = sqlx::PgConnection::connect(&self.url).await {
            let _ = sqlx::raw_sql("SELECT pg_stat_statements_reset()").execute(&mut conn).await;
            let _ = conn.close().await;
        }
    }

    pub(super) async fn read(&self) -> Vec<StatementLine> {
        let Ok(mut conn) = sqlx::PgConnection::connect(&self.url).await else { return vec![] };
        let rows: Vec<(i64, f64, f64, i64, String)> = sqlx::query_as(
            "SELECT calls, total_exec_time, mean_exec_time, rows, query FROM pg_stat_statements \
             WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
             ORDER BY total_exec_time DESC LIMIT 25",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap_or_default();
        let _ = conn.close().await;
        rows.into_iter()
            .map(|(calls, total_ms, mean_ms, rows, query)| StatementLine {
                calls,
                total_ms,
                mean_ms,
                rows,
                query: query.split_whitespace().collect::<Vec<_>>().join(" "),
            })
            .collect()
    }
}
