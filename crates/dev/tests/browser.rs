//! The browser harness against a real headless Chromium: a small page served from a local
//! listener whose script changes the DOM after a click.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use civicgrid_dev::browser::{Browser, BrowserError, artifacts_dir};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

/// A form that adds a report to a list a moment after the click, as a console page would
/// after its call returns.
const PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>civicgrid browser harness</title></head>
<body>
  <h1 id="heading">Reports</h1>
  <input id="what" type="text" placeholder="What is wrong?">
  <button id="add">Add</button>
  <ul id="reports"></ul>
  <p id="status">no reports yet</p>
  <script>
    document.getElementById('add').addEventListener('click', () => {
      const what = document.getElementById('what').value;
      setTimeout(() => {
        const item = document.createElement('li');
        item.className = 'report';
        item.textContent = what;
        document.getElementById('reports').appendChild(item);
        document.getElementById('status').textContent = 'filed: ' + what;
      }, 300);
    });
  </script>
</body></html>"#;

/// Serves [`PAGE`] for every request on a free port and returns its URL.
async fn serve_page() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                // One read holds the whole small GET the browser sends.
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request).await;
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{PAGE}",
                    PAGE.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    });
    url
}

#[tokio::test]
async fn helpers_drive_a_page_and_screenshot_it() {
    let url = serve_page().await;
    let browser = Browser::start().await.unwrap();
    browser.goto(&url).await.unwrap();

    let heading = browser.wait_for("#heading").await.unwrap();
    assert_eq!(heading.text().await.unwrap(), "Reports");
    assert_eq!(browser.count(".report").await.unwrap(), 0);

    browser.fill("#what", "pothole on Elm Street").await.unwrap();
    browser.click("#add").await.unwrap();
    let status = browser.wait_for_text("#status", "filed:", Duration::from_secs(10)).await.unwrap();
    assert_eq!(status, "filed: pothole on Elm Street");
    browser.wait_for("li.report").await.unwrap();
    assert_eq!(browser.count(".report").await.unwrap(), 1);

    assert_eq!(browser.eval("return document.title").await.unwrap(), "civicgrid browser harness");
    assert_eq!(browser.eval("return document.querySelectorAll('li').length + 1").await.unwrap(), 2);
    let width = browser.eval("return window.innerWidth").await.unwrap();
    assert_eq!(width, 1600, "the window is 1600 wide");

    let path = browser.screenshot("browser-harness/helpers").await.unwrap();
    assert_eq!(path, artifacts_dir().join("browser-harness/helpers.png"));
    assert!(path.starts_with(artifacts_dir()));
    let png = std::fs::read(&path).unwrap();
    assert!(png.len() > 1000, "a real picture, not {} bytes", png.len());
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");

    browser.close().await.unwrap();
}

#[tokio::test]
async fn waits_name_the_selector_when_they_run_out() {
    let url = serve_page().await;
    let mut browser = Browser::start().await.unwrap();
    browser.goto(&url).await.unwrap();
    browser.set_wait_timeout(Duration::from_millis(300));

    let missing = browser.wait_for("#no-such-thing").await.unwrap_err();
    assert!(matches!(missing, BrowserError::Timeout { .. }), "{missing:?}");
    assert!(missing.to_string().contains("#no-such-thing"), "{missing}");

    let clicked = browser.click("button.absent").await.unwrap_err();
    assert!(clicked.to_string().contains("button.absent"), "{clicked}");

    let text = browser.wait_for_text("#status", "filed:", Duration::from_millis(300)).await.unwrap_err();
    let message = text.to_string();
    assert!(message.contains("#status") && message.contains("no reports yet"), "{message}");
    browser.close().await.unwrap();
}

#[tokio::test]
async fn dropping_a_browser_leaves_no_process_behind() {
    let browser = Browser::start().await.unwrap();
    let dir = browser.dir().to_path_buf();
    assert_eq!(browser.eval("return 6 * 7").await.unwrap(), 42);
    assert!(!processes_using(&dir).is_empty(), "Chromium runs with its profile in {}", dir.display());
    drop(browser);

    // SIGKILL is delivered at once, but the kernel may take a moment to tear the processes down.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let left = processes_using(&dir);
        if left.is_empty() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "processes left behind: {left:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!dir.exists(), "the profile directory is removed");
}

/// Live (not zombie) processes whose command line mentions `dir`.
fn processes_using(dir: &std::path::Path) -> Vec<String> {
    let needle = dir.to_string_lossy().into_owned();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let proc_dir = entry.path();
        let Ok(cmdline) = std::fs::read(proc_dir.join("cmdline")) else { continue };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let zombie = std::fs::read_to_string(proc_dir.join("stat"))
            .map(|stat| stat.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'))
            .unwrap_or(true);
        if cmdline.contains(&needle) && !zombie {
            found.push(format!("{}: {cmdline}", entry.file_name().to_string_lossy()));
        }
    }
    found
}
