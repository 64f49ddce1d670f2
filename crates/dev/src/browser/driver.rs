//! The chromedriver process: started in a process group of its own so that it and every
//! browser process it launches can be killed together.

use std::{
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use super::{BrowserError, io_err};
use crate::infra::{free_port, tail};

/// How long chromedriver may take to listen.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// A running chromedriver, killed with its process group when dropped.
pub(crate) struct Driver {
    child: Option<Child>,
    port: u16,
    log: PathBuf,
}

impl Driver {
    /// Starts `binary` on a free port on 127.0.0.1, logging to `log`, and waits until it
    /// listens.
    pub(crate) async fn start(binary: &Path, log: PathBuf) -> Result<Self, BrowserError> {
        let port = free_port().map_err(io_err("finding a free port"))?;
        let out = std::fs::File::create(&log).map_err(io_err(format!("creating {}", log.display())))?;
        let child = Command::new(binary)
            .arg(format!("--port={port}"))
            // Its own group, which the browser joins: one kill reaches them all.
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(out.try_clone().map_err(io_err("chromedriver log"))?)
            .stderr(out)
            .spawn()
            .map_err(io_err(format!("starting {}", binary.display())))?;
        spawn_group_watchdog(std::process::id(), child.id());
        let mut driver = Driver { child: Some(child), port, log };
        driver.wait_ready().await?;
        Ok(driver)
    }

    /// `http://127.0.0.1:<port>`, the WebDriver endpoint.
    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The last lines chromedriver wrote, for error messages.
    pub(crate) fn log_tail(&self) -> String {
        tail(&self.log, 15)
    }

    async fn wait_ready(&mut self) -> Result<(), BrowserError> {
        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(BrowserError::Start(format!("chromedriver exited with {status}:\n{}", self.log_tail())));
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_ok() {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                return Err(BrowserError::Start(format!(
                    "chromedriver not listening after {READY_TIMEOUT:?}:\n{}",
                    self.log_tail()
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills chromedriver and the browser processes in its group, and reaps chromedriver.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_group(child.id());
            let _ = child.wait();
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.kill();
    }
}

/// SIGKILL to process group `pgid` (the group leader's pid).
fn kill_group(pgid: u32) {
    if let Ok(pgid) = i32::try_from(pgid) {
        // SAFETY: kill has no memory-safety preconditions; a negative pid names a group.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
    }
}

/// Kills process group `pgid` once process `parent` is gone, so a browser never outlives a
/// test process that was killed before it could drop its [`Driver`]. (The infra watchdog
/// signals one pid; Chromium's processes need the whole group.)
fn spawn_group_watchdog(parent: u32, pgid: u32) {
    crate::infra::detached_sh(&format!(
        "while kill -0 {parent} 2>/dev/null && kill -0 -{pgid} 2>/dev/null; do sleep 1; done; \
         kill -0 {parent} 2>/dev/null || kill -KILL -{pgid} 2>/dev/null"
    ));
}
