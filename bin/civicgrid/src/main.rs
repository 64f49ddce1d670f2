//! `civicgrid`: one binary for the whole suite.
//!
//! - `civicgrid up` starts everything on one machine (NATS, PostgreSQL, every service, a demo
//!   city) and prints where it listens. Development machinery: built only with the default
//!   `dev` feature (container images are built without it).
//! - `civicgrid service <name>` runs one service, configured by `CIVICGRID__…` variables or a
//!   TOML file; this is what containers run. `civicgrid service <name> <name>…` runs several in
//!   one process, for small deployments.
//! - `civicgrid console` runs the command center's web console (docs/console.md).
//! - `civicgrid token` signs a bearer token for a role and region.
//! - `civicgrid topology` prints the bus contracts and the services (`--json` for tools).
//! - `civicgrid access` prints who may call each RPC (`--json` for tools).
//! - `civicgrid tail` prints one region's facts as JSON lines (docs/county-centers.md).
//!
//! [`registry`] is the one list of services behind all of them.

mod access;
mod audit;
mod console;
mod decode;
#[cfg(feature = "dev")]
mod demo;
mod registry;
mod service;
mod tail;
mod token;
mod topology;
#[cfg(feature = "dev")]
mod up;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "civicgrid", version, about = "civicgrid: municipal social-governance platform")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole suite on this machine, with a demo city.
    #[cfg(feature = "dev")]
    Up(up::UpArgs),
    /// Run one service (what a container runs), or several in one process (a small deployment:
    /// `CIVICGRID_<SERVICE>__…` variables then set one service's own settings).
    Service {
        /// The service, or services.
        #[arg(required = true, num_args = 1.., value_parser = clap::builder::PossibleValuesParser::new(registry::SERVICES.iter().map(|e| e.name)))]
        names: Vec<String>,
        /// A TOML configuration file (also `CIVICGRID_CONFIG`); environment variables override it.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Run the command center's web console (what its container runs).
    Console {
        /// A TOML configuration file (also `CIVICGRID_CONFIG`); environment variables override it.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Sign a bearer token (HS256) for testing and integration set-ups.
    Token(token::TokenArgs),
    /// Print the bus contracts (streams, facts, consumers) and the services.
    Topology(topology::TopologyArgs),
    /// Print one region's facts as JSON lines, as a county or township center receives them.
    Tail(tail::TailArgs),
    /// Print who may call each RPC of each service (the tables the services enforce).
    Access(access::AccessArgs),
    /// Check the services' hash-chained audit trails, or export records for an inspector.
    Audit(audit::AuditArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("civicgrid: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            #[cfg(feature = "dev")]
            Command::Up(args) => up::run(args).await,
            Command::Service { names, config } => service::run(&names, config).await,
            Command::Console { config } => console::run(config).await,
            Command::Token(args) => token::run(args),
            Command::Topology(args) => topology::run(args),
            Command::Tail(args) => tail::run(args).await,
            Command::Audit(args) => audit::run(args).await,
            Command::Access(args) => access::run(args),
        }
    });
    // Dropping the runtime would wait for every blocking task (a child's pipe, a slow DNS
    // lookup) without limit; what is left after the command returned gets a moment, no more.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("civicgrid: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
