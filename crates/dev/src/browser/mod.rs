//! Browser tests in headless Chromium, driven over WebDriver.
//!
//! - **What it installs.** [`ensure_chromium`] finds Debian's `chromium` and its WebDriver
//!   `chromedriver` (package `chromium-driver`, at `/usr/bin/chromedriver`), and a Chinese font
//!   (`fonts-wqy-microhei`, for the console's labels in screenshots). When one is missing it runs
//!   `apt-get install -y --no-install-recommends chromium chromium-driver fonts-wqy-microhei`
//!   once per machine (with `apt-get update` first when the install fails, as it does without
//!   package lists), as root or through `sudo -n`. Parallel test processes wait on a file lock
//!   in the cache directory ([`crate::infra::cache_dir`]). Nothing else is downloaded.
//! - **What runs.** [`Browser::start`] starts `chromedriver` on a free port and opens a session
//!   of headless Chromium with a temporary profile. Closing or dropping the [`Browser`] ends
//!   the session and kills chromedriver and the browser it started.
//! - **Where screenshots go.** [`Browser::screenshot`] writes
//!   `<target>/test-artifacts/<name>.png`, where `<target>` is `CARGO_TARGET_DIR` or the
//!   workspace's `target/` ([`artifacts_dir`]).
//!
//! The WebDriver client is [`fantoccini`] (re-exported), for what the helpers do not cover.

mod driver;
mod install;
mod session;

use std::path::PathBuf;

pub use fantoccini;
pub use install::ensure_chromium;
pub use session::Browser;

/// Why a browser could not be provided or a browser step failed.
#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    /// Chromium or chromedriver could not be found or installed; the message says what to
    /// install by hand.
    #[error("{0}")]
    Missing(String),
    /// chromedriver or the browser session did not start.
    #[error("headless Chromium did not start: {0}")]
    Start(String),
    /// A wait ran out; the message names what was awaited (the CSS selector).
    #[error("timed out after {timeout:?} waiting for {what}")]
    Timeout {
        /// What was awaited, with the selector.
        what: String,
        /// How long the wait lasted.
        timeout: std::time::Duration,
    },
    /// A WebDriver command failed.
    #[error("{context}: {source}")]
    WebDriver {
        /// What was being done, with the selector where there is one.
        context: String,
        /// The error (boxed: it is large).
        source: Box<fantoccini::error::CmdError>,
    },
    /// File system or process error.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        source: std::io::Error,
    },
}

pub(crate) fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> BrowserError {
    let context = context.into();
    move |source| BrowserError::Io { context, source }
}

pub(crate) fn wd_err(context: impl Into<String>) -> impl FnOnce(fantoccini::error::CmdError) -> BrowserError {
    let context = context.into();
    move |source| BrowserError::WebDriver { context, source: Box::new(source) }
}

/// Where test artifacts (screenshots) go: `$CARGO_TARGET_DIR/test-artifacts`, else the
/// workspace's `target/test-artifacts`. A relative `CARGO_TARGET_DIR` is taken from the
/// workspace root, since test processes run in their crate's directory.
pub fn artifacts_dir() -> PathBuf {
    // crates/dev → the workspace root, fixed at compile time like cargo's own target dir.
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let workspace = manifest.ancestors().nth(2).unwrap_or(manifest);
    let target = match std::env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => workspace.join(dir),
        None => workspace.join("target"),
    };
    target.join("test-artifacts")
}
