//! TLS and mTLS for gRPC (rustls, through tonic): the server side from `grpc.tls_*`, and the one
//! way every service and the console open a channel to another service ([`channel`]): lazily
//! connected, `TCP_NODELAY` (Nagle's delay once cost 44 ms a call), with time limits, and over
//! TLS when the URL is `https://`.

use std::{path::Path, time::Duration};

use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity, ServerTlsConfig};

use crate::config::{ConfigError, GrpcSettings};

fn read(key: &'static str, path: &Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|e| ConfigError::Invalid { key, reason: format!("{}: {e}", path.display()) })
}

/// The certificate and key of `settings`, when both are set; an error names the one missing.
fn identity(settings: &GrpcSettings) -> Result<Option<Identity>, ConfigError> {
    match (&settings.tls_cert_file, &settings.tls_key_file) {
        (Some(cert), Some(key)) => {
            Ok(Some(Identity::from_pem(read("grpc.tls_cert_file", cert)?, read("grpc.tls_key_file", key)?)))
        }
        (Some(_), None) => {
            Err(ConfigError::Invalid { key: "grpc.tls_key_file", reason: "is required with grpc.tls_cert_file".into() })
        }
        (None, Some(_)) => {
            Err(ConfigError::Invalid { key: "grpc.tls_cert_file", reason: "is required with grpc.tls_key_file".into() })
        }
        (None, None) => Ok(None),
    }
}

/// The server's TLS, or `None` for plaintext. With `tls_client_ca_file`, callers must present a
/// certificate that CA signed (mTLS).
pub fn server_config(settings: &GrpcSettings) -> Result<Option<ServerTlsConfig>, ConfigError> {
    let Some(identity) = identity(settings)? else {
        if settings.tls_client_ca_file.is_some() {
            return Err(ConfigError::Invalid {
                key: "grpc.tls_client_ca_file",
                reason: "needs grpc.tls_cert_file and grpc.tls_key_file (mTLS is TLS first)".into(),
            });
        }
        return Ok(None);
    };
    let mut config = ServerTlsConfig::new().identity(identity);
    if let Some(ca) = &settings.tls_client_ca_file {
        config = config.client_ca_root(Certificate::from_pem(read("grpc.tls_client_ca_file", ca)?));
    }
    Ok(Some(config))
}

/// A lazily connected channel to another service at `url` (setting `key`). An `https://` URL is
/// called over TLS, trusting `grpc.tls_ca_file` and presenting `grpc.tls_cert_file` when set.
pub fn channel(key: &'static str, url: &str, settings: &GrpcSettings) -> Result<Channel, ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid { key, reason: format!("`{url}`: {reason}") };
    let mut endpoint = Endpoint::from_shared(url.to_string())
        .map_err(|e| invalid(e.to_string()))?
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(15));
    if url.starts_with("https://") {
        let mut tls = ClientTlsConfig::new();
        match &settings.tls_ca_file {
            Some(ca) => tls = tls.ca_certificate(Certificate::from_pem(read("grpc.tls_ca_file", ca)?)),
            None => return Err(invalid("an https URL needs grpc.tls_ca_file, the CA of the services".into())),
        }
        if let Some(identity) = identity(settings)? {
            tls = tls.identity(identity);
        }
        endpoint = endpoint.tls_config(tls).map_err(|e| invalid(e.to_string()))?;
    }
    Ok(endpoint.connect_lazy())
}
