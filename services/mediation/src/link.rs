//! The dispatch link job: keeps the dispatch task of a case that came from one in step. It
//! claims the due `dispatch_calls` rows (`FOR UPDATE SKIP LOCKED`, so replicas share them) and
//! calls dispatch's gRPC API as the task's justice office — `SignFor` on acceptance, `Resolve`
//! with the outcome as the result — each call with its own stable request id, so a retry is the
//! same call to dispatch.
//!
//! A call is done when dispatch answers, or when it answers FAILED_PRECONDITION and the task is
//! already where the call would take it (a resolve of a task not yet signed for signs for it
//! first). NOT_FOUND, PERMISSION_DENIED and INVALID_ARGUMENT can never succeed (the task left
//! the justice office): the call is given up, logged and noted in `last_error`. Anything else
//! is retried after `mediation.dispatch_retry_ms`, doubling up to a minute.

use std::{sync::Arc, time::Duration};

use civicgrid_kit::{
    Shutdown,
    auth::{Claims, expiry_in, issue_token},
    clock::Clock,
    config::{AuthSettings, ExposeSecret},
};
use civicgrid_proto::v1::{
    GetTaskRequest, ResolveRequest, TaskRequest, TaskStatus, dispatch_service_client::DispatchServiceClient,
};
use tokio::sync::Notify;
use tonic::{Code, Request, Status, metadata::MetadataValue, transport::Channel};

use crate::store::{
    Store, StoreError,
    dispatch_calls::{self, CallRow, RESOLVE, SIGN_FOR},
};

/// The subject of the link's tokens (dispatch keys its request ids by it).
pub const SUBJECT: &str = "civicgrid-mediation";

/// The longest wait between two tries of a call.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// How a call ended this time.
#[derive(Debug, PartialEq)]
enum Outcome {
    /// Done; the note says how when not plainly.
    Done(String),
    /// Try again later, for this reason.
    Retry(String),
}

/// The link to dispatch.
pub struct DispatchLink {
    /// The store.
    pub store: Arc<Store>,
    /// The time source.
    pub clock: Clock,
    /// dispatch's gRPC client (a lazily connected channel).
    pub client: DispatchServiceClient<Channel>,
    /// How tokens are signed (`auth.hs256_secret`, issuer, audience).
    pub auth: AuthSettings,
    /// The first retry's delay.
    pub retry: Duration,
    /// Calls per round.
    pub batch: i64,
    /// Woken when a transaction wrote calls.
    pub wake: Arc<Notify>,
}

fn signed_or_later(s: TaskStatus) -> bool {
    matches!(
        s,
        TaskStatus::Signed | TaskStatus::InProgress | TaskStatus::Resolved | TaskStatus::Verified | TaskStatus::Closed
    )
}

fn resolved_or_later(s: TaskStatus) -> bool {
    matches!(s, TaskStatus::Resolved | TaskStatus::Verified | TaskStatus::Closed)
}

/// What a refusal means for the call.
fn refused(s: &Status) -> Outcome {
    match s.code() {
        Code::NotFound | Code::PermissionDenied | Code::InvalidArgument => {
            Outcome::Done(format!("gave up: {:?}: {}", s.code(), s.message()))
        }
        code => Outcome::Retry(format!("{code:?}: {}", s.message())),
    }
}

impl DispatchLink {
    /// Runs until `stop`: a round when woken or every `every`, repeated at once while rounds
    /// come back full.
    pub async fn run(self, every: Duration, stop: Shutdown) {
        loop {
            loop {
                match self.round().await {
                    Ok(n) if n as i64 >= self.batch => continue,
                    Ok(_) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "dispatch link round failed");
                        break;
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = self.wake.notified() => {}
                _ = stop.cancelled() => return,
            }
        }
    }

    /// Makes the calls due now; returns how many were claimed.
    async fn round(&self) -> Result<usize, StoreError> {
        let now = self.clock.now();
        let mut tx = self.store.pool().begin().await?;
        let calls = dispatch_calls::claim_due(&mut tx, now, self.batch).await?;
        let outcomes = futures::future::join_all(calls.iter().map(|c| self.make(c))).await;
        for (call, outcome) in calls.iter().zip(outcomes) {
            match outcome {
                Outcome::Done(note) => {
                    if !note.is_empty() {
                        tracing::warn!(task = %call.task_id, action = %call.action, %note, "dispatch call ended");
                    }
                    dispatch_calls::done(&mut tx, call.id, now, &note).await?;
                }
                Outcome::Retry(error) => {
                    let factor = 2u32.saturating_pow(call.attempts.clamp(0, 16) as u32);
                    let delay = self.retry.saturating_mul(factor).min(MAX_BACKOFF);
                    let due = now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::seconds(60));
                    tracing::info!(task = %call.task_id, action = %call.action, %error, retry_in = ?delay, "dispatch call failed");
                    dispatch_calls::retry_at(&mut tx, call.id, due, &error).await?;
                }
            }
        }
        tx.commit().await?;
        Ok(calls.len())
    }

    /// A request carrying a token of the task's justice office.
    fn authed<T>(&self, message: T, department: &str) -> Request<T> {
        let claims = Claims {
            sub: SUBJECT.into(),
            role: "department".into(),
            department_id: department.into(),
            region_scope: String::new(),
            exp: expiry_in(Duration::from_secs(600)),
            iss: self.auth.issuer.clone(),
            aud: self.auth.audience.clone(),
        };
        // Without a secret dispatch checks no signature (authentication is off there too).
        let secret = self.auth.hs256_secret.as_ref().map(|s| s.expose_secret().to_string()).unwrap_or_default();
        let mut request = Request::new(message);
        let bearer = issue_token(if secret.is_empty() { "unsigned" } else { &secret }, &claims)
            .ok()
            .and_then(|t| MetadataValue::try_from(format!("Bearer {t}")).ok());
        if let Some(value) = bearer {
            request.metadata_mut().insert("authorization", value);
        }
        request
    }

    /// The task's status as its department sees it.
    async fn status(&self, call: &CallRow) -> Result<TaskStatus, Status> {
        let req = self.authed(GetTaskRequest { task_id: call.task_id.to_string() }, &call.department);
        let task = self.client.clone().get_task(req).await?.into_inner();
        Ok(TaskStatus::try_from(task.status).unwrap_or(TaskStatus::Unspecified))
    }

    async fn sign_for(&self, call: &CallRow, request_id: String) -> Result<(), Status> {
        let req = TaskRequest { request_id, task_id: call.task_id.to_string() };
        self.client.clone().sign_for(self.authed(req, &call.department)).await.map(|_| ())
    }

    async fn resolve(&self, call: &CallRow) -> Result<(), Status> {
        let req = ResolveRequest {
            request_id: call.request_id.clone(),
            task_id: call.task_id.to_string(),
            result: call.result.clone(),
            evidence_urls: vec![],
        };
        self.client.clone().resolve(self.authed(req, &call.department)).await.map(|_| ())
    }

    /// Makes one call.
    async fn make(&self, call: &CallRow) -> Outcome {
        let first = match call.action.as_str() {
            SIGN_FOR => self.sign_for(call, call.request_id.clone()).await,
            RESOLVE => self.resolve(call).await,
            other => return Outcome::Done(format!("gave up: unknown action `{other}`")),
        };
        let refusal = match first {
            Ok(()) => return Outcome::Done(String::new()),
            Err(s) if s.code() == Code::FailedPrecondition => s,
            Err(s) => return refused(&s),
        };
        let status = match self.status(call).await {
            Ok(status) => status,
            Err(s) => return refused(&s),
        };
        match call.action.as_str() {
            SIGN_FOR if signed_or_later(status) => Outcome::Done(String::new()),
            RESOLVE if resolved_or_later(status) => Outcome::Done(String::new()),
            RESOLVE if status == TaskStatus::Assigned => {
                // Refused or withdrawn before acceptance: sign for the task, then resolve it.
                if let Err(s) = self.sign_for(call, format!("{}-sign", call.request_id)).await {
                    return refused(&s);
                }
                match self.resolve(call).await {
                    Ok(()) => Outcome::Done(String::new()),
                    Err(s) => refused(&s),
                }
            }
            _ => Outcome::Retry(format!("FailedPrecondition: {} (task {})", refusal.message(), status.as_str_name())),
        }
    }
}
