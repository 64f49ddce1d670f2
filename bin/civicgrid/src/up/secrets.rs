//! The secrets `civicgrid up` generates once per state directory.

use std::{collections::BTreeMap, path::Path};

use anyhow::Context;
use civicgrid_kit::seal::Cipher;

use crate::registry::SERVICES;

/// Secrets generated once per state directory: the token secret and every service's keys
/// (the registry's [`GeneratedKey`](registry::GeneratedKey)s), kept in `<state>/secrets.env`.
pub(super) struct Secrets {
    pub(super) auth_secret: String,
    keys: BTreeMap<String, String>,
}

impl Secrets {
    pub(super) fn load_or_create(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let get = |k: &str| text.lines().find_map(|l| l.strip_prefix(&format!("{k}="))).map(str::to_string);
        let auth_secret = get("AUTH_SECRET").unwrap_or_else(Cipher::generate_key);
        let keys: BTreeMap<String, String> = SERVICES
            .iter()
            .flat_map(|e| e.keys)
            .map(|k| (k.file_name.to_string(), get(k.file_name).unwrap_or_else(Cipher::generate_key)))
            .collect();
        let mut text = format!("AUTH_SECRET={auth_secret}\n");
        for (name, value) in &keys {
            text.push_str(&format!("{name}={value}\n"));
        }
        let secrets = Secrets { auth_secret, keys };
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
        }
        Ok(secrets)
    }

    /// The generated key named `file_name` in `secrets.env`.
    pub(super) fn key(&self, file_name: &str) -> String {
        self.keys.get(file_name).cloned().unwrap_or_default()
    }
}

/// Prints a bearer token of each role, signed with `secret` (`up --auth`): an admin's, a county
/// center's, and one of each other role as the demo city's people hold them (docs/access.md
/// says what each may call).
pub(super) fn print_tokens(secret: &str) {
    let admin = crate::demo::token(secret, "admin", "");
    let county = crate::demo::token(secret, "county_center", "411602");
    println!("  tokens: admin  {admin}");
    println!("          county_center 411602  {county}");
    for (label, token) in [
        ("center 411602 (the command center)", crate::demo::token(secret, "center", "411602")),
        (
            "department 411602002-chengguan",
            crate::demo::department_token(secret, "department", "411602002-chengguan", ""),
        ),
        ("grid_worker gw-411602002001001", crate::demo::grid_worker_token(secret, "411602002001001", "411602002001")),
        ("mediator med-411602001001-cw-01", crate::demo::person_token(secret, "mediator", "med-411602001001-cw-01")),
        ("citizen_app (the reporters' app)", crate::demo::token(secret, "citizen_app", "")),
    ] {
        println!("          {label}  {token}");
    }
}
