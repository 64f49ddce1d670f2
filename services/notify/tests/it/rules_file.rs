//! A rules file that does not check keeps notify from starting, and says which rule is wrong.

use civicgrid_dev::testing;
use civicgrid_kit::{clock::Clock, runtime::StartError};
use civicgrid_notify::Application;

use crate::helpers::*;

const TEMPLATE: &str = r#"
[templates.desk.zh-CN]
title = "新工单 {tracking_number}"
body = "工单 {task_id}"
[templates.desk.en]
title = "New task {tracking_number}"
body = "Task {task_id}"
"#;

/// A folder of its own under the system's temp dir, removed when dropped.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let dir = std::env::temp_dir().join(format!("civicgrid-notify-rules-{}", new_id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    /// Writes `text` as a rules file; returns its path.
    fn write(&self, name: &str, text: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, text).expect("write rules");
        path.to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A real nats-server and database, and what `Application::build` says with `rules_file`.
struct Infra {
    nats: testing::TestNats,
    db: String,
}

impl Infra {
    async fn start() -> Infra {
        Infra { nats: testing::nats().await.expect("nats-server"), db: testing::database().await.expect("database") }
    }

    async fn build_with(&self, rules_file: &str) -> Result<Application, StartError> {
        let settings = settings_for(&self.nats.url(), &self.db, &format!("[notify]\nrules_file = \"{rules_file}\"\n"));
        Application::build(settings, Clock::manual(monday_9am())).await
    }
}

#[tokio::test]
async fn a_rules_file_that_does_not_check_stops_the_build_naming_the_rule() {
    let infra = Infra::start().await;
    let dir = TempDir::new();
    let bad = dir.write(
        "bad.toml",
        &format!(
            r#"
[[rules]]
name = "desk-new-task"
on = ["task-assigned"]
to = ["department"]
template = "desk"

[[rules]]
name = "desk-typo"
on = ["task-asigned"]
to = ["department"]
template = "desk"
priority = "urgent"
{TEMPLATE}"#
        ),
    );
    let Err(err) = infra.build_with(&bad).await else { panic!("notify started with a broken rules file") };
    let message = err.to_string();
    assert!(message.contains(&bad), "names the file: {message}");
    assert!(message.contains("rule `desk-typo`: unknown fact `task-asigned`"), "{message}");
    assert!(message.contains("rule `desk-typo`: priority `urgent`"), "{message}");
    assert!(!message.contains("desk-new-task"), "the good rule is not blamed: {message}");

    // A placeholder the fact does not have is named with its rule and template.
    let placeholder = dir.write(
        "placeholder.toml",
        &format!(
            "[[rules]]\nname = \"reporter-wrong-value\"\non = [\"event-reported\"]\nto = [\"reporters\"]\n\
             template = \"desk\"\n{TEMPLATE}"
        ),
    );
    let Err(err) = infra.build_with(&placeholder).await else { panic!("started with an unknown placeholder") };
    let message = err.to_string();
    assert!(message.contains("rule `reporter-wrong-value`: template `desk`"), "{message}");
    assert!(message.contains("{task_id}"), "{message}");

    let Err(err) = infra.build_with(&dir.0.join("missing.toml").to_string_lossy()).await else {
        panic!("started without its rules file")
    };
    assert!(err.to_string().contains("notify.rules_file"), "{err}");

    // A file that checks is used instead of the shipped rules.
    let good = dir.write(
        "good.toml",
        &format!("[[rules]]\nname = \"only\"\non = [\"task-assigned\"]\nto = [\"department\"]\ntemplate = \"desk\"\n{TEMPLATE}"),
    );
    let mut app = spawn_app_with(Clock::manual(monday_9am()), &format!("[notify]\nrules_file = \"{good}\"\n")).await;
    let (task, event) = (new_id(), new_id());
    // The file's only rule: task-assigned → the department, in its own words.
    app.publish_task(&task_fact("task-assigned", &task, &event)).await;
    let inbox = app.wait_inbox(&format!("department:{DEPT}"), 1).await;
    assert_eq!(inbox[0].body, format!("工单 {task}"), "the file's template, not the shipped one");
    // The shipped rules tell the department of rework; this file does not. A sentinel
    // assignment after the rework shows the rework was handled and notified nobody.
    let mut rework = task_fact("task-reworked", &task, &event);
    rework.version += 1;
    app.publish_task(&rework).await;
    app.publish_task(&task_fact("task-assigned", &new_id(), &new_id())).await;
    let inbox = app.wait_inbox(&format!("department:{DEPT}"), 2).await;
    assert!(inbox.iter().all(|n| n.body.starts_with("工单 ")), "only the file's rule notified: {inbox:?}");
    app.stop().await;
}
