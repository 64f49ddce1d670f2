//! The traffic generator is a client of the suite's public interfaces: its files name only the
//! generated gRPC clients and messages (`civicgrid_proto`), the city model
//! (`civicgrid_democity`), the kit's shutdown signal and the demo's token helpers — never a
//! service crate, the database or the kit's storage and bus internals, which would let it reach
//! into a service's tables. The plan is pure besides: no runtime, no network, no files.

/// Every file of the module, by name.
const FILES: &[(&str, &str)] = &[
    ("mod.rs", include_str!("mod.rs")),
    ("config.rs", include_str!("config.rs")),
    ("plan.rs", include_str!("plan.rs")),
    ("driver.rs", include_str!("driver.rs")),
    ("tests.rs", include_str!("tests.rs")),
];

/// Crates of the workspace the generator may name.
const ALLOWED_CIVICGRID: &[&str] = &["civicgrid_proto", "civicgrid_democity", "civicgrid_kit::Shutdown"];

/// Words whose presence means it reaches past the public interfaces.
const FORBIDDEN: &[&str] =
    &["sqlx", "PgPool", "postgres", "civicgrid_dev", "jetstream::kv", "include_str!(\"../../../../services"];

/// The civicgrid crate paths `text` names, as `civicgrid_x` or `civicgrid_kit::Item`.
fn civicgrid_paths(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (at, _) in text.match_indices("civicgrid_") {
        let rest = &text[at..];
        let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':')).unwrap_or(rest.len());
        let path = rest[..end].trim_end_matches(':');
        // `civicgrid_kit` is allowed only for its shutdown signal: keep its next segment.
        let path = if path.starts_with("civicgrid_kit") {
            path.split("::").take(2).collect::<Vec<_>>().join("::")
        } else {
            path.split("::").next().unwrap_or(path).to_string()
        };
        found.push(path);
    }
    found
}

#[test]
fn the_generator_names_only_public_clients_and_the_city_model() {
    for (name, text) in FILES {
        for path in civicgrid_paths(text) {
            assert!(
                ALLOWED_CIVICGRID.contains(&path.as_str()),
                "traffic/{name} names `{path}`: not a public interface"
            );
        }
        for word in FORBIDDEN {
            assert!(!text.contains(word), "traffic/{name} contains `{word}`");
        }
        for line in text.lines().filter(|l| l.trim_start().starts_with("use crate::")) {
            assert!(line.contains("use crate::demo::{"), "traffic/{name}: `{line}` reaches outside the demo");
        }
    }
}

#[test]
fn the_demo_helpers_it_uses_sign_tokens_and_nothing_else() {
    // The helpers it takes from demo/mod.rs: only token signing and request wrapping.
    let driver = FILES.iter().find(|(n, _)| *n == "driver.rs").map(|(_, t)| *t).unwrap_or_default();
    let line = driver.lines().find(|l| l.starts_with("use crate::demo::{")).unwrap_or_default();
    for used in line.trim_start_matches("use crate::demo::{").trim_end_matches("};").split(',') {
        let used = used.trim();
        assert!(used.ends_with("token") || used == "with_token", "driver.rs uses crate::demo::{used}");
    }
}

#[test]
fn the_plan_does_no_io() {
    for (name, text) in FILES.iter().filter(|(n, _)| ["plan.rs", "config.rs"].contains(n)) {
        for word in [
            "tokio",
            "tonic::",
            "async ",
            "std::fs",
            "std::net",
            "Utc::now",
            "SystemTime",
            "from_os_rng",
            "rand::rng()",
        ] {
            assert!(!text.contains(word), "traffic/{name} contains `{word}`: the plan must stay pure");
        }
    }
}

#[test]
fn the_check_catches_a_service_crate_and_the_database() {
    assert_eq!(civicgrid_paths("use civicgrid_dispatch::store;"), ["civicgrid_dispatch"]);
    assert_eq!(civicgrid_paths("civicgrid_kit::db::connect"), ["civicgrid_kit::db"]);
    assert_eq!(civicgrid_paths("use civicgrid_kit::Shutdown;"), ["civicgrid_kit::Shutdown"]);
}
