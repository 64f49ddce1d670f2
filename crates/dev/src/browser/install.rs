//! Finds Debian's `chromium` and `chromedriver`, installing them with apt when missing.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    sync::OnceLock,
};

use super::{BrowserError, io_err};
use crate::infra::{cache_dir, running_as_root, which};

/// The Debian packages that provide `chromium`, `/usr/bin/chromedriver` and a Chinese font
/// (the console's labels are Chinese; without one a screenshot shows empty boxes).
const PACKAGES: [&str; 3] = ["chromium", "chromium-driver", "fonts-wqy-microhei"];

/// The font file `fonts-wqy-microhei` installs.
const CJK_FONT: &str = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc";

/// What to tell a person when nothing worked.
const BY_HAND: &str = "install headless Chromium and its WebDriver by hand \
     (Debian: `apt-get install chromium chromium-driver`) so that `chromium` and `chromedriver` are on PATH";

/// Finds `chromium` and `chromedriver` (PATH, then `/usr/bin`) and returns their paths.
///
/// When either is missing, installs Debian's `chromium` and `chromium-driver` with
/// `apt-get install -y --no-install-recommends` (as root, else through `sudo -n`), running
/// `apt-get update` and trying again if the first install fails. Concurrent test processes
/// wait on a file lock in [`cache_dir`], so the machine installs once; within a process the
/// answer (found or failed) is kept. Blocks while apt runs: call it from
/// `spawn_blocking` in async code ([`super::Browser::start`] does).
pub fn ensure_chromium() -> Result<(PathBuf, PathBuf), BrowserError> {
    static FOUND: OnceLock<Result<(PathBuf, PathBuf), String>> = OnceLock::new();
    FOUND.get_or_init(|| find_or_install().map_err(|e| e.to_string())).clone().map_err(BrowserError::Missing)
}

fn find_or_install() -> Result<(PathBuf, PathBuf), BrowserError> {
    if let Some(found) = find()
        && Path::new(CJK_FONT).is_file()
    {
        return Ok(found);
    }
    let dir = cache_dir();
    std::fs::create_dir_all(&dir).map_err(io_err(format!("creating {}", dir.display())))?;
    let lock_path = dir.join("chromium.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io_err(format!("opening {}", lock_path.display())))?;
    // Same flock as the PyPI installs: the lock is released when `lock` is dropped.
    lock.lock().map_err(io_err(format!("locking {}", lock_path.display())))?;
    // Another process may have installed while we waited.
    if let Some(found) = find()
        && Path::new(CJK_FONT).is_file()
    {
        return Ok(found);
    }
    let installed = apt_install();
    if let (Err(e), Some(found)) = (&installed, find()) {
        // The browser is there and only the font could not be added: tests still run.
        eprintln!("civicgrid: no Chinese font for screenshots ({e}); continuing");
        return Ok(found);
    }
    installed?;
    find().ok_or_else(|| {
        BrowserError::Missing(format!(
            "apt-get installed {} but `chromium` or `chromedriver` is still not found; {BY_HAND}",
            PACKAGES.join(" ")
        ))
    })
}

/// Both binaries, if present.
fn find() -> Option<(PathBuf, PathBuf)> {
    Some((locate("chromium")?, locate("chromedriver")?))
}

/// `name` on PATH, else in `/usr/bin` (a test's PATH may be trimmed).
fn locate(name: &str) -> Option<PathBuf> {
    which(name).or_else(|| Some(Path::new("/usr/bin").join(name)).filter(|p| p.is_file()))
}

fn apt_install() -> Result<(), BrowserError> {
    if which("apt-get").is_none() {
        return Err(BrowserError::Missing(format!(
            "chromium or chromedriver is missing and there is no apt-get; {BY_HAND}"
        )));
    }
    let sudo = !running_as_root();
    if sudo && which("sudo").is_none() {
        return Err(BrowserError::Missing(format!(
            "chromium or chromedriver is missing; installing needs root and there is no sudo; {BY_HAND}"
        )));
    }
    eprintln!("civicgrid: installing {} with apt-get (once per machine)", PACKAGES.join(" "));
    let mut args = vec!["install", "-y", "--no-install-recommends"];
    args.extend(PACKAGES);
    if apt(sudo, &args)?.status.success() {
        return Ok(());
    }
    // Usually missing or stale package lists (a fresh machine has none): refresh, retry once.
    let update = apt(sudo, &["update"])?;
    let second = apt(sudo, &args)?;
    if second.status.success() {
        return Ok(());
    }
    Err(BrowserError::Missing(format!(
        "`{}apt-get install -y --no-install-recommends {}` failed: {}{}; {BY_HAND}",
        if sudo { "sudo -n " } else { "" },
        PACKAGES.join(" "),
        last_lines(&second),
        if update.status.success() {
            String::new()
        } else {
            format!(" (apt-get update failed too: {})", last_lines(&update))
        },
    )))
}

/// Runs `apt-get <args>` non-interactively, through `sudo -n` when not root.
fn apt(sudo: bool, args: &[&str]) -> Result<Output, BrowserError> {
    // sudo resets the environment, so the frontend goes through `env` on its command line.
    let mut cmd = Command::new(if sudo { "sudo" } else { "env" });
    if sudo {
        cmd.args(["-n", "env"]);
    }
    cmd.args(["DEBIAN_FRONTEND=noninteractive", "apt-get"])
        // Wait for apt or dpkg run by someone else rather than fail at once on their lock.
        .args(["-o", "DPkg::Lock::Timeout=600", "-q"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(io_err(format!("running apt-get {}", args.join(" "))))
}

/// The last lines of apt's errors (else of its output), for an error message.
fn last_lines(out: &Output) -> String {
    let stream = if out.stderr.iter().any(|b| !b.is_ascii_whitespace()) { &out.stderr } else { &out.stdout };
    let text = String::from_utf8_lossy(stream);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(4)..].join(" / ")
}
