//! The test harness: every test gets its own nats-server and its own database.
//!
//! [`nats`] starts a nats-server with JetStream in a temporary directory on a free port.
//! [`database`] creates a fresh database on a PostgreSQL server: the one named by
//! `CIVICGRID__DATABASE__URL` when set, otherwise one managed cluster per test process,
//! started on first use and removed when the process ends. [`stream`] reads what a stream
//! holds; [`eventually`] waits for a condition; [`status`] asserts gRPC answers; [`metrics`]
//! scrapes and parses `GET /metrics`; [`proxy`] cuts a service off from a dependency;
//! [`raw`] sends bytes no generated client would; [`python`] runs outside tools (grpcio).

pub mod metrics;
pub mod plans;
pub mod proxy;
pub mod python;
pub mod raw;
pub mod status;
pub mod stream;

use std::time::Duration;

use std::{ops::Deref, ops::DerefMut};

use tokio::sync::OnceCell;

use crate::infra::{self, InfraError, NatsOptions, NatsServer, PostgresOptions, PostgresServer, io_err};

/// A test's own nats-server; stopped and deleted when dropped.
pub struct TestNats {
    server: NatsServer,
    _dir: tempfile::TempDir,
}

impl Deref for TestNats {
    type Target = NatsServer;
    fn deref(&self) -> &NatsServer {
        &self.server
    }
}

impl DerefMut for TestNats {
    fn deref_mut(&mut self) -> &mut NatsServer {
        &mut self.server
    }
}

/// Starts a nats-server for one test (`sync_interval: always`, like the single-node default).
pub async fn nats() -> Result<TestNats, InfraError> {
    let binary = tokio::task::spawn_blocking(infra::nats::find_binary)
        .await
        .map_err(|e| InfraError::Missing(e.to_string()))??;
    let dir = tempfile::Builder::new().prefix("civicgrid-test-nats-").tempdir().map_err(io_err("temp dir"))?;
    let server = NatsServer::start(NatsOptions {
        binary,
        dir: dir.path().to_path_buf(),
        port: None,
        sync_interval: "always".into(),
        auth: None,
        cluster: None,
    })
    .await?;
    Ok(TestNats { server, _dir: dir })
}

struct SharedPostgres {
    url: String,
    _server: Option<PostgresServer>,
}

static SHARED: OnceCell<Result<SharedPostgres, String>> = OnceCell::const_new();

async fn shared_server_url() -> Result<String, InfraError> {
    let shared = SHARED
        .get_or_init(|| async {
            if let Ok(url) = std::env::var("CIVICGRID__DATABASE__URL")
                && !url.is_empty()
            {
                return Ok(SharedPostgres { url, _server: None });
            }
            start_shared().await.map_err(|e| e.to_string())
        })
        .await;
    match shared {
        Ok(s) => Ok(s.url.clone()),
        Err(e) => Err(InfraError::Missing(e.clone())),
    }
}

async fn start_shared() -> Result<SharedPostgres, InfraError> {
    let bin_dir = tokio::task::spawn_blocking(infra::postgres::find_bin_dir)
        .await
        .map_err(|e| InfraError::Missing(e.to_string()))??;
    // Not a TempDir: the cluster lives as long as the process and the watchdog removes it.
    let dir =
        tempfile::Builder::new().prefix("civicgrid-test-pg-").tempdir_in("/tmp").map_err(io_err("temp dir"))?.keep();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).map_err(io_err("chmod temp dir"))?;
    }
    let server = PostgresServer::start(PostgresOptions {
        bin_dir,
        data_dir: dir.join("data"),
        port: None,
        unsafe_fast: true,
        max_connections: 400,
    })
    .await?;
    if let Some(pid) = server.pid() {
        infra::spawn_watchdog(std::process::id(), pid, Some(&dir));
    }
    Ok(SharedPostgres { url: server.url(), _server: Some(server) })
}

/// Creates an empty database of this test's own and returns its URL (as the superuser).
pub async fn database() -> Result<String, InfraError> {
    let server = shared_server_url().await?;
    let name = format!("cg_test_{}", uuid::Uuid::now_v7().simple());
    crate::provision::ensure_database(&server, &name)
        .await
        .map_err(|e| InfraError::Start { what: "test database", reason: e.to_string() })
}

/// Polls `check` every 25 ms until it holds; panics naming `what` after 20 s.
pub async fn eventually<F, Fut>(what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    eventually_within(Duration::from_secs(20), what, check).await
}

/// Polls `check` every 25 ms until it holds; panics naming `what` after `limit`.
pub async fn eventually_within<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Waits (up to 20 s) until the outbox of `schema` in the database of `pool` is empty, so that
/// what a test reads from the stream includes every change committed before the call. Without
/// it a test that reads the stream right after an answer races the relay. Panics with what is
/// left when the relay does not drain it in time, rather than letting a later assertion fail
/// for a reason it cannot name.
pub async fn outbox_drained(pool: &sqlx::PgPool, schema: &str) {
    let sql = format!("SELECT count(*) FROM {schema}.outbox");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let left = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.clone())).fetch_one(pool).await;
        if matches!(left, Ok(0)) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{schema}.outbox not drained within 20 s: {left:?} rows left (is the relay running?)"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
