//! The README's examples, run as written against a running suite: each ```sh block of a
//! section is a bash script whose `grpcurl` is the PyPI one, pointed at the suite's ports.

use std::{process::Command, time::Duration};

use civicgrid_e2e::{Suite, grpcurl, workspace_root};
use civicgrid_proto::v1::{CaseState, ListCasesRequest, mediation_service_client::MediationServiceClient};

/// The ```sh blocks of the README section headed `heading` (up to the next heading).
fn sh_blocks(heading: &str) -> Vec<String> {
    sh_blocks_of("README.md", heading)
}

/// The ```sh blocks of the section headed `heading` in the Markdown file `file`.
pub(crate) fn sh_blocks_of(file: &str, heading: &str) -> Vec<String> {
    blocks_of(file, heading, "sh")
}

/// The code blocks in `language` of the section headed `heading` in the Markdown file `file`.
pub(crate) fn blocks_of(file: &str, heading: &str, language: &str) -> Vec<String> {
    let text = std::fs::read_to_string(workspace_root().join(file)).unwrap();
    let start = text.find(&format!("\n{heading}\n")).unwrap_or_else(|| panic!("{file} has no {heading:?}"));
    // The section runs to the next heading; a `#` line inside a code block is a comment.
    let (mut blocks, mut current, mut fenced) = (Vec::new(), None::<String>, false);
    for line in text[start + heading.len() + 2..].lines() {
        if line.starts_with("```") {
            if let Some(block) = current.take() {
                blocks.push(block);
            } else if line == format!("```{language}") {
                current = Some(String::new());
            }
            fenced = !fenced;
        } else if let Some(block) = current.as_mut() {
            block.push_str(line);
            block.push('\n');
        } else if !fenced && line.starts_with('#') {
            break;
        }
    }
    blocks
}

/// Runs `script` with bash, `grpcurl` aimed at the suite; returns its output, failing on error.
pub(crate) fn run(suite: &Suite, script: &str) -> String {
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
    // `curl` aimed at the suite's console.
    let console = suite.console.trim_start_matches("http://").trim_end_matches('/');
    prelude.push_str(&format!(
        "curl() {{\n  local a=()\n  for x in \"$@\"; do a+=(\"${{x//127.0.0.1:8080/{console}}}\"); done\n  command curl --max-time 20 \"${{a[@]}}\"\n}}\n"
    ));
    // `civicgrid` as the docs call it: the binary under test.
    prelude.push_str("civicgrid() { \"$CIVICGRID\" \"$@\"; }\n");
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("{prelude}{script}"))
        .env("GRPCURL", grpcurl())
        .env("CIVICGRID", civicgrid_e2e::civicgrid_binary())
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

#[tokio::test(flavor = "multi_thread")]
async fn the_patrol_walkthrough_of_docs_patrol_md_runs_as_written() {
    let suite = tokio::task::spawn_blocking(|| Suite::up(&["--no-demo", "--quiet"])).await.unwrap();
    let blocks = sh_blocks_of("docs/patrol.md", "### A patrol from the command line");
    assert_eq!(blocks.len(), 1, "{blocks:?}");
    let out = run(&suite, &blocks[0]);
    // SendPositions took both fixes, and GetShift shows the school gate checked in by m-001.
    assert!(out.contains("\"accepted\": \"2\""), "{out}");
    assert!(out.contains("CHECKPOINT_STATE_CHECKED_IN") && out.contains("\"checkedInBy\": \"m-001\""), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_console_api_walkthrough_of_docs_console_md_runs_as_written() {
    let suite = tokio::task::spawn_blocking(|| Suite::up(&["--no-traffic", "--quiet"])).await.unwrap();
    let blocks = sh_blocks_of("docs/console.md", "### The API from the command line");
    assert_eq!(blocks.len(), 1, "{blocks:?}");
    let out = run(&suite, &blocks[0]);
    assert!(out.contains("周口市 10 counties"), "{out}");
    assert!(out.contains("\"ok\":true") && out.contains("TASK_STATUS_ASSIGNED"), "{out}");
    assert!(out.contains("dispatch task-awaiting-triage 01.02.003"), "{out}");
    assert!(out.contains("dispatch task-assigned 411602-chengguan"), "{out}");
}
