//! The outbox delivery worker: a loop around
//! [`OutboxDelivery::deliver_batch`] that the binary spawns next to the
//! HTTP server.
//!
//! - It delivers batch after batch while batches come back full, and sleeps
//!   [`WorkerSettings::poll`] when the outbox has nothing more that is due.
//! - A store failure fails the batch (the domain's contract); the worker
//!   logs it and waits, doubling the wait from
//!   [`WorkerSettings::error_backoff`] up to
//!   [`WorkerSettings::max_error_backoff`], then tries again.
//! - Several workers, in one process or many, may share one store: the
//!   store's claim never hands one email to two of them.
//!
//! # Stopping
//!
//! When the `shutdown` future completes the worker stops *between two
//! emails*: the email being sent is finished and marked (sent, retry or
//! failed), and the worker returns before sending the next one. Emails are
//! claimed one at a time, so what a stop leaves behind is at most the one
//! email claimed just before it and never sent: its claim is a lease
//! ([`DeliveryPolicy::lease`]), and when the lease runs out it is due again
//! for whichever worker runs next. The rest of the batch was never claimed
//! and goes out at once. Nothing is lost and nothing is sent twice.
//!
//! This works by handing the domain a [`Mailer`] wrapper whose `send` checks
//! a gate before starting: once the worker is stopping, the gate never
//! opens, and the worker drops the batch at exactly that point (before the
//! send began, after the previous email was marked). Stopping therefore
//! takes at most one send (bounded by the SMTP send timeout) and one store
//! call.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use portal_domain::delivery::{BatchReport, DeliveryPolicy, DropReason, OutboxDelivery};
use portal_domain::email::Email;
use portal_domain::ports::{AuditLog, Clock, MailError, Mailer, OutboxStore};
use tokio::sync::Notify;

/// How the worker paces itself. [`DeliveryPolicy`] says how emails retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerSettings {
    /// The pause when the outbox has nothing more that is due.
    pub poll: Duration,
    /// The first pause after a store failure; it doubles at each failure in
    /// a row.
    pub error_backoff: Duration,
    pub max_error_backoff: Duration,
}

impl Default for WorkerSettings {
    /// Poll every second; after store failures wait 1 s, doubling to 1 min.
    fn default() -> Self {
        Self {
            poll: Duration::from_secs(1),
            error_backoff: Duration::from_secs(1),
            max_error_backoff: Duration::from_secs(60),
        }
    }
}

/// What a worker did between its start and its stop.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerReport {
    /// Batches delivered to the end.
    pub batches: u64,
    /// Emails sent and marked so. In a batch left unfinished at a stop,
    /// failed sends are marked too but not counted in `retried` or `failed`.
    pub sent: u64,
    pub retried: u64,
    pub failed: u64,
    /// Emails dropped unsent because they had lost their use (link expired,
    /// account gone).
    pub dropped: u64,
    /// Emails finished after another worker had claimed them again.
    pub claims_lost: u64,
    /// Batches failed by the store.
    pub store_errors: u64,
    /// Whether the worker stopped in the middle of a batch, leaving the
    /// email it had just claimed to the lease.
    pub left_claimed: bool,
}

impl WorkerReport {
    fn add(&mut self, batch: BatchReport) {
        self.batches += 1;
        self.sent += u64::from(batch.sent);
        self.retried += u64::from(batch.retried);
        self.failed += u64::from(batch.failed);
        self.dropped += u64::from(batch.dropped());
        self.claims_lost += u64::from(batch.claims_lost);
    }
}

/// Delivers the outbox until told to stop. See the module docs.
#[derive(Debug)]
pub struct DeliveryWorker<O: ?Sized, A: ?Sized, M: ?Sized, C: ?Sized> {
    delivery: OutboxDelivery<O, A, GatedMailer<M>, C>,
    gate: Arc<Gate>,
    batch_size: u32,
    settings: WorkerSettings,
}

impl<O, A, M, C> DeliveryWorker<O, A, M, C>
where
    O: OutboxStore + ?Sized,
    A: AuditLog + ?Sized,
    M: Mailer + ?Sized,
    C: Clock + ?Sized,
{
    /// `audit` records the emails given up on (in a service, the outbox's
    /// own store).
    pub fn new(
        outbox: Arc<O>,
        audit: Arc<A>,
        mailer: Arc<M>,
        clock: Arc<C>,
        policy: DeliveryPolicy,
        settings: WorkerSettings,
    ) -> Self {
        let gate = Arc::new(Gate::default());
        let mailer = GatedMailer {
            inner: mailer,
            gate: gate.clone(),
        };
        Self {
            delivery: OutboxDelivery::new(outbox, audit, Arc::new(mailer), clock, policy),
            gate,
            batch_size: policy.batch_size,
            settings,
        }
    }

    /// Calls `observer` for each email dropped unsent because it lost its
    /// use (for a metric), as it is dropped.
    #[must_use]
    pub fn on_drop(mut self, observer: impl Fn(DropReason) + Send + Sync + 'static) -> Self {
        self.delivery = self.delivery.on_drop(observer);
        self
    }

    /// Runs until `shutdown` completes, then stops between two emails and
    /// returns what it did.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> WorkerReport {
        let mut shutdown = std::pin::pin!(shutdown);
        let mut report = WorkerReport::default();
        let mut error_pause = self.settings.error_backoff;
        tracing::info!(target: "portal::outbox", "outbox delivery worker started");
        loop {
            self.gate.accepted.store(0, Ordering::SeqCst);
            let batch = self.delivery.deliver_batch();
            let mut batch = std::pin::pin!(batch);
            let (outcome, stopping) = tokio::select! {
                biased;
                outcome = &mut batch => (Some(outcome), false),
                () = &mut shutdown => {
                    // Let the email in flight finish; stop before the next.
                    self.gate.close();
                    tokio::select! {
                        biased;
                        outcome = &mut batch => (Some(outcome), true),
                        () = self.gate.parked() => (None, true),
                    }
                }
            };
            let pause = match outcome {
                None => {
                    // Every send before the one that parked was marked.
                    report.sent += self.gate.accepted.load(Ordering::SeqCst);
                    report.left_claimed = true;
                    None
                }
                Some(Ok(batch)) => {
                    report.add(batch);
                    error_pause = self.settings.error_backoff;
                    if batch.claimed() > 0 {
                        tracing::info!(
                            target: "portal::outbox",
                            sent = batch.sent,
                            retried = batch.retried,
                            failed = batch.failed,
                            link_expired = batch.link_expired,
                            account_gone = batch.account_gone,
                            claims_lost = batch.claims_lost,
                            "outbox batch delivered"
                        );
                    }
                    (batch.claimed() < self.batch_size).then_some(self.settings.poll)
                }
                Some(Err(error)) => {
                    report.store_errors += 1;
                    tracing::warn!(
                        target: "portal::outbox",
                        %error,
                        retry_in_seconds = error_pause.as_secs_f64(),
                        "outbox delivery failed; retrying"
                    );
                    let pause = error_pause;
                    error_pause = (error_pause * 2).min(self.settings.max_error_backoff);
                    Some(pause)
                }
            };
            if stopping {
                break;
            }
            // Checked before every batch, so that a worker told to stop
            // never claims another one.
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                () = pause_for(pause.unwrap_or(Duration::ZERO)) => {}
            }
        }
        tracing::info!(
            target: "portal::outbox",
            sent = report.sent,
            retried = report.retried,
            failed = report.failed,
            dropped = report.dropped,
            left_claimed = report.left_claimed,
            "outbox delivery worker stopped"
        );
        report
    }
}

async fn pause_for(pause: Duration) {
    if !pause.is_zero() {
        tokio::time::sleep(pause).await;
    }
}

/// Builds a [`DeliveryWorker`] and runs it until `shutdown` completes.
pub async fn run_delivery_worker<O, A, M, C>(
    outbox: Arc<O>,
    audit: Arc<A>,
    mailer: Arc<M>,
    clock: Arc<C>,
    policy: DeliveryPolicy,
    settings: WorkerSettings,
    shutdown: impl Future<Output = ()>,
) -> WorkerReport
where
    O: OutboxStore + ?Sized,
    A: AuditLog + ?Sized,
    M: Mailer + ?Sized,
    C: Clock + ?Sized,
{
    DeliveryWorker::new(outbox, audit, mailer, clock, policy, settings)
        .run(shutdown)
        .await
}

/// Closed when the worker is stopping; a send that finds it closed parks
/// for ever, and tells the worker it did.
#[derive(Debug, Default)]
struct Gate {
    closed: AtomicBool,
    /// Sends the mailer accepted in the current batch.
    accepted: AtomicU64,
    parked: Notify,
}

impl Gate {
    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }

    async fn parked(&self) {
        self.parked.notified().await;
    }
}

/// The worker's mailer: sends through `inner` while the gate is open.
#[derive(Debug)]
struct GatedMailer<M: ?Sized> {
    inner: Arc<M>,
    gate: Arc<Gate>,
}

#[async_trait]
impl<M: Mailer + ?Sized> Mailer for GatedMailer<M> {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        if self.gate.closed.load(Ordering::SeqCst) {
            // `notify_one` keeps a permit if the worker is not waiting yet.
            self.gate.parked.notify_one();
            std::future::pending::<()>().await;
        }
        let result = self.inner.send(email).await;
        if result.is_ok() {
            self.gate.accepted.fetch_add(1, Ordering::SeqCst);
        }
        result
    }
}
