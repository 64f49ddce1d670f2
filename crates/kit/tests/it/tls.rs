//! gRPC over TLS and mTLS with the kit's server and client halves (grpc::tls), certificates made
//! by rcgen: a client trusting the CA and holding a client certificate is served; one without a
//! client certificate, or speaking plaintext, is not. And the plain HTTP probes of the metrics
//! port, which stay reachable when the gRPC port speaks only TLS.

use std::path::Path;

use civicgrid_kit::{
    Shutdown,
    auth::Authenticator,
    config::{AuthSettings, GrpcSettings},
    grpc::{
        self,
        edge::{Edge, Readiness},
        tls,
    },
    metrics::{self, Metrics},
};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

/// A CA, a server certificate for 127.0.0.1 and a client certificate, as PEM files in `dir`.
fn certificates(dir: &Path) {
    let mut ca = CertificateParams::new(vec![]).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    for (name, san) in [("server", "127.0.0.1"), ("client", "console.civicgrid")] {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec![san.to_string()]).unwrap().signed_by(&key, &ca).unwrap();
        std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).unwrap();
        std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
    }
}

fn settings(dir: &Path, cert: &str) -> GrpcSettings {
    GrpcSettings {
        listen: "127.0.0.1:0".into(),
        tls_cert_file: Some(dir.join(format!("{cert}.pem"))),
        tls_key_file: Some(dir.join(format!("{cert}.key"))),
        tls_client_ca_file: Some(dir.join("ca.pem")),
        tls_ca_file: Some(dir.join("ca.pem")),
    }
}

async fn check(url: &str, client: &GrpcSettings) -> Result<(), String> {
    let channel = tls::channel("test.url", url, client).map_err(|e| e.to_string())?;
    let answer = HealthClient::new(channel).check(HealthCheckRequest { service: String::new() }).await;
    answer.map(|_| ()).map_err(|e| e.to_string())
}

#[tokio::test]
async fn mtls_serves_only_clients_with_a_certificate_of_the_ca() {
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path());
    let server = settings(dir.path(), "server");
    let (listener, addr) = grpc::bind("127.0.0.1:0").await.unwrap();
    let (_reporter, health) = tonic_health::server::health_reporter();
    let routes = tonic::service::Routes::new(health);
    let auth = AuthSettings::default();
    let metrics = Metrics::new("tlstest");
    let edge = Edge::new(Authenticator::new(&auth).unwrap(), Readiness::default(), metrics.grpc().clone());
    let stop = Shutdown::new();
    let config = tls::server_config(&server).unwrap();
    tokio::spawn(grpc::serve(listener, routes, edge, config, stop.clone()));

    let url = format!("https://127.0.0.1:{}", addr.port());
    check(&url, &settings(dir.path(), "client")).await.expect("a client with a certificate of the CA is served");
    let anonymous = GrpcSettings { tls_cert_file: None, tls_key_file: None, ..settings(dir.path(), "client") };
    assert!(check(&url, &anonymous).await.is_err(), "a client without a certificate was served");
    let plain = format!("http://127.0.0.1:{}", addr.port());
    assert!(check(&plain, &anonymous).await.is_err(), "a plaintext client was served");
    // https needs the CA; a half-configured identity names the missing setting.
    let no_ca = GrpcSettings { tls_ca_file: None, ..anonymous.clone() };
    assert!(tls::channel("test.url", &url, &no_ca).unwrap_err().to_string().contains("grpc.tls_ca_file"));
    let half = GrpcSettings { tls_key_file: None, ..server.clone() };
    assert!(tls::server_config(&half).unwrap_err().to_string().contains("grpc.tls_key_file"));
    stop.cancel();
}

#[tokio::test]
async fn the_metrics_port_answers_liveness_and_readiness_in_plain_http() {
    let (listener, addr) = grpc::bind("127.0.0.1:0").await.unwrap();
    let metrics = Metrics::new("probetest");
    let stop = Shutdown::new();
    tokio::spawn(metrics::serve(listener, metrics.clone(), stop.clone()));
    let http = reqwest::Client::new();
    let get = |path: &'static str| {
        let http = http.clone();
        async move { http.get(format!("http://{addr}{path}")).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(get("/livez").await, 200);
    metrics.set_ready(false);
    assert_eq!(get("/readyz").await, 503);
    metrics.set_ready(true);
    assert_eq!(get("/readyz").await, 200);
    stop.cancel();
}
