//! The one list of services. It drives `civicgrid service <name>`, `civicgrid up` (ports,
//! roles and schemas, generated keys, settings) and `civicgrid topology`. Adding a service adds
//! one entry here (docs/development.md, "Adding a service").

use std::{future::Future, path::Path, pin::Pin};

use civicgrid_kit::{
    Shutdown,
    config::{ServiceSettings, TelemetrySettings},
    runtime::{self, Service, StartError},
};

/// A key `civicgrid up` generates once per state directory and hands to a service.
pub struct GeneratedKey {
    /// The setting, e.g. `intake.pii_key`.
    pub setting: &'static str,
    /// Its name in `<state>/secrets.env`.
    #[cfg_attr(not(feature = "dev"), allow(dead_code))]
    pub file_name: &'static str,
}

/// A service until `shutdown`, once its settings are loaded.
pub type Serving = Pin<Box<dyn Future<Output = Result<(), StartError>> + Send>>;

/// A service whose settings were loaded and checked, not yet started.
pub struct Prepared {
    /// Its logging and tracing settings (a process starts telemetry once, before serving).
    pub telemetry: TelemetrySettings,
    /// Where it listens: (`grpc.listen`, its address) and (`metrics.listen`, its address).
    pub listens: [(&'static str, String); 2],
    /// Serves it until the shutdown it is given.
    pub serve: Box<dyn FnOnce(Shutdown) -> Serving + Send>,
}

/// Loads a service's settings (defaults → file → environment) and checks them.
pub type PrepareFn = fn(Option<&Path>) -> Result<Prepared, StartError>;

/// One service the binary runs.
pub struct Entry {
    /// Its name: schema, role, stream token, `civicgrid service <name>`.
    pub name: &'static str,
    /// What it does, for `--help` and `topology`.
    pub title: &'static str,
    /// The gRPC service it serves (`package.Service`).
    pub grpc_service: &'static str,
    /// Who may call each of its RPCs (`civicgrid access`, docs/access.md).
    pub access: &'static civicgrid_kit::access::Table,
    /// Its gRPC port under `civicgrid up` (and in the Kubernetes Service).
    pub grpc_port: u16,
    /// Its metrics port under `civicgrid up`.
    pub metrics_port: u16,
    /// Keys `up` generates for it.
    pub keys: &'static [GeneratedKey],
    /// Settings `up` gives it for the demo (`key`, `value`).
    #[cfg_attr(not(feature = "dev"), allow(dead_code))]
    pub up_settings: &'static [(&'static str, &'static str)],
    /// Settings that hold another service's gRPC URL (`key`, service): `up` sets them to
    /// `http://127.0.0.1:<that service's port>`; deploy/check checks the manifests set them.
    pub peers: &'static [(&'static str, &'static str)],
    /// Whether one process at a time runs it, its other replicas standing by
    /// (`Service::SINGLETON`).
    pub singleton: bool,
    /// Loads its settings from the defaults, a file, the environment; then it can be served.
    pub prepare: PrepareFn,
}

fn prepare<S: Service>(config: Option<&Path>) -> Result<Prepared, StartError> {
    let settings = runtime::load_settings::<S>(config)?;
    let common = settings.common();
    Ok(Prepared {
        telemetry: common.telemetry.clone(),
        listens: [("grpc.listen", common.grpc.listen.clone()), ("metrics.listen", common.metrics.listen.clone())],
        serve: Box::new(move |shutdown| Box::pin(runtime::serve::<S>(settings, shutdown))),
    })
}

/// Every service, in the order `up` starts them.
pub const SERVICES: &[Entry] = &[
    Entry {
        name: civicgrid_intake::SERVICE,
        title: "一门受理: the single door for every report",
        grpc_service: civicgrid_proto::v1::intake_service_server::SERVICE_NAME,
        access: &civicgrid_intake::access::ACCESS,
        grpc_port: 50051,
        metrics_port: 9461,
        keys: &[GeneratedKey { setting: "intake.pii_key", file_name: "PII_KEY" }],
        // The Open311 facade's demo key (docs/open311.md); a request without address_id is
        // filed under the demo city's county 川汇区.
        up_settings: &[
            ("intake.open311.api_keys", "demo:citizen_app:civicgrid-demo-open311-key"),
            ("intake.open311.default_region", "411602"),
        ],
        peers: &[],
        singleton: <civicgrid_intake::Intake as Service>::SINGLETON,
        prepare: prepare::<civicgrid_intake::Intake>,
    },
    Entry {
        name: civicgrid_dispatch::SERVICE,
        title: "分流交办, 督办, 考核: routing, the task lifecycle, warnings and scoring",
        grpc_service: civicgrid_proto::v1::dispatch_service_server::SERVICE_NAME,
        access: &civicgrid_dispatch::access::ACCESS,
        grpc_port: 50052,
        metrics_port: 9462,
        keys: &[],
        up_settings: &[],
        peers: &[],
        singleton: <civicgrid_dispatch::Dispatch as Service>::SINGLETON,
        prepare: prepare::<civicgrid_dispatch::Dispatch>,
    },
    Entry {
        name: civicgrid_notify::SERVICE,
        title: "信息反馈: notifications by inbox, webhook and SMS",
        grpc_service: civicgrid_proto::v1::notify_service_server::SERVICE_NAME,
        access: &civicgrid_notify::access::ACCESS,
        grpc_port: 50053,
        metrics_port: 9463,
        keys: &[GeneratedKey { setting: "notify.contact_key", file_name: "CONTACT_KEY" }],
        // The demo's duty-desk receiver listens on loopback.
        up_settings: &[("notify.allow_private_webhooks", "true")],
        peers: &[],
        singleton: <civicgrid_notify::Notify as Service>::SINGLETON,
        prepare: prepare::<civicgrid_notify::Notify>,
    },
    Entry {
        name: civicgrid_mediation::SERVICE,
        title: "矛盾纠纷多元化解: people's mediation of disputes, from application to agreement",
        grpc_service: civicgrid_proto::v1::mediation_service_server::SERVICE_NAME,
        access: &civicgrid_mediation::access::ACCESS,
        grpc_port: 50054,
        metrics_port: 9464,
        keys: &[GeneratedKey { setting: "mediation.pii_key", file_name: "MEDIATION_PII_KEY" }],
        up_settings: &[],
        // Cases that came from dispatch keep their task in step through dispatch's gRPC API.
        peers: &[("mediation.dispatch_url", "dispatch")],
        singleton: <civicgrid_mediation::Mediation as Service>::SINGLETON,
        prepare: prepare::<civicgrid_mediation::Mediation>,
    },
    Entry {
        name: civicgrid_patrol::SERVICE,
        title: "巡逻防控: patrol teams, routes and shifts, live positions, check-ins, alarms and coverage",
        grpc_service: civicgrid_proto::v1::patrol_service_server::SERVICE_NAME,
        access: &civicgrid_patrol::access::ACCESS,
        grpc_port: 50055,
        metrics_port: 9465,
        keys: &[],
        // The demo's volunteer whose phone dies is reported offline within a minute.
        up_settings: &[("patrol.offline_after_secs", "60")],
        // Findings seen on patrol are submitted to intake through its gRPC API.
        peers: &[("patrol.intake_url", "intake")],
        singleton: <civicgrid_patrol::Patrol as Service>::SINGLETON,
        prepare: prepare::<civicgrid_patrol::Patrol>,
    },
];

/// The entry of service `name`.
pub fn find(name: &str) -> Option<&'static Entry> {
    SERVICES.iter().find(|e| e.name == name)
}

/// The environment variable of setting `key`: `intake.pii_key` → `CIVICGRID__INTAKE__PII_KEY`.
pub fn env_var(key: &str) -> String {
    format!("CIVICGRID__{}", key.replace('.', "__").to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_match_their_contracts() {
        let mut names: Vec<_> = SERVICES.iter().map(|e| e.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), SERVICES.len());
        for e in SERVICES {
            assert!(civicgrid_contracts::stream_of(e.name).is_some(), "{} has a stream contract", e.name);
        }
        assert_eq!(env_var("notify.sms.url"), "CIVICGRID__NOTIFY__SMS__URL");
    }
}
