//! The README's examples, run as written against a running suite: each ```sh block of a
//! section is a bash script whose `grpcurl` is the PyPI one, pointed at the suite's ports.

use std::{process::Command, time::Duration};

use civicgrid_e2e::{Suite, grpcurl, workspace_root};
use civicgrid_proto::v1::{CaseState, ListCasesRequest, mediation_service_client::MediationServiceClient};

/// The ```sh blocks of the README section headed `heading` (up to the next heading).
fn sh_blocks(heading: &str) -> Vec<String> {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    let start = readme.find(&format!("\n{heading}\n")).unwrap_or_else(|| panic!("README has no {heading:?}"));
    let rest = &readme[start + heading.len() + 2..];
    let section = &rest[..rest.find("\n#").unwrap_or(rest.len())];
    section.split("```sh\n").skip(1).map(|b| b[..b.find("```").unwrap()].to_string()).collect()
}

/// Runs `script` with bash, `grpcurl` aimed at the suite; returns its output, failing on error.
fn run(suite: &Suite, script: &str) -> String {
    let mut prelude = String::from("set -euo pipefail\ngrpcurl() {\n  local a=()\n  for x in \"$@\"; do\n");
    for (port, addr) in [
        ("50051", &suite.intake),
        ("50052", &suite.dispatch),
        ("50053", &suite.notify),
        ("50054", &suite.mediation),
        ("50055", &suite.patrol),
    ] {
        prelude.push_str(&format!("    x=\"${{x//127.0.0.1:{port}/{addr}}}\"\n"));
    }
    prelude.push_str("    a+=(\"$x\")\n  done\n  \"$GRPCURL\" -max-time 20 \"${a[@]}\"\n}\n");
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("{prelude}{script}"))
        .env("GRPCURL", grpcurl())
        .output()
        .expect("bash");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "README example failed:\n{script}\n---\n{text}");
    text
}

#[tokio::test(flavor = "multi_thread")]
async fn the_mediation_examples_of_the_readme_run_as_written() {
    let suite = tokio::task::spawn_blocking(|| {
        let suite = Suite::up(&["--demo-interval-ms", "300", "--quiet"]);
        suite.wait_for_line("settled: agreement signed", Duration::from_secs(120));
        suite
    })
    .await
    .unwrap();
    let blocks = sh_blocks("### Mediation");
    assert_eq!(blocks.len(), 2, "{blocks:?}");

    let listed = run(&suite, &blocks[0]);
    assert!(listed.contains("\"caseNumber\""), "{listed}");
    assert!(listed.contains("\"rows\""), "{listed}");

    let mut mediation = MediationServiceClient::connect(format!("http://{}", suite.mediation)).await.unwrap();
    let states = vec![CaseState::Agreed as i32, CaseState::Closed as i32];
    let settled = mediation
        .list_cases(ListCasesRequest { states, page_size: 1, ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .cases;
    let id = &settled.first().expect("a settled case").id;
    let applied = run(&suite, &blocks[1].replace("<id of an AGREED or CLOSED case>", id));
    assert!(applied.contains("CASE_STATE_APPLIED") && applied.contains("王*"), "{applied}");
    assert!(applied.contains("人民调解协议书"), "{applied}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_patrol_examples_of_the_readme_run_as_written() {
    let suite = tokio::task::spawn_blocking(|| {
        let suite = Suite::up(&["--demo-interval-ms", "1000", "--quiet"]);
        suite.wait_for_line("sets out on tour 1", Duration::from_secs(120));
        suite
    })
    .await
    .unwrap();
    let blocks = sh_blocks("### Patrol");
    assert_eq!(blocks.len(), 2, "{blocks:?}");

    let listed = run(&suite, &blocks[0]);
    assert!(listed.contains("SHIFT_STATE_ACTIVE") && listed.contains("\"teamId\""), "{listed}");
    assert!(listed.contains("\"rows\""), "{listed}");

    let sent = run(&suite, &blocks[1]);
    assert!(sent.contains("\"accepted\": \"1\""), "{sent}");
}
