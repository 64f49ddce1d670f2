//! [`Browser`]: one headless Chromium session and the helpers browser tests use.

use std::{path::PathBuf, time::Duration};

use fantoccini::{Client, ClientBuilder, Locator, elements::Element, error::CmdError};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

use super::{BrowserError, artifacts_dir, driver::Driver, ensure_chromium, io_err, wd_err};

/// How long [`Browser::wait_for`] waits unless [`Browser::set_wait_timeout`] says otherwise.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(10);

/// How often waits look again.
const POLL: Duration = Duration::from_millis(50);

/// A headless Chromium session with its own chromedriver and temporary profile.
///
/// Dropping it kills chromedriver and the browser at once; [`Browser::close`] ends the
/// WebDriver session first.
pub struct Browser {
    client: Client,
    wait: Duration,
    // Field order is drop order: the driver (and its browser) die before the profile goes.
    driver: Driver,
    profile: tempfile::TempDir,
}

impl Browser {
    /// Installs Chromium if needed ([`ensure_chromium`]), starts chromedriver on a free port
    /// and opens a session of headless Chromium (1600×1000, no sandbox, no GPU, a temporary
    /// profile).
    pub async fn start() -> Result<Browser, BrowserError> {
        let (chromium, chromedriver) = tokio::task::spawn_blocking(ensure_chromium)
            .await
            .map_err(|e| BrowserError::Start(format!("installing Chromium: {e}")))??;
        let profile = tempfile::Builder::new()
            .prefix("civicgrid-browser-")
            .tempdir()
            .map_err(io_err("creating the browser's profile directory"))?;
        let driver = Driver::start(&chromedriver, profile.path().join("chromedriver.log")).await?;
        let options = json!({
            "binary": chromium,
            "args": [
                "--headless=new",
                // As root (CI) Chromium refuses to run sandboxed.
                "--no-sandbox",
                "--disable-gpu",
                // Containers often have a tiny /dev/shm.
                "--disable-dev-shm-usage",
                "--window-size=1600,1000",
                format!("--user-data-dir={}", profile.path().join("profile").display()),
            ],
        });
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert("goog:chromeOptions".into(), options);
        // Plain HTTP: chromedriver listens on 127.0.0.1 only.
        let client =
            ClientBuilder::new(HttpConnector::new()).capabilities(capabilities).connect(&driver.url()).await.map_err(
                |e| BrowserError::Start(format!("no session from chromedriver: {e}\n{}", driver.log_tail())),
            )?;
        Ok(Browser { client, wait: DEFAULT_WAIT, driver, profile })
    }

    /// The WebDriver client, for anything the helpers do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The temporary directory holding the browser's profile and chromedriver's log; removed
    /// when the browser is dropped.
    pub fn dir(&self) -> &std::path::Path {
        self.profile.path()
    }

    /// Sets how long [`wait_for`](Self::wait_for), [`click`](Self::click) and
    /// [`fill`](Self::fill) wait for their element ([`DEFAULT_WAIT`] unless set).
    pub fn set_wait_timeout(&mut self, timeout: Duration) {
        self.wait = timeout;
    }

    /// Opens `url` and waits for it to load.
    pub async fn goto(&self, url: &str) -> Result<(), BrowserError> {
        self.client.goto(url).await.map_err(wd_err(format!("opening {url}")))
    }

    /// Waits until an element matches `css` and returns the first; the error names `css`.
    pub async fn wait_for(&self, css: &str) -> Result<Element, BrowserError> {
        match self.client.wait().at_most(self.wait).every(POLL).for_element(Locator::Css(css)).await {
            Ok(element) => Ok(element),
            Err(CmdError::WaitTimeout) => {
                Err(BrowserError::Timeout { what: format!("an element matching `{css}`"), timeout: self.wait })
            }
            Err(e) => Err(wd_err(format!("waiting for `{css}`"))(e)),
        }
    }

    /// Waits until an element matching `css` has text containing `contains`, and returns
    /// that element's whole text. On timeout the error names `css` and the texts last seen.
    pub async fn wait_for_text(&self, css: &str, contains: &str, timeout: Duration) -> Result<String, BrowserError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let mut seen = Vec::new();
            // Elements can go stale between finding and reading while the page changes: look again.
            if let Ok(elements) = self.client.find_all(Locator::Css(css)).await {
                for element in elements {
                    if let Ok(text) = element.text().await {
                        if text.contains(contains) {
                            return Ok(text);
                        }
                        seen.push(text);
                    }
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(BrowserError::Timeout {
                    what: format!("text containing {contains:?} in `{css}` (last seen: {seen:?})"),
                    timeout,
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits for the element matching `css` and clicks it.
    pub async fn click(&self, css: &str) -> Result<(), BrowserError> {
        self.wait_for(css).await?.click().await.map_err(wd_err(format!("clicking `{css}`")))
    }

    /// Waits for the input matching `css`, clears it and types `text`.
    pub async fn fill(&self, css: &str, text: &str) -> Result<(), BrowserError> {
        let element = self.wait_for(css).await?;
        element.clear().await.map_err(wd_err(format!("clearing `{css}`")))?;
        element.send_keys(text).await.map_err(wd_err(format!("typing into `{css}`")))
    }

    /// How many elements match `css` now (no waiting).
    pub async fn count(&self, css: &str) -> Result<usize, BrowserError> {
        let elements = self.client.find_all(Locator::Css(css)).await.map_err(wd_err(format!("finding `{css}`")))?;
        Ok(elements.len())
    }

    /// Runs `js` in the page as the body of a function and returns what it `return`s, e.g.
    /// `eval("return document.title")`.
    pub async fn eval(&self, js: &str) -> Result<Value, BrowserError> {
        self.client.execute(js, Vec::new()).await.map_err(wd_err("running script"))
    }

    /// Saves a PNG of the window as `<artifacts>/<name>.png` ([`artifacts_dir`]) and returns
    /// its path.
    pub async fn screenshot(&self, name: &str) -> Result<PathBuf, BrowserError> {
        let png = self.client.screenshot().await.map_err(wd_err("taking a screenshot"))?;
        let path = artifacts_dir().join(format!("{name}.png"));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io_err(format!("creating {}", dir.display())))?;
        }
        std::fs::write(&path, png).map_err(io_err(format!("writing {}", path.display())))?;
        Ok(path)
    }

    /// Ends the WebDriver session (Chromium quits), then kills chromedriver and whatever is
    /// left of the browser.
    pub async fn close(mut self) -> Result<(), BrowserError> {
        let ended = self.client.clone().close().await.map_err(wd_err("ending the session"));
        self.driver.kill();
        ended
    }
}
