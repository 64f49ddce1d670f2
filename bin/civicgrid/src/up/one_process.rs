//! `civicgrid up --one-process`: every service in one child process,
//! `civicgrid service intake dispatch notify mediation patrol`. Each service's settings reach it
//! under its own prefix, since the process has one environment for all of them.

/// The log (and, with `.pid`, the pid file) of the one process.
pub(super) const LOG: &str = "services";

/// A service's variables for a process it shares with others: each `CIVICGRID__KEY` becomes
/// `CIVICGRID_<SERVICE>__KEY`, which applies to it alone (crates/kit/src/config.rs).
pub(super) fn env_of(name: &str, env: &[(String, String)]) -> Vec<(String, String)> {
    let own = civicgrid_kit::config::service_env_prefix(name);
    env.iter()
        .map(|(key, value)| match key.strip_prefix("CIVICGRID__") {
            Some(rest) => (format!("{own}__{rest}"), value.clone()),
            None => (key.clone(), value.clone()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_settings_are_its_own() {
        let env = vec![
            ("CIVICGRID__GRPC__LISTEN".to_string(), "127.0.0.1:50052".to_string()),
            ("CIVICGRID__INTAKE__PII_KEY".to_string(), "k".to_string()),
            ("CIVICGRID_LIFE".to_string(), "0".to_string()),
        ];
        let own = env_of("intake", &env);
        assert_eq!(own[0], ("CIVICGRID_INTAKE__GRPC__LISTEN".to_string(), "127.0.0.1:50052".to_string()));
        assert_eq!(own[1].0, "CIVICGRID_INTAKE__INTAKE__PII_KEY");
        assert_eq!(own[2].0, "CIVICGRID_LIFE", "what is not a setting stays");
    }
}
