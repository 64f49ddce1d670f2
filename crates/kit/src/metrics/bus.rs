//! The outbox and the consumers.

use std::sync::atomic::AtomicU64;

use prometheus_client::{metrics::gauge::Gauge, registry::Registry};

use super::{CounterFamily, GaugeFamily, labels};

/// Outbox, consumer and pool metrics.
#[derive(Clone)]
pub struct BusMetrics {
    /// `civicgrid_outbox_pending`: rows written but not yet acknowledged by JetStream.
    pub outbox_pending: Gauge,
    /// `civicgrid_outbox_oldest_age_seconds`: how long the oldest pending row has waited.
    pub outbox_oldest_age: Gauge<f64, AtomicU64>,
    published: CounterFamily,
    deliveries: CounterFamily,
    redeliveries: CounterFamily,
    passed_over: CounterFamily,
    dead_letters: CounterFamily,
    lag: GaugeFamily,
    /// `civicgrid_db_pool_connections{state}`: `idle` and `in_use` connections.
    pub pool: GaugeFamily,
}

impl BusMetrics {
    pub(super) fn register(registry: &mut Registry) -> Self {
        let m = BusMetrics {
            outbox_pending: Gauge::default(),
            outbox_oldest_age: Gauge::default(),
            published: Default::default(),
            deliveries: Default::default(),
            redeliveries: Default::default(),
            passed_over: Default::default(),
            dead_letters: Default::default(),
            lag: Default::default(),
            pool: Default::default(),
        };
        registry.register("outbox_pending", "Outbox rows not yet acknowledged by JetStream", m.outbox_pending.clone());
        registry.register(
            "outbox_oldest_age_seconds",
            "Age of the oldest outbox row not yet acknowledged (0 when none)",
            m.outbox_oldest_age.clone(),
        );
        registry.register(
            "facts_published",
            "Facts published from the outbox and acknowledged by JetStream, by fact (e.g. task-warning)",
            m.published.clone(),
        );
        registry.register(
            "consumer_deliveries",
            "Messages a durable consumer received (first deliveries and redeliveries)",
            m.deliveries.clone(),
        );
        registry.register(
            "consumer_redeliveries",
            "Messages a durable consumer received again (after a failure, a nak or an ack timeout)",
            m.redeliveries.clone(),
        );
        registry.register(
            "consumer_passed_over",
            "Messages a durable consumer acknowledged without a transaction: they concern nothing the service keeps",
            m.passed_over.clone(),
        );
        registry.register(
            "consumer_dead_letters",
            "Messages a durable consumer gave up on and published to its dead-letter subject",
            m.dead_letters.clone(),
        );
        registry.register(
            "consumer_lag",
            "Messages on the stream that the durable consumer has not yet received (JetStream's num_pending)",
            m.lag.clone(),
        );
        registry.register("db_pool_connections", "Database pool connections by state (idle, in_use)", m.pool.clone());
        m
    }

    /// Counts published facts by name.
    pub fn published(&self, facts: &[String]) {
        for f in facts {
            self.published.get_or_create(&labels([("fact", f)])).inc();
        }
    }

    /// Counts one delivery to `durable` (`delivered` > 1 is a redelivery).
    pub fn delivered(&self, durable: &str, delivered: i64) {
        self.deliveries.get_or_create(&labels([("durable", durable)])).inc();
        if delivered > 1 {
            self.redeliveries.get_or_create(&labels([("durable", durable)])).inc();
        }
    }

    /// Counts `n` deliveries to `durable` at once, `redelivered` of them redeliveries (a feed's
    /// batch: one label lookup instead of one per message).
    pub fn delivered_many(&self, durable: &str, n: u64, redelivered: u64) {
        let l = labels([("durable", durable)]);
        self.deliveries.get_or_create(&l).inc_by(n);
        if redelivered > 0 {
            self.redeliveries.get_or_create(&l).inc_by(redelivered);
        }
    }

    /// Counts `n` messages `durable` passed over (acknowledged without a transaction).
    pub fn passed_over(&self, durable: &str, n: u64) {
        self.passed_over.get_or_create(&labels([("durable", durable)])).inc_by(n);
    }

    /// Counts one dead letter of `durable`.
    pub fn dead_lettered(&self, durable: &str) {
        self.dead_letters.get_or_create(&labels([("durable", durable)])).inc();
    }

    /// Sets the lag of `durable`.
    pub fn set_lag(&self, durable: &str, pending: u64) {
        self.lag.get_or_create(&labels([("durable", durable)])).set(i64::try_from(pending).unwrap_or(i64::MAX));
    }

    /// Makes the per-consumer series exist (at zero) before the first message arrives.
    pub fn declare_consumer(&self, durable: &str) {
        let l = labels([("durable", durable)]);
        self.deliveries.get_or_create(&l).inc_by(0);
        self.redeliveries.get_or_create(&l).inc_by(0);
        self.passed_over.get_or_create(&l).inc_by(0);
        self.dead_letters.get_or_create(&l).inc_by(0);
        self.lag.get_or_create(&l).set(0);
    }
}
