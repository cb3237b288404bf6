//! Delivering the email outbox: one email per claim, with retries.
//!
//! The binary runs [`OutboxDelivery::deliver_batch`] in a loop as a
//! background task. Each email is claimed with a lease just before it is
//! sent, so several workers (or instances) on one database never send the
//! same email twice in normal operation, and an email claimed by a worker
//! that died is retried once its lease runs out. A lease only has to outlast
//! one send; if a send outlasts it anyway, the claim generation makes the
//! late worker's mark change nothing.
//!
//! Transient failures never end delivery: an email is retried, with a
//! backoff capped at [`DeliveryPolicy::max_backoff`], however long the
//! outage. An email is dropped unsent only when it has lost its use (its
//! link expired, its account is gone; SPEC §9), and each drop is logged and
//! counted in [`BatchReport`].

use std::sync::Arc;

use time::Duration;

use crate::audit::{AuditAction, AuditEvent, AuditOutcome};
use crate::email::{OutboxClaim, QueuedEmail, UnreadableEmail};
use crate::ports::{AuditLog, Clock, MailError, Mailer, OutboxStore, StoreError};

/// How delivery retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryPolicy {
    /// Emails delivered per batch, each claimed on its own.
    pub batch_size: u32,
    /// How long a claim hides an email from other workers. It must outlast
    /// one send (the SMTP mailer gives up on a send after 30 s).
    pub lease: Duration,
    /// Attempts before a permanently rejected email is given up. Transient
    /// failures are retried for as long as the email has a use.
    pub max_permanent_attempts: u32,
    /// The first retry delay; it doubles at each attempt.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        Self {
            batch_size: 20,
            lease: Duration::minutes(2),
            max_permanent_attempts: 3,
            base_backoff: Duration::seconds(5),
            max_backoff: Duration::hours(1),
        }
    }
}

impl DeliveryPolicy {
    /// The delay before attempt `attempts + 1`: exponential, capped, with a
    /// jitter of up to a quarter of it so that retries after an outage do
    /// not arrive all at once. The jitter comes from `seed` (the email's id),
    /// which spreads emails apart without a random source.
    pub fn backoff(&self, attempts: u32, seed: i64) -> Duration {
        let exponent = attempts.min(20);
        let base = self
            .base_backoff
            .saturating_mul(1_i32 << exponent.min(30))
            .min(self.max_backoff);
        let spread = seed.unsigned_abs().wrapping_mul(0x9E37_79B9_7F4A_7C15) % 1000;
        let jitter = base / 4 * (spread as f64 / 1000.0);
        base + jitter
    }
}

/// Why a queued email was dropped unsent: it has lost its use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// The link it carries has expired.
    LinkExpired,
    /// The account it was queued for no longer exists.
    AccountGone,
}

impl DropReason {
    /// A stable name, for logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Self::LinkExpired => "link_expired",
            Self::AccountGone => "account_gone",
        }
    }

    /// Why an email has lost its use at `now`, if it has.
    pub fn of(queued: &QueuedEmail, now: time::OffsetDateTime) -> Option<Self> {
        if !queued.account_exists {
            Some(Self::AccountGone)
        } else if queued.link_expires_at.is_some_and(|expires| now >= expires) {
            Some(Self::LinkExpired)
        } else {
            None
        }
    }
}

/// What one batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchReport {
    pub sent: u32,
    pub retried: u32,
    /// Given up: rejected for good, or unreadable.
    pub failed: u32,
    /// Dropped unsent, their link expired.
    pub link_expired: u32,
    /// Dropped unsent, their account gone.
    pub account_gone: u32,
    /// Finished after another worker took the claim over (the lease ran
    /// out during the send): the mark changed nothing.
    pub claims_lost: u32,
}

impl BatchReport {
    pub fn claimed(&self) -> u32 {
        self.sent + self.retried + self.failed + self.dropped() + self.claims_lost
    }

    pub fn dropped(&self) -> u32 {
        self.link_expired + self.account_gone
    }

    pub fn dropped_for(&self, reason: DropReason) -> u32 {
        match reason {
            DropReason::LinkExpired => self.link_expired,
            DropReason::AccountGone => self.account_gone,
        }
    }

    fn count_drop(&mut self, reason: DropReason) {
        match reason {
            DropReason::LinkExpired => self.link_expired += 1,
            DropReason::AccountGone => self.account_gone += 1,
        }
    }
}

/// Claims due emails and sends them through a [`Mailer`]. Emails it gives
/// up on are recorded in the audit trail, a handle of its own (in a service
/// the same store as the outbox) so that the worker asks only for what it uses.
#[derive(Debug)]
pub struct OutboxDelivery<O: ?Sized, A: ?Sized, M: ?Sized, C: ?Sized> {
    outbox: Arc<O>,
    audit: Arc<A>,
    mailer: Arc<M>,
    clock: Arc<C>,
    policy: DeliveryPolicy,
    on_drop: DropObserver,
}

/// Told of each email dropped unsent, as it is dropped (for a metric).
#[derive(Default)]
struct DropObserver(Option<Box<dyn Fn(DropReason) + Send + Sync>>);

impl std::fmt::Debug for DropObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "DropObserver(Some(..))"
        } else {
            "DropObserver(None)"
        })
    }
}

impl<O, A, M, C> OutboxDelivery<O, A, M, C>
where
    O: OutboxStore + ?Sized,
    A: AuditLog + ?Sized,
    M: Mailer + ?Sized,
    C: Clock + ?Sized,
{
    pub fn new(
        outbox: Arc<O>,
        audit: Arc<A>,
        mailer: Arc<M>,
        clock: Arc<C>,
        policy: DeliveryPolicy,
    ) -> Self {
        Self {
            outbox,
            audit,
            mailer,
            clock,
            policy,
            on_drop: DropObserver::default(),
        }
    }

    /// Calls `observer` for each email dropped unsent, as it is dropped, so
    /// that a count survives a batch cut short by a stop.
    #[must_use]
    pub fn on_drop(mut self, observer: impl Fn(DropReason) + Send + Sync + 'static) -> Self {
        self.on_drop = DropObserver(Some(Box::new(observer)));
        self
    }

    /// The mailer it sends through.
    pub fn mailer(&self) -> &M {
        &self.mailer
    }

    /// Delivers up to a batch of emails, claiming each just before sending
    /// it, so that its lease covers one send rather than a whole batch. A
    /// mail failure never fails the batch, nor does an unreadable row; only
    /// the store's failures do (the caller backs off and tries again).
    pub async fn deliver_batch(&self) -> Result<BatchReport, StoreError> {
        let mut report = BatchReport::default();
        for _ in 0..self.policy.batch_size {
            let claimed = self
                .outbox
                .claim_due(self.clock.now(), 1, self.policy.lease)
                .await?;
            if claimed.is_empty() {
                break;
            }
            for row in claimed {
                match row {
                    Ok(queued) => self.deliver(&queued, &mut report).await?,
                    Err(unreadable) => self.fail_unreadable(&unreadable, &mut report).await?,
                }
            }
        }
        Ok(report)
    }

    async fn deliver(
        &self,
        queued: &QueuedEmail,
        report: &mut BatchReport,
    ) -> Result<(), StoreError> {
        if let Some(reason) = DropReason::of(queued, self.clock.now()) {
            return self.drop_unsent(queued, reason, report).await;
        }
        let claim = queued.claim;
        match self.mailer.send(&queued.email).await {
            Ok(()) => {
                let marked = self.outbox.mark_sent(claim, self.clock.now()).await?;
                count(report, marked, claim, |r| &mut r.sent);
            }
            Err(error) if self.give_up(queued, &error) => self.fail(queued, &error, report).await?,
            Err(error) => {
                let retry_at = self.clock.now() + self.policy.backoff(queued.attempts, claim.id.0);
                let marked = self
                    .outbox
                    .mark_retry(claim, retry_at, &error.to_string())
                    .await?;
                count(report, marked, claim, |r| &mut r.retried);
            }
        }
        Ok(())
    }

    /// Only permanent rejections are given up; a transient failure is
    /// retried for as long as the email has a use.
    fn give_up(&self, queued: &QueuedEmail, error: &MailError) -> bool {
        match error {
            MailError::Transient(_) => false,
            MailError::Permanent(_) => queued.attempts + 1 >= self.policy.max_permanent_attempts,
        }
    }

    async fn drop_unsent(
        &self,
        queued: &QueuedEmail,
        reason: DropReason,
        report: &mut BatchReport,
    ) -> Result<(), StoreError> {
        let claim = queued.claim;
        let message = format!("dropped unsent: {}", reason.name());
        if !self
            .outbox
            .mark_failed(claim, self.clock.now(), &message)
            .await?
        {
            claim_lost(report, claim);
            return Ok(());
        }
        tracing::warn!(
            target: "portal::outbox",
            event = "email_dropped",
            id = claim.id.0,
            kind = queued.email.kind.name(),
            reason = reason.name(),
            attempts = queued.attempts,
            "queued email dropped unsent: it has lost its use"
        );
        report.count_drop(reason);
        if let Some(observer) = &self.on_drop.0 {
            observer(reason);
        }
        Ok(())
    }

    async fn fail_unreadable(
        &self,
        unreadable: &UnreadableEmail,
        report: &mut BatchReport,
    ) -> Result<(), StoreError> {
        let claim = unreadable.claim;
        let message = format!("unreadable: {}", unreadable.error);
        let marked = self
            .outbox
            .mark_failed(claim, self.clock.now(), &message)
            .await?;
        if marked {
            tracing::error!(
                target: "portal::outbox",
                event = "email_unreadable",
                id = claim.id.0,
                kind = %unreadable.kind,
                error = %unreadable.error,
                "queued email cannot be read; marked failed"
            );
        }
        count(report, marked, claim, |r| &mut r.failed);
        Ok(())
    }

    async fn fail(
        &self,
        queued: &QueuedEmail,
        error: &MailError,
        report: &mut BatchReport,
    ) -> Result<(), StoreError> {
        let now = self.clock.now();
        let claim = queued.claim;
        if !self
            .outbox
            .mark_failed(claim, now, &error.to_string())
            .await?
        {
            claim_lost(report, claim);
            return Ok(());
        }
        report.failed += 1;
        tracing::warn!(target: "audit", event = "email_failed", kind = queued.email.kind.name(), %error);
        let event = AuditEvent {
            at: now,
            action: AuditAction::EmailFailed,
            username: Some(queued.email.username.as_str().to_owned()),
            client_addr: None,
            outcome: AuditOutcome::EmailKind(queued.email.kind.name()),
        };
        // The email's fate is committed; an audit failure is logged, not
        // returned, so the rest of the batch still goes out.
        if let Err(error) = self.audit.append_audit(&event).await {
            tracing::error!(target: "audit", event = "email_failed", %error, "audit event not stored");
        }
        Ok(())
    }
}

/// Counts a mark in `outcome`, or as a lost claim when it changed nothing.
fn count(
    report: &mut BatchReport,
    marked: bool,
    claim: OutboxClaim,
    outcome: impl FnOnce(&mut BatchReport) -> &mut u32,
) {
    if marked {
        *outcome(report) += 1;
    } else {
        claim_lost(report, claim);
    }
}

fn claim_lost(report: &mut BatchReport, claim: OutboxClaim) {
    tracing::warn!(
        target: "portal::outbox",
        id = claim.id.0,
        "email finished after its lease ran out and another worker claimed it; the mark changed nothing"
    );
    report.claims_lost += 1;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_caps_and_jitters_within_a_quarter() {
        let policy = DeliveryPolicy::default();
        for attempts in 0..30 {
            let base = policy
                .base_backoff
                .saturating_mul(1 << attempts.min(30))
                .min(policy.max_backoff);
            for seed in [0, 1, 7, 12345, -9] {
                let delay = policy.backoff(attempts, seed);
                assert!(
                    delay >= base && delay <= base + base / 4,
                    "{attempts} {seed}: {delay}"
                );
            }
        }
        assert_eq!(policy.backoff(0, 0), Duration::seconds(5));
        assert!(policy.backoff(1, 0) >= Duration::seconds(10));
        assert!(policy.backoff(40, 3) <= Duration::hours(1) + Duration::minutes(15));
        assert_ne!(
            policy.backoff(3, 1),
            policy.backoff(3, 2),
            "emails are spread apart"
        );
    }
}
