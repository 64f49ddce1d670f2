//! What a service hands the runtime: its gRPC services, consumers and background jobs.

use std::{convert::Infallible, future::Future, pin::Pin};

use civicgrid_contracts::{Consumer, Feed};
use tonic::{body::Body, server::NamedService, service::Routes};

use crate::{
    Shutdown,
    access::Table,
    bus::{FeedHandler, FeedOptions, Handler},
};

type Task = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Starts a consumer on the runtime's pool, JetStream context, settings and metrics.
pub(crate) type StartConsumer = Box<dyn FnOnce(super::ConsumerDeps, Shutdown) -> ConsumerStart + Send>;
pub(crate) type ConsumerStart =
    Pin<Box<dyn Future<Output = Result<tokio::task::JoinHandle<()>, crate::bus::BusError>> + Send>>;

/// A background job: runs until its stop token is cancelled, then finishes what it holds.
pub(crate) struct Job {
    pub(crate) name: &'static str,
    pub(crate) run: Box<dyn FnOnce(Shutdown) -> Task + Send>,
}

/// A service's parts, in the order they matter: the gRPC services it serves, the durable
/// consumers it keeps, and its background jobs **in the order they stop**. The runtime starts
/// them all, and at shutdown stops taking calls, then stops the consumers, then the jobs one
/// after another as declared, then flushes the outbox.
#[derive(Default)]
pub struct Assembly {
    pub(crate) routes: Routes,
    pub(crate) services: Vec<&'static str>,
    pub(crate) access: Vec<&'static Table>,
    pub(crate) consumers: Vec<(&'static str, StartConsumer)>,
    pub(crate) jobs: Vec<Job>,
}

impl Assembly {
    /// Nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves a generated tonic server (e.g. `IntakeServiceServer::new(api)`) under its access
    /// table (who may call each RPC). Reflection lists it; health reports it; the edge
    /// authenticates its calls and admits each by the table.
    pub fn grpc<S>(mut self, service: S, access: &'static Table) -> Self
    where
        S: tower::Service<http::Request<Body>, Error = Infallible> + NamedService + Clone + Send + Sync + 'static,
        S::Response: axum::response::IntoResponse,
        S::Future: Send + 'static,
    {
        self.routes = self.routes.add_service(service);
        self.services.push(S::NAME);
        self.access.push(access);
        self
    }

    /// Keeps the durable consumer `contract` and applies its messages with `handler`.
    pub fn consumer<H: Handler>(mut self, contract: Consumer, handler: H) -> Self {
        let start: StartConsumer = Box::new(move |deps: super::ConsumerDeps, stop: Shutdown| {
            Box::pin(async move {
                crate::bus::run_consumer(deps.pool, deps.js, contract, handler, &deps.bus, deps.metrics, stop).await
            })
        });
        self.consumers.push((contract.durable, start));
        self
    }

    /// Reads the feed `contract` (its stream ensured with messages kept for `options.max_age`)
    /// through its durable consumer and applies its batches with `handler`. It stops with the
    /// consumers, after the batch in hand.
    pub fn feed<H: FeedHandler>(mut self, contract: Feed, options: FeedOptions, handler: H) -> Self {
        let start: StartConsumer = Box::new(move |deps: super::ConsumerDeps, stop: Shutdown| {
            Box::pin(async move {
                crate::bus::run_feed(deps.js, contract, options, handler, (&deps.bus, &deps.nats), deps.metrics, stop)
                    .await
            })
        });
        self.consumers.push((contract.durable, start));
        self
    }

    /// Runs a background job. `run` gets the job's stop token and must return once it is
    /// cancelled, after finishing what it holds (a batch being written, a delivery in flight).
    /// Jobs stop in the order they are declared, after the gRPC server and the consumers and
    /// before the outbox's last flush, so whatever they write is still published.
    pub fn job<F, Fut>(mut self, name: &'static str, run: F) -> Self
    where
        F: FnOnce(Shutdown) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.jobs.push(Job { name, run: Box::new(move |stop| Box::pin(run(stop))) });
        self
    }

    /// The names of the gRPC services declared so far.
    pub fn services(&self) -> &[&'static str] {
        &self.services
    }
}
