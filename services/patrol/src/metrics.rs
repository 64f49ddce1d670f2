//! patrol's own metrics: `civicgrid_patrol_fixes_accepted_total`,
//! `civicgrid_patrol_fixes_rejected_total{reason}`, `civicgrid_patrol_ingest_batch_seconds`
//! (one batch of fixes, validation to commit), `civicgrid_patrol_check_ins_total{method}`, and,
//! read at every scrape, `civicgrid_patrol_active_shifts` and `civicgrid_patrol_members_online`
//! (members of active shifts' teams not marked offline who reported within
//! `patrol.offline_after_secs`).

use civicgrid_kit::metrics::{CounterFamily, Metrics, labels};
use prometheus_client::metrics::{counter::Counter, gauge::Gauge, histogram::Histogram};

/// Every reason a fix is rejected, as counted.
pub const REJECT_REASONS: [&str; 10] = [
    "coordinates",
    "future",
    "stale",
    "duplicate",
    "out_of_order",
    "speed",
    "accuracy",
    "unknown_member",
    "device",
    "malformed",
];

/// The handles patrol records into.
#[derive(Clone)]
pub struct PatrolMetrics {
    accepted: Counter,
    rejected: CounterFamily,
    check_ins: CounterFamily,
    batch: Histogram,
    /// Active shifts, set at scrape time.
    pub active_shifts: Gauge,
    /// Members online, set at scrape time.
    pub members_online: Gauge,
}

impl PatrolMetrics {
    /// Registers patrol's metrics in `metrics`.
    pub fn register(metrics: &Metrics) -> Self {
        let m = PatrolMetrics {
            accepted: Counter::default(),
            rejected: CounterFamily::default(),
            check_ins: CounterFamily::default(),
            batch: Histogram::new([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5]),
            active_shifts: Gauge::default(),
            members_online: Gauge::default(),
        };
        for r in REJECT_REASONS {
            m.rejected.get_or_create(&labels([("reason", r)])).inc_by(0);
        }
        metrics.register("patrol_fixes_accepted", "Position fixes accepted and stored", m.accepted.clone());
        metrics.register("patrol_fixes_rejected", "Position fixes rejected, by reason", m.rejected.clone());
        metrics.register("patrol_check_ins", "Checkpoints checked in, by method", m.check_ins.clone());
        metrics.register(
            "patrol_ingest_batch_seconds",
            "Time to validate, apply and commit one batch of position fixes",
            m.batch.clone(),
        );
        metrics.register("patrol_active_shifts", "Shifts started and not ended", m.active_shifts.clone());
        metrics.register(
            "patrol_members_online",
            "Members of active shifts who reported within patrol.offline_after_secs",
            m.members_online.clone(),
        );
        m
    }

    /// Counts `n` accepted fixes.
    pub fn accepted(&self, n: u64) {
        self.accepted.inc_by(n);
    }

    /// Counts `n` fixes rejected for `reason`.
    pub fn rejected(&self, reason: &str, n: u64) {
        self.rejected.get_or_create(&labels([("reason", reason)])).inc_by(n);
    }

    /// Counts a check-in by `method`.
    pub fn checked_in(&self, method: &str) {
        self.check_ins.get_or_create(&labels([("method", method)])).inc();
    }

    /// Records a batch's duration.
    pub fn batch_took(&self, seconds: f64) {
        self.batch.observe(seconds);
    }
}
