//! The identity provider's public keys, for RS256 and ES256 tokens: a JWKS (RFC 7517) read from
//! a file at start, or fetched from a URL, cached, and fetched again every
//! `auth.jwks_refresh_secs` and soon after a token names a key id the cache does not know (the
//! provider rotated its keys), at most once per [`MIN_REFETCH`].

use std::{
    collections::HashMap,
    path::Path,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use jsonwebtoken::{
    Algorithm, DecodingKey,
    jwk::{AlgorithmParameters, JwkSet},
};
use tokio::sync::Notify;

/// The shortest time between two fetches asked for by unknown key ids.
pub const MIN_REFETCH: Duration = Duration::from_secs(10);

/// A key of the set: what it verifies and with which algorithm.
#[derive(Clone)]
pub struct SigningKey {
    /// The public key.
    pub key: DecodingKey,
    /// RS256 or ES256.
    pub algorithm: Algorithm,
}

/// Why a key set could not be had.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    /// The file or URL could not be read.
    #[error("{0}")]
    Read(String),
    /// It is not a JWKS with a usable key.
    #[error("not a usable JWKS: {0}")]
    Parse(String),
}

/// Parses a JWKS: every RSA and P-256 key for signatures; a key without `kid` is found under "".
pub fn parse(json: &str) -> Result<HashMap<String, SigningKey>, JwksError> {
    let set: JwkSet = serde_json::from_str(json).map_err(|e| JwksError::Parse(e.to_string()))?;
    let mut keys = HashMap::new();
    for jwk in &set.keys {
        let algorithm = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => Algorithm::RS256,
            AlgorithmParameters::EllipticCurve(p) if p.curve == jsonwebtoken::jwk::EllipticCurve::P256 => {
                Algorithm::ES256
            }
            _ => continue,
        };
        let key = DecodingKey::from_jwk(jwk).map_err(|e| JwksError::Parse(e.to_string()))?;
        keys.insert(jwk.common.key_id.clone().unwrap_or_default(), SigningKey { key, algorithm });
    }
    if keys.is_empty() {
        return Err(JwksError::Parse("no RSA or P-256 signing key".into()));
    }
    Ok(keys)
}

/// The cached key set, shared by every clone of the authenticator.
pub struct Jwks {
    keys: RwLock<Arc<HashMap<String, SigningKey>>>,
    /// Where the set comes from when fetched (`None`: a file, read once).
    url: Option<String>,
    /// Woken to fetch now.
    wake: Notify,
    last_asked: RwLock<Option<Instant>>,
}

impl Jwks {
    /// The set of a JWKS file.
    pub fn from_file(path: &Path) -> Result<Arc<Jwks>, JwksError> {
        let text = std::fs::read_to_string(path).map_err(|e| JwksError::Read(format!("{}: {e}", path.display())))?;
        Ok(Arc::new(Jwks {
            keys: RwLock::new(Arc::new(parse(&text)?)),
            url: None,
            wake: Notify::new(),
            last_asked: RwLock::new(None),
        }))
    }

    /// An empty set to be fetched from `url` by [`Jwks::refresh`].
    pub fn from_url(url: &str) -> Arc<Jwks> {
        Arc::new(Jwks {
            keys: RwLock::new(Arc::new(HashMap::new())),
            url: Some(url.to_string()),
            wake: Notify::new(),
            last_asked: RwLock::new(None),
        })
    }

    /// The key named `kid` (or the only key without an id); an unknown id asks for a fetch.
    pub fn key(&self, kid: Option<&str>) -> Option<SigningKey> {
        let keys = self.keys.read().map(|k| k.clone()).unwrap_or_default();
        let found = keys.get(kid.unwrap_or_default()).cloned();
        if found.is_none() && self.url.is_some() {
            let mut last = self.last_asked.write().unwrap_or_else(|e| e.into_inner());
            if last.is_none_or(|t| t.elapsed() >= MIN_REFETCH) {
                *last = Some(Instant::now());
                self.wake.notify_one();
            }
        }
        found
    }

    /// Whether any key is loaded.
    pub fn is_loaded(&self) -> bool {
        self.keys.read().map(|k| !k.is_empty()).unwrap_or(false)
    }

    /// Fetches the set now.
    pub async fn fetch(&self, http: &reqwest::Client) -> Result<usize, JwksError> {
        let Some(url) = &self.url else { return Ok(0) };
        let read = |e: reqwest::Error| JwksError::Read(format!("{url}: {e}"));
        let text =
            http.get(url).send().await.map_err(read)?.error_for_status().map_err(read)?.text().await.map_err(read)?;
        let keys = parse(&text)?;
        let n = keys.len();
        if let Ok(mut current) = self.keys.write() {
            *current = Arc::new(keys);
        }
        Ok(n)
    }
}

/// Fetches `set` from its URL at once, then every `every` and whenever a token names an unknown
/// key, for as long as an authenticator holds it. Failures are logged and retried (every 2 s
/// until a first set came); the last good set stays.
pub async fn keep_fresh(set: std::sync::Weak<Jwks>, every: Duration) {
    let http = match reqwest::Client::builder().timeout(Duration::from_secs(10)).build() {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the JWKS client");
            return;
        }
    };
    loop {
        let Some(jwks) = set.upgrade() else { return };
        match jwks.fetch(&http).await {
            Ok(n) => tracing::debug!(keys = n, "JWKS fetched"),
            Err(e) => tracing::warn!(error = %e, "JWKS fetch failed; keeping the keys we have"),
        }
        let wait = if jwks.is_loaded() { every } else { Duration::from_secs(2) };
        let woken = async { jwks.wake.notified().await };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = woken => {}
        }
    }
}
