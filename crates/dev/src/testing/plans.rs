//! Whether a statement reads tables whole: for tests that pin a statement's plan to index
//! lookups while the planner has no statistics yet (a new deployment's first minutes, before
//! autovacuum's first ANALYZE, when a cached plan is also made).

use sqlx::PgConnection;

/// Switches autovacuum off for `tables` of the connection's schema, so that no ANALYZE gives
/// the planner statistics while the test runs (the test's own schema; nothing else sees it).
pub async fn without_statistics(conn: &mut PgConnection, tables: &[&str]) -> Result<(), sqlx::Error> {
    for table in tables {
        let sql = format!("ALTER TABLE {table} SET (autovacuum_enabled = false)");
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut *conn).await?;
    }
    let analyzed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_user_tables WHERE relname = ANY($1) AND schemaname = current_schema() \
         AND (last_analyze IS NOT NULL OR last_autoanalyze IS NOT NULL)",
    )
    .bind(tables)
    .fetch_one(&mut *conn)
    .await?;
    assert_eq!(analyzed, 0, "{tables:?} were analysed already: the test would prove nothing");
    Ok(())
}

/// Rows read by sequential scans of `table` (of the connection's schema) in the current
/// transaction so far (`pg_stat_xact_user_tables`: exact and immediate, unlike the cumulative
/// statistics, which backends publish about once a second). Since PostgreSQL 15 the figure also
/// holds the connection's earlier transactions that were not published yet: to count one
/// statement's reads, subtract a reading taken just before it.
pub async fn seq_rows_read(conn: &mut PgConnection, table: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT coalesce(sum(seq_tup_read), 0)::int8 FROM pg_stat_xact_user_tables \
         WHERE relname = $1 AND schemaname = current_schema()",
    )
    .bind(table)
    .fetch_one(&mut *conn)
    .await
}
