//! `civicgrid up --replicas N`: the settings of a service's k-th process. It shares the first's
//! database, NATS user and keys; only its listeners move, by 100 per replica.

/// A service's extra process: its environment and its gRPC port.
pub(super) struct Replica {
    pub(super) env: Vec<(String, String)>,
    pub(super) port: u16,
}

/// The settings whose value is a `host:port` this process listens on.
const LISTENERS: [&str; 3] =
    ["CIVICGRID__GRPC__LISTEN", "CIVICGRID__METRICS__LISTEN", "CIVICGRID__INTAKE__OPEN311__LISTEN"];

/// Replica `k` (2 and up) of the service whose first process runs with `env`.
pub(super) fn replica_of(name: &str, env: &[(String, String)], k: u16) -> Replica {
    let shift = 100 * (k - 1);
    let mut port = 0;
    let env = env
        .iter()
        .map(|(key, value)| {
            if !LISTENERS.contains(&key.as_str()) {
                return (key.clone(), value.clone());
            }
            let moved = value
                .rsplit_once(':')
                .and_then(|(host, p)| Some((host, p.parse::<u16>().ok()?.checked_add(shift)?)))
                .map(|(host, p)| {
                    if key == "CIVICGRID__GRPC__LISTEN" {
                        port = p;
                    }
                    format!("{host}:{p}")
                })
                .unwrap_or_else(|| value.clone());
            (key.clone(), moved)
        })
        .collect();
    if port == 0 {
        eprintln!("[up] {name}-{k}: no gRPC port to move");
    }
    Replica { env, port }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_listeners_move() {
        let env: Vec<(String, String)> = [
            ("CIVICGRID__GRPC__LISTEN", "127.0.0.1:50051"),
            ("CIVICGRID__METRICS__LISTEN", "127.0.0.1:9461"),
            ("CIVICGRID__INTAKE__OPEN311__LISTEN", "127.0.0.1:8311"),
            ("CIVICGRID__PATROL__INTAKE_URL", "http://127.0.0.1:50051"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let r = replica_of("intake", &env, 3);
        assert_eq!(r.port, 50251);
        assert_eq!(r.env[1].1, "127.0.0.1:9661");
        assert_eq!(r.env[2].1, "127.0.0.1:8511");
        assert_eq!(r.env[3].1, "http://127.0.0.1:50051", "peers stay on the first replica");
    }
}
