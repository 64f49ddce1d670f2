//! docs/development.md's "Adding a service" is checked against the code: it names five steps,
//! and every path it gives exists for every service `civicgrid topology` lists.

use std::{path::PathBuf, process::Command};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The numbered steps of the section and the backticked paths in each.
fn steps() -> Vec<(String, Vec<String>)> {
    let text = std::fs::read_to_string(root().join("docs/development.md")).expect("docs/development.md");
    let section = text.split("## Adding a service").nth(1).expect("an `Adding a service` section");
    let section = section.split("\n## ").next().unwrap_or(section);
    let mut steps: Vec<(String, Vec<String>)> = Vec::new();
    for line in section.lines() {
        let trimmed = line.trim_start();
        let numbered = trimmed.split_once(". ").filter(|(n, _)| n.chars().all(|c| c.is_ascii_digit()) && !n.is_empty());
        if let Some((_, rest)) = numbered
            && !line.starts_with(' ')
        {
            steps.push((rest.to_string(), Vec::new()));
        } else if line.trim().is_empty() && !steps.is_empty() && !line.starts_with(' ') {
            continue;
        } else if let Some(last) = steps.last_mut() {
            last.0.push(' ');
            last.0.push_str(trimmed);
        }
    }
    for (text, paths) in &mut steps {
        *paths = text
            .split('`')
            .skip(1)
            .step_by(2)
            // Paths from the repository's root; `src/…` alone is inside the step's crate.
            .filter(|p| {
                ["proto/", "crates/", "services/", "bin/", "deploy/"].iter().any(|top| p.starts_with(top))
                    && !p.contains(' ')
            })
            .map(str::to_string)
            .collect();
    }
    steps
}

fn services() -> Vec<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_civicgrid")).args(["topology", "--json"]).output().expect("topology");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("topology JSON");
    json["services"]
        .as_array()
        .expect("services")
        .iter()
        .map(|s| s["name"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn the_five_steps_name_what_every_service_has() {
    let steps = steps();
    assert_eq!(steps.len(), 5, "five steps: {:#?}", steps.iter().map(|s| &s.0).collect::<Vec<_>>());
    let services = services();
    assert!(services.len() >= 3, "{services:?}");
    let mut checked = 0;
    for (step, paths) in &steps {
        assert!(!paths.is_empty(), "step names no file: {step}");
        for path in paths {
            for service in &services {
                let name = path.replace("<name>", service);
                let file = root().join(name.trim_end_matches('/'));
                assert!(
                    file.exists(),
                    "step `{}…` names {path}, but {} is missing",
                    &step[..40.min(step.len())],
                    file.display()
                );
                checked += 1;
            }
        }
    }
    // The lists the steps name really list every service.
    let read = |p: &str| std::fs::read_to_string(root().join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    let (build, contracts, registry, kustomization) = (
        read("proto/build.rs"),
        read("crates/contracts/src/lib.rs"),
        read("bin/civicgrid/src/registry.rs"),
        read("deploy/k8s/base/kustomization.yaml"),
    );
    for s in &services {
        assert!(build.contains(&format!("civicgrid/v1/{s}.proto")), "proto/build.rs lists {s}.proto");
        assert!(contracts.contains(&format!("pub mod {s};")), "crates/contracts declares {s}");
        assert!(contracts.contains(&format!("{s}::STREAM")), "STREAMS holds {s}'s stream");
        assert!(registry.contains(&format!("civicgrid_{s}::SERVICE")), "the registry lists {s}");
        assert!(kustomization.contains(s), "deploy/k8s/base/kustomization.yaml lists {s}");
        let lib = read(&format!("services/{s}/src/lib.rs"));
        assert!(lib.contains("impl Service for"), "services/{s}/src/lib.rs declares the service");
    }
    assert!(checked >= 15);
}
