//! Where PostgreSQL's time goes, statement by statement (`loop --statements`): `up`'s
//! PostgreSQL is restarted with `pg_stat_statements` loaded (stopped with SIGINT, a fast
//! shutdown; `up` starts it again as it does a server that died, and the services' pools
//! reconnect), and each phase prints its statements by total execution time, with the time spent
//! planning them (`pg_stat_statements.track_planning`: a statement planned at every execution
//! shows it there, not in its execution time). Only statements sent by a client are listed:
//! what a statement runs inside it (foreign-key checks, triggers), planning included, counts in
//! its execution time.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use serde::Serialize;
use sqlx::{Connection, Executor, PgConnection};

use super::up::{self, Up};

/// One statement's share of a phase.
#[derive(Debug, Clone, Serialize)]
pub struct Statement {
    /// The service's role.
    pub role: String,
    /// Executions.
    pub calls: i64,
    /// Total execution time, ms.
    pub total_ms: f64,
    /// Total planning time, ms (what planning a statement cost at its executions that were
    /// planned; a kept plan costs none).
    pub plan_ms: f64,
    /// How many times it was planned.
    pub plans: i64,
    /// Rows it returned or changed.
    pub rows: i64,
    /// Its text, whitespace folded, cut at 110 characters.
    pub query: String,
}

/// The suite's database on `up`'s PostgreSQL, as its superuser.
fn url(up: &Up) -> String {
    format!("postgres://postgres@127.0.0.1:{}/civicgrid", up.postgres_port)
}

/// Restarts `up`'s PostgreSQL with `pg_stat_statements` and creates the extension in the
/// suite's database; waits until every service answers SERVING again.
pub async fn enable(up: &Up) -> Result<()> {
    let mut admin = PgConnection::connect(&up.admin_db_url()).await.context("connecting to up's PostgreSQL")?;
    admin.execute("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'").await?;
    let _ = admin.close().await;
    let Some(old) = up::pid_in(&up.state_path, "postgres") else { bail!("no postgres.pid in up's state") };
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(old as i32, libc::SIGINT) };
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let restarted = up::pid_in(&up.state_path, "postgres").is_some_and(|p| p != old);
        if restarted && let Ok(mut conn) = PgConnection::connect(&url(up)).await {
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements").await.context("pg_stat_statements")?;
            // Known only once the library is loaded; every backend takes it at the reload.
            conn.execute("ALTER SYSTEM SET pg_stat_statements.track_planning = on")
                .await
                .context("pg_stat_statements.track_planning")?;
            conn.execute("SELECT pg_reload_conf()").await.context("reloading PostgreSQL's settings")?;
            let _ = conn.close().await;
            break;
        }
        if Instant::now() > deadline {
            bail!("up's PostgreSQL did not come back with pg_stat_statements within 90 s");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for service in up::SERVICES {
        let port = up.grpc.get(service).copied().unwrap_or(0);
        while !super::procs::serving(&format!("http://127.0.0.1:{port}")).await {
            if Instant::now() > deadline {
                bail!("{service} did not answer SERVING after PostgreSQL's restart");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    // Pools reconnect at their next use; let every worker and relay have one.
    tokio::time::sleep(Duration::from_secs(3)).await;
    Ok(())
}

/// Forgets the statistics gathered so far.
pub async fn reset(up: &Up) -> Result<()> {
    let mut conn = PgConnection::connect(&url(up)).await?;
    conn.execute("SELECT pg_stat_statements_reset()").await?;
    let _ = conn.close().await;
    Ok(())
}

/// What every statement of the suite's database cost since the last reset, ms.
#[derive(Debug, Clone, Copy, Default)]
pub struct Totals {
    /// Execution.
    pub exec_ms: f64,
    /// Planning.
    pub plan_ms: f64,
}

/// The `n` statements with the most execution and planning time since the last reset, and the
/// totals of all.
pub async fn top(up: &Up, n: i64) -> Result<(Totals, Vec<Statement>)> {
    let mut conn = PgConnection::connect(&url(up)).await?;
    let db = "(SELECT oid FROM pg_database WHERE datname = 'civicgrid')";
    let (exec_ms, plan_ms): (Option<f64>, Option<f64>) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT sum(total_exec_time), sum(total_plan_time) FROM pg_stat_statements WHERE dbid = {db}"
    )))
    .fetch_one(&mut conn)
    .await?;
    let rows: Vec<(String, i64, f64, f64, i64, i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT r.rolname::text, s.calls, s.total_exec_time, s.total_plan_time, s.plans, s.rows, \
         left(regexp_replace(s.query, '\\s+', ' ', 'g'), 110) \
         FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid \
         WHERE s.dbid = {db} ORDER BY s.total_exec_time + s.total_plan_time DESC LIMIT $1"
    )))
    .bind(n)
    .fetch_all(&mut conn)
    .await?;
    let _ = conn.close().await;
    let statements = rows
        .into_iter()
        .map(|(role, calls, total_ms, plan_ms, plans, rows, query)| Statement {
            role,
            calls,
            total_ms,
            plan_ms,
            plans,
            rows,
            query,
        })
        .collect();
    Ok((Totals { exec_ms: exec_ms.unwrap_or(0.0), plan_ms: plan_ms.unwrap_or(0.0) }, statements))
}

/// Rows inserted, updated and deleted in the suite's database so far (`pg_stat_database`;
/// backends publish these about once a second).
pub async fn rows_written(up: &Up) -> Option<i64> {
    let mut conn = PgConnection::connect(&up.admin_db_url()).await.ok()?;
    let n = sqlx::query_scalar(
        "SELECT (tup_inserted + tup_updated + tup_deleted)::int8 FROM pg_stat_database WHERE datname = 'civicgrid'",
    )
    .fetch_one(&mut conn)
    .await
    .ok();
    let _ = conn.close().await;
    n
}

/// What PostgreSQL counted of one table so far.
#[derive(Clone, Copy, Debug, Default)]
pub struct TableCounts {
    /// Rows read by sequential scans.
    pub seq_read: i64,
    /// Rows inserted, updated and deleted.
    pub written: i64,
}

/// Counts so far per table of the suite's database (`schema.table`, `pg_stat_user_tables`): a
/// table scanned whole for each message costs more the longer the suite runs, and the rows
/// written by table say where a report's writes go.
pub async fn table_counts(up: &Up) -> Option<HashMap<String, TableCounts>> {
    let mut conn = PgConnection::connect(&url(up)).await.ok()?;
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT schemaname || '.' || relname, seq_tup_read, (n_tup_ins + n_tup_upd + n_tup_del)::int8 \
         FROM pg_stat_user_tables",
    )
    .fetch_all(&mut conn)
    .await
    .ok()?;
    let _ = conn.close().await;
    Some(rows.into_iter().map(|(t, seq_read, written)| (t, TableCounts { seq_read, written })).collect())
}

/// The `top` tables with the most of `count` between `a` and `b`, per report (at least one).
pub fn per_report(
    a: &HashMap<String, TableCounts>,
    b: &HashMap<String, TableCounts>,
    reports: u64,
    top: usize,
    count: impl Fn(&TableCounts) -> i64,
) -> Vec<(String, f64)> {
    let mut v: Vec<(String, f64)> = b
        .iter()
        .map(|(t, n)| {
            let before = a.get(t).map(&count).unwrap_or(0);
            (t.clone(), (count(n) - before).max(0) as f64 / reports.max(1) as f64)
        })
        .filter(|(_, n)| *n >= 1.0)
        .collect();
    v.sort_by(|x, y| y.1.total_cmp(&x.1).then_with(|| x.0.cmp(&y.0)));
    v.truncate(top);
    v
}

/// Prints a phase's statements per accepted report: the 15 with the most execution and
/// planning time.
pub fn print(totals: Totals, statements: &[Statement], reports: u64) {
    let per = |v: f64| v / reports.max(1) as f64;
    crate::field(
        "statements",
        format!(
            "{:.3} ms of execution and {:.3} ms of planning per report in all statements (pg_stat_statements); \
             the most (execution, planning, calls and plans per report):",
            per(totals.exec_ms),
            per(totals.plan_ms)
        ),
    );
    for s in statements.iter().take(15) {
        crate::field(
            "",
            format!(
                "{:>6.3} {:>6.3} ms {:>5.2} {:>5.2} /report  {:<9} {}",
                per(s.total_ms),
                per(s.plan_ms),
                per(s.calls as f64),
                per(s.plans as f64),
                s.role,
                s.query
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(rows: &[(&str, i64)]) -> HashMap<String, TableCounts> {
        rows.iter().map(|(t, n)| (t.to_string(), TableCounts { seq_read: 0, written: *n })).collect()
    }

    #[test]
    fn tables_are_ranked_by_what_each_report_cost_them() {
        let before = counts(&[("intake.events", 100), ("notify.deliveries", 50), ("dispatch.tasks", 10)]);
        let after = counts(&[
            ("intake.events", 300),     // 2 a report
            ("notify.deliveries", 350), // 3 a report
            ("dispatch.tasks", 15),     // 0.05 a report: under one, left out
            ("notify.outbox", 200),     // new since `before`: 2 a report
        ]);
        let top = per_report(&before, &after, 100, 10, |c| c.written);
        assert_eq!(
            top,
            vec![("notify.deliveries".into(), 3.0), ("intake.events".into(), 2.0), ("notify.outbox".into(), 2.0)],
            "most first, ties by name"
        );
        assert_eq!(per_report(&before, &after, 100, 1, |c| c.written).len(), 1, "at most `top`");
        // Counters reset (a restarted server) count as nothing, not as a negative cost.
        assert!(per_report(&after, &before, 100, 10, |c| c.written).is_empty());
        // No report: per one, not a division by zero.
        assert_eq!(per_report(&before, &after, 0, 1, |c| c.written)[0].1, 300.0);
    }
}
