//! NATS authorization in `civicgrid up`, as in a deployment: one user per service, feed
//! publisher, reader (the console), county center and township center of the city, and one
//! administrator, `operator`. The users and their permissions come from deploy/nats/gen-auth.py —
//! the generator of the Kubernetes deployment's auth.conf, built into this binary — run on this
//! binary's own topology; their passwords are made once and kept in `<state>/nats/users.env`.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, bail};
use civicgrid_dev::infra::NatsAuth;
use rand::{Rng, distr::Alphanumeric};

/// The generator and the module it imports, as in the repository.
const GEN_AUTH: &str = include_str!("../../../../deploy/nats/gen-auth.py");
const TOPOLOGY: &str = include_str!("../../../../deploy/nats/topology.py");

/// The administrator `up` makes: every permission, for operators' tools and the demo.
pub const OPERATOR: &str = "operator";

/// The region centers that get a NATS user: counties (6 digits) and townships (9 digits).
#[derive(Debug, Default, PartialEq)]
pub struct Centers {
    /// County codes, in the order given.
    pub counties: Vec<String>,
    /// Township codes, in the order given.
    pub townships: Vec<String>,
}

impl Centers {
    /// The counties and townships among region `codes` (the city's own code, ending in `00`, and
    /// villages are not centers with a user).
    pub fn of<'a>(codes: impl IntoIterator<Item = &'a str>) -> Centers {
        let mut centers = Centers::default();
        for code in codes {
            match code.len() {
                6 if !code.ends_with("00") => centers.counties.push(code.to_string()),
                9 => centers.townships.push(code.to_string()),
                _ => {}
            }
        }
        centers
    }
}

/// The suite's NATS users: the server's authorization block and every user's password.
pub struct NatsUsers {
    block: String,
    /// Password variable (`INTAKE_PASSWORD`) → password.
    passwords: BTreeMap<String, String>,
}

impl NatsUsers {
    /// Generates the users for `centers` into `dir` (the nats-server's directory): runs
    /// gen-auth.py with this binary's topology and keeps the passwords in `dir/users.env`,
    /// adding one for each new user.
    pub fn generate(dir: &Path, centers: &Centers) -> anyhow::Result<NatsUsers> {
        let tools = dir.join("tools");
        std::fs::create_dir_all(&tools).with_context(|| format!("creating {}", tools.display()))?;
        std::fs::write(tools.join("gen-auth.py"), GEN_AUTH)?;
        std::fs::write(tools.join("topology.py"), TOPOLOGY)?;
        let mut args: Vec<String> = vec!["--admin".into(), OPERATOR.into()];
        for c in &centers.counties {
            args.extend(["--county".into(), c.clone()]);
        }
        for t in &centers.townships {
            args.extend(["--township".into(), t.clone()]);
        }
        let exe = std::env::current_exe().context("locating the civicgrid binary")?;
        let out = Command::new("python3")
            .arg(tools.join("gen-auth.py"))
            .args(&args)
            // The topology of this very binary, not of a checkout's build.
            .env("CIVICGRID_BIN", &exe)
            .output()
            .context("running python3 (gen-auth.py makes the NATS users)")?;
        if !out.status.success() {
            bail!("gen-auth.py failed: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
        let block = String::from_utf8(out.stdout).context("gen-auth.py printed non-UTF-8")?;
        let file = dir.join("users.env");
        let mut passwords = read_env(&file);
        let mut changed = false;
        for var in password_vars(&block) {
            passwords.entry(var).or_insert_with(|| {
                changed = true;
                new_password()
            });
        }
        if changed || !file.exists() {
            write_env(&file, &passwords)?;
        }
        Ok(NatsUsers { block, passwords })
    }

    /// What the nats-server needs: the block, the passwords as its environment, the probe user.
    pub fn auth(&self) -> NatsAuth {
        NatsAuth {
            block: self.block.clone(),
            env: self.passwords.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            probe: (OPERATOR.to_string(), self.password(OPERATOR)),
        }
    }

    /// The password of `user` (empty for a user gen-auth.py did not make).
    pub fn password(&self, user: &str) -> String {
        self.passwords.get(&password_var(user)).cloned().unwrap_or_default()
    }

    /// `url` (`nats://host:port`) with `user`'s credentials in it, as clients that take only a
    /// URL (the demo, `civicgrid tail --nats`, nats-py) accept.
    pub fn url_for(&self, url: &str, user: &str) -> String {
        with_credentials(url, user, &self.password(user))
    }
}

/// `nats://host:port` → `nats://user:password@host:port`.
pub fn with_credentials(url: &str, user: &str, password: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{user}:{password}@{rest}"),
        None => format!("nats://{user}:{password}@{url}"),
    }
}

/// The environment variable of `user`'s password, as gen-auth.py names it.
pub fn password_var(user: &str) -> String {
    let name: String =
        user.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
    format!("{name}_PASSWORD")
}

/// Every `password: $VAR` of the authorization block.
fn password_vars(block: &str) -> Vec<String> {
    block
        .split("password: $")
        .skip(1)
        .map(|rest| rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect())
        .collect()
}

/// Letters and digits, starting with a letter: nats-server reads a variable's value as config
/// text, so `123…` would be a number.
fn new_password() -> String {
    let tail: String = rand::rng().sample_iter(&Alphanumeric).take(23).map(char::from).collect();
    format!("p{tail}")
}

/// `VAR=value` lines; a missing file is empty.
fn read_env(file: &Path) -> BTreeMap<String, String> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

fn write_env(file: &PathBuf, values: &BTreeMap<String, String>) -> anyhow::Result<()> {
    let text: String = values.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    std::fs::write(file, text).with_context(|| format!("writing {}", file.display()))?;
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn centers_are_counties_and_townships() {
        let c = Centers::of(["411600", "411602", "411602001", "411602001001", "411621"]);
        assert_eq!(c.counties, ["411602", "411621"]);
        assert_eq!(c.townships, ["411602001"]);
    }

    #[test]
    fn names_and_urls() {
        assert_eq!(password_var("county-411602"), "COUNTY_411602_PASSWORD");
        assert_eq!(password_var("patrol-positions-publisher"), "PATROL_POSITIONS_PUBLISHER_PASSWORD");
        assert_eq!(with_credentials("nats://127.0.0.1:14222", "operator", "pw"), "nats://operator:pw@127.0.0.1:14222");
        let block = "{ user: \"a\", password: $A_PASSWORD }\n  password: $COUNTY_411602_PASSWORD\n";
        assert_eq!(password_vars(block), ["A_PASSWORD", "COUNTY_411602_PASSWORD"]);
        let p = new_password();
        assert!(p.len() == 24 && p.starts_with('p') && p.chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
