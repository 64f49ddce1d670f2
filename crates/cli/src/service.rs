//! `civicgrid service <name>`: one service in the foreground until SIGINT/SIGTERM.

use std::path::Path;

use anyhow::Context;
use civicgrid_kit::{Shutdown, clock::Clock};

/// The services this binary can run.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum ServiceName {
    /// 一门受理: the single door for every report.
    Intake,
    /// 分流交办, 督办, 考核: routing, the task lifecycle, warnings and scoring.
    Dispatch,
    /// 信息反馈: notifications by inbox, webhook and SMS.
    Notify,
}

/// Cancels `shutdown` on the first SIGINT or SIGTERM.
pub fn cancel_on_signals(shutdown: Shutdown) {
    tokio::spawn(async move {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        shutdown.cancel();
    });
}

/// Runs service `name` until a signal, then shuts it down gracefully.
pub async fn run(name: ServiceName, config: Option<&Path>) -> anyhow::Result<()> {
    let shutdown = Shutdown::new();
    cancel_on_signals(shutdown.clone());
    match name {
        ServiceName::Intake => {
            let settings = civicgrid_intake::Settings::load(config).context("intake configuration")?;
            let _telemetry = civicgrid_kit::telemetry::init("intake", &settings.common.telemetry);
            let app = civicgrid_intake::Application::build(settings, Clock::System).await.context("starting intake")?;
            app.run_until_stopped(shutdown).await.context("intake")?;
        }
        ServiceName::Dispatch => {
            let settings = civicgrid_dispatch::Settings::load(config).context("dispatch configuration")?;
            let _telemetry = civicgrid_kit::telemetry::init("dispatch", &settings.common.telemetry);
            let app =
                civicgrid_dispatch::Application::build(settings, Clock::System).await.context("starting dispatch")?;
            app.run_until_stopped(shutdown).await.context("dispatch")?;
        }
        ServiceName::Notify => {
            let settings = civicgrid_notify::Settings::load(config).context("notify configuration")?;
            let _telemetry = civicgrid_kit::telemetry::init("notify", &settings.common.telemetry);
            let app = civicgrid_notify::Application::build(settings, Clock::System).await.context("starting notify")?;
            app.run_until_stopped(shutdown).await.context("notify")?;
        }
    }
    Ok(())
}
