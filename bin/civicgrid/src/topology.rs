//! `civicgrid topology`: the bus contracts and the services, from the code that runs them. The
//! deployment tooling (deploy/nats/gen-auth.py, deploy/check) reads `--json`.

use serde::Serialize;

use crate::registry::{self, SERVICES};

/// Arguments of `civicgrid topology`.
#[derive(clap::Args, Debug)]
pub struct TopologyArgs {
    /// Print JSON (for tools) instead of a table.
    #[arg(long)]
    json: bool,
}

/// What `--json` prints.
#[derive(Serialize)]
struct Topology {
    /// Streams, facts, the dead-letter stream and every durable consumer.
    bus: civicgrid_contracts::Topology,
    /// Every service the binary runs.
    services: Vec<ServiceInfo>,
    /// The command-center console (`civicgrid console`): what its deployment needs besides
    /// its NATS user, which follows from `bus.readers`.
    console: ConsoleInfo,
}

/// The console in the topology.
#[derive(Serialize)]
struct ConsoleInfo {
    /// Its name, its NATS user and the reader of `bus.readers` it is.
    name: &'static str,
    /// What its container runs: `civicgrid console`.
    args: Vec<&'static str>,
    /// The setting (as an environment variable) of its HTTP listen address.
    listen: String,
    /// The setting of the city's GeoJSON file.
    geometry_path: String,
    /// Settings that must hold a service's gRPC URL, with that service's name.
    peers: Vec<(String, &'static str)>,
}

/// The console's settings that name a service (crates/console `ConsoleSection`).
const CONSOLE_PEERS: [(&str, &str); 4] = [
    ("console.intake_url", "intake"),
    ("console.dispatch_url", "dispatch"),
    ("console.mediation_url", "mediation"),
    ("console.patrol_url", "patrol"),
];

#[derive(Serialize)]
struct ServiceInfo {
    name: &'static str,
    title: &'static str,
    /// Its PostgreSQL schema (and role).
    schema: &'static str,
    /// The stream it owns.
    stream: String,
    grpc_service: &'static str,
    grpc_port: u16,
    metrics_port: u16,
    /// Durable consumers it keeps.
    consumers: Vec<&'static str>,
    /// Settings that are secret and that it cannot start without, as environment variables.
    required_secrets: Vec<String>,
    /// Settings (as environment variables) that must hold another service's gRPC URL, with
    /// that service's name.
    peers: Vec<(String, &'static str)>,
}

fn topology() -> Topology {
    Topology {
        bus: civicgrid_contracts::topology(),
        services: SERVICES
            .iter()
            .map(|e| ServiceInfo {
                name: e.name,
                title: e.title,
                schema: e.name,
                stream: civicgrid_contracts::stream_name(e.name),
                grpc_service: e.grpc_service,
                grpc_port: e.grpc_port,
                metrics_port: e.metrics_port,
                consumers: civicgrid_contracts::consumers_of(e.name).map(|c| c.durable).collect(),
                required_secrets: e.keys.iter().map(|k| registry::env_var(k.setting)).collect(),
                peers: e.peers.iter().map(|(key, service)| (registry::env_var(key), *service)).collect(),
            })
            .collect(),
        console: ConsoleInfo {
            name: civicgrid_contracts::console::NAME,
            args: vec!["console"],
            listen: registry::env_var("console.listen"),
            geometry_path: registry::env_var("console.geometry_path"),
            peers: CONSOLE_PEERS.iter().map(|(key, service)| (registry::env_var(key), *service)).collect(),
        },
    }
}

/// Prints the topology.
pub fn run(args: TopologyArgs) -> anyhow::Result<()> {
    let t = topology();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&t)?);
        return Ok(());
    }
    println!("services");
    for s in &t.services {
        println!(
            "  {:<10} {:<28} gRPC :{}  metrics :{}  {}",
            s.name, s.grpc_service, s.grpc_port, s.metrics_port, s.title
        );
    }
    println!("streams");
    for s in &t.bus.streams {
        let facts: Vec<&str> = s.facts.iter().map(|f| f.name).collect();
        println!("  {:<20} {:<22} {}", s.name, s.subjects.join(" "), facts.join(", "));
    }
    println!("  {:<20} {}", t.bus.deadletter.name, t.bus.deadletter.subjects.join(" "));
    println!("consumers");
    for c in &t.bus.consumers {
        println!("  {:<10} {:<20} on {:<20} {}", c.service, c.durable, c.stream, c.filter_subjects.join(" "));
    }
    println!("readers (ephemeral ordered consumers, publish nothing)");
    for r in &t.bus.readers {
        let reads: Vec<String> = r.reads.iter().map(|x| format!("{} {}", x.stream, x.filter_subject)).collect();
        println!("  {:<10} {}", r.name, reads.join(", "));
    }
    Ok(())
}
