//! Bearer-token authentication for gRPC.
//!
//! Tokens are JWTs signed with RS256 or ES256 by an identity provider whose public keys come from
//! a JWKS ([`jwks`]: `auth.jwks_file`, or `auth.jwks_url` fetched and refreshed), or with HS256
//! (`auth.hs256_secret`, for development set-ups and `civicgrid token`). Claims: `sub` (account id),
//! `role` (`department`, `grid_worker`, `mediator`, `patrol_member`, `center`, `county_center`,
//! `citizen_app`, `admin`), optional `department_id` and `region_scope` (a region code of any
//! level or a 15-digit grid code: see [`Scope`]), and `exp`, checked with no leeway unless
//! `auth.leeway_secs` allows some. The [`Authenticator`] (called by the runtime's edge for every
//! call) checks the token and puts the caller's [`Principal`] into the request's extensions;
//! handlers read it with [`principal`], and ask [`Principal::covers`] and
//! [`Principal::covers_code`] whether a place is in the caller's scope.

pub mod jwks;
mod scope;

pub use scope::{Area, NarrowError, Scope};

use std::sync::Arc;

use civicgrid_proto::v1::{Actor, RegionPath, Role};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use tonic::{Request, Status};

use crate::config::{AuthSettings, ConfigError, ExposeSecret};
use jwks::Jwks;

/// The claims civicgrid reads from a bearer token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    /// Account id of the caller.
    pub sub: String,
    /// Role name, e.g. `center`.
    pub role: String,
    /// Department of a department caller.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub department_id: String,
    /// Region or grid code the caller's authority covers; empty means everywhere.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub region_scope: String,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// Issuer, checked when `auth.issuer` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Audience, checked when `auth.audience` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    /// Account id.
    pub subject: String,
    /// Role.
    pub role: Role,
    /// Department, for department callers.
    pub department_id: String,
    /// Region or grid code the caller may see and act in; empty means everywhere (see [`Scope`]).
    pub region_scope: String,
}

impl Principal {
    /// The principal every request gets when authentication is disabled.
    pub fn development_admin() -> Self {
        Principal {
            subject: "dev-admin".into(),
            role: Role::Admin,
            department_id: String::new(),
            region_scope: String::new(),
        }
    }

    /// The caller as recorded in events.
    pub fn actor(&self) -> Actor {
        Actor {
            subject: self.subject.clone(),
            role: self.role as i32,
            department_id: self.department_id.clone(),
            region_scope: self.region_scope.clone(),
        }
    }

    /// The caller's region scope.
    pub fn scope(&self) -> Scope {
        Scope::parse(&self.region_scope)
    }

    /// Whether a place (its region path, and its grid code or empty) lies in the caller's scope.
    pub fn covers(&self, path: &RegionPath, grid_code: &str) -> bool {
        self.scope().covers(path, grid_code)
    }

    /// Whether the region or grid named by `code` lies in the caller's scope.
    pub fn covers_code(&self, code: &str) -> bool {
        self.scope().covers_code(code)
    }

    /// True when the caller holds one of `roles`.
    pub fn has_role(&self, roles: &[Role]) -> bool {
        roles.contains(&self.role)
    }
}

/// Parses a role claim.
pub fn parse_role(name: &str) -> Option<Role> {
    Some(match name {
        "department" => Role::Department,
        "grid_worker" => Role::GridWorker,
        "mediator" => Role::Mediator,
        "patrol_member" => Role::PatrolMember,
        "center" => Role::Center,
        "county_center" => Role::CountyCenter,
        "citizen_app" => Role::CitizenApp,
        "admin" => Role::Admin,
        _ => return None,
    })
}

/// Checks bearer tokens; the runtime's edge calls it for every call.
#[derive(Clone)]
pub struct Authenticator {
    hs256: Option<DecodingKey>,
    jwks: Option<Arc<Jwks>>,
    validation: Validation,
}

impl Authenticator {
    /// An authenticator for the given settings; with neither a JWKS nor a secret,
    /// authentication is disabled. A JWKS URL is fetched in the background (inside a Tokio
    /// runtime) and refreshed every `auth.jwks_refresh_secs`.
    pub fn new(settings: &AuthSettings) -> Result<Self, ConfigError> {
        let jwks = match (&settings.jwks_file, &settings.jwks_url) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::Invalid {
                    key: "auth.jwks_url",
                    reason: "set auth.jwks_file or auth.jwks_url, not both".into(),
                });
            }
            (Some(path), None) => Some(
                Jwks::from_file(path)
                    .map_err(|e| ConfigError::Invalid { key: "auth.jwks_file", reason: e.to_string() })?,
            ),
            (None, Some(url)) => {
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    return Err(ConfigError::Invalid {
                        key: "auth.jwks_url",
                        reason: format!("`{url}` is not an http(s) URL"),
                    });
                }
                let set = Jwks::from_url(url);
                if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                    let every = std::time::Duration::from_secs(settings.jwks_refresh_secs.max(10));
                    runtime.spawn(jwks::keep_fresh(Arc::downgrade(&set), every));
                }
                Some(set)
            }
            (None, None) => None,
        };
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub"]);
        // jsonwebtoken's default is 60 s: a token would outlive its `exp` by a minute.
        validation.leeway = settings.leeway_secs;
        if let Some(iss) = &settings.issuer {
            validation.set_issuer(&[iss]);
        }
        match &settings.audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        let hs256 = settings
            .hs256_secret
            .as_ref()
            .map(|s| s.expose_secret())
            .filter(|s| !s.is_empty())
            .map(|s| DecodingKey::from_secret(s.as_bytes()));
        if hs256.is_none() && jwks.is_none() {
            tracing::warn!(
                "neither auth.jwks_file, auth.jwks_url nor auth.hs256_secret is set: authentication is DISABLED, \
                 every caller is an administrator"
            );
        }
        Ok(Authenticator { hs256, jwks, validation })
    }

    /// True when tokens are checked.
    pub fn enabled(&self) -> bool {
        self.hs256.is_some() || self.jwks.is_some()
    }

    /// Verifies `token`'s signature (by its header's algorithm and key id) and claims.
    fn verify(&self, token: &str) -> Result<Claims, Status> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| Status::unauthenticated(format!("invalid bearer token: {e}")))?;
        let key = match header.alg {
            Algorithm::HS256 => self.hs256.clone().ok_or_else(|| {
                Status::unauthenticated("HS256 tokens are not accepted here (auth.hs256_secret is not set)")
            })?,
            Algorithm::RS256 | Algorithm::ES256 => {
                let jwks = self.jwks.as_ref().ok_or_else(|| {
                    Status::unauthenticated(
                        "RS256/ES256 tokens are not accepted here (no auth.jwks_file or auth.jwks_url)",
                    )
                })?;
                let found = jwks.key(header.kid.as_deref()).filter(|k| k.algorithm == header.alg);
                found.map(|k| k.key).ok_or_else(|| {
                    Status::unauthenticated(format!(
                        "invalid bearer token: no {:?} key `{}` in the identity provider's key set",
                        header.alg,
                        header.kid.as_deref().unwrap_or("")
                    ))
                })?
            }
            other => {
                return Err(Status::unauthenticated(format!(
                    "invalid bearer token: algorithm {other:?} is not accepted"
                )));
            }
        };
        let mut validation = self.validation.clone();
        validation.algorithms = vec![header.alg];
        jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map(|t| t.claims)
            .map_err(|e| Status::unauthenticated(format!("invalid bearer token: {e}")))
    }

    /// The principal for an `authorization` header value.
    ///
    /// With authentication disabled, a request without a token acts as an administrator, and
    /// a token's claims are taken without checking its signature: in development anyone may
    /// act as anyone anyway, and this lets a demo or a tester act as a department.
    pub fn authenticate(&self, header: Option<&str>) -> Result<Principal, Status> {
        let token = header.and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer "))).map(str::trim);
        let claims = match (self.enabled(), token) {
            (false, None) => return Ok(Principal::development_admin()),
            (false, Some(token)) => {
                jsonwebtoken::dangerous::insecure_decode::<Claims>(token)
                    .map_err(|e| Status::unauthenticated(format!("unreadable bearer token: {e}")))?
                    .claims
            }
            (true, None) => return Err(Status::unauthenticated("missing `authorization: Bearer <token>`")),
            (true, Some(token)) => self.verify(token)?,
        };
        let role = parse_role(&claims.role)
            .ok_or_else(|| Status::unauthenticated(format!("unknown role `{}`", claims.role)))?;
        Ok(Principal {
            subject: claims.sub,
            role,
            department_id: claims.department_id,
            region_scope: claims.region_scope,
        })
    }
}

/// The caller of a request, as the edge's [`Authenticator`] found it.
pub fn principal<T>(request: &Request<T>) -> Result<Principal, Status> {
    request
        .extensions()
        .get::<Principal>()
        .cloned()
        .ok_or_else(|| Status::unauthenticated("request was not authenticated"))
}

/// Signs a token for `claims` (for tests, the demo and `civicgrid token`).
pub fn issue_token(secret: &str, claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(secret.as_bytes()))
}

/// Seconds since the epoch `valid_for` from now, for a token's `exp`.
pub fn expiry_in(valid_for: std::time::Duration) -> u64 {
    (std::time::SystemTime::now() + valid_for).duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(secret: Option<&str>) -> AuthSettings {
        AuthSettings { hs256_secret: secret.map(Into::into), ..AuthSettings::default() }
    }

    fn claims(role: &str) -> Claims {
        Claims {
            sub: "u1".into(),
            role: role.into(),
            department_id: "chengguan".into(),
            region_scope: "411602".into(),
            exp: expiry_in(std::time::Duration::from_secs(60)),
            iss: None,
            aud: None,
        }
    }

    #[test]
    fn valid_token_gives_principal() {
        let auth = Authenticator::new(&settings(Some("s3cret"))).unwrap();
        let token = issue_token("s3cret", &claims("department")).unwrap();
        let p = auth.authenticate(Some(&format!("Bearer {token}"))).unwrap();
        assert_eq!(p.role, Role::Department);
        assert_eq!(p.department_id, "chengguan");
        assert_eq!(p.region_scope, "411602");
    }

    #[test]
    fn bad_tokens_are_unauthenticated() {
        let auth = Authenticator::new(&settings(Some("s3cret"))).unwrap();
        assert_eq!(auth.authenticate(None).unwrap_err().code(), tonic::Code::Unauthenticated);
        let forged = issue_token("other", &claims("admin")).unwrap();
        assert!(auth.authenticate(Some(&format!("Bearer {forged}"))).is_err());
        let unknown = issue_token("s3cret", &claims("king")).unwrap();
        assert!(auth.authenticate(Some(&format!("Bearer {unknown}"))).is_err());
        let mut expired = claims("admin");
        expired.exp = 1;
        let expired = issue_token("s3cret", &expired).unwrap();
        assert!(auth.authenticate(Some(&format!("Bearer {expired}"))).is_err());
    }

    fn expired_seconds_ago(secs: u64) -> String {
        let mut c = claims("admin");
        c.exp = expiry_in(std::time::Duration::ZERO) - secs;
        format!("Bearer {}", issue_token("s3cret", &c).unwrap())
    }

    #[test]
    fn a_token_expired_seconds_ago_is_refused_without_leeway() {
        let auth = Authenticator::new(&settings(Some("s3cret"))).unwrap();
        let status = auth.authenticate(Some(&expired_seconds_ago(10))).unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unauthenticated);
        let lenient = Authenticator::new(&AuthSettings { leeway_secs: 30, ..settings(Some("s3cret")) }).unwrap();
        assert!(lenient.authenticate(Some(&expired_seconds_ago(10))).is_ok());
        assert!(lenient.authenticate(Some(&expired_seconds_ago(40))).is_err());
    }

    #[test]
    fn principals_answer_scope_questions() {
        let mut p = Principal::development_admin();
        p.region_scope = "411602001001003".into();
        assert_eq!(p.scope(), Scope::Grid("411602001001003".into()));
        let village = crate::region::path_of("411602001001").unwrap();
        assert!(p.covers(&village, "411602001001003") && !p.covers(&village, ""));
        assert!(p.covers_code("411602001001003") && !p.covers_code("411602001001"));
    }

    #[test]
    fn disabled_auth_is_admin_unless_a_token_says_otherwise() {
        let auth = Authenticator::new(&settings(None)).unwrap();
        assert_eq!(auth.authenticate(None).unwrap(), Principal::development_admin());
        let token = issue_token("any-secret", &claims("department")).unwrap();
        let p = auth.authenticate(Some(&format!("Bearer {token}"))).unwrap();
        assert_eq!((p.role, p.department_id.as_str()), (Role::Department, "chengguan"));
    }
}
