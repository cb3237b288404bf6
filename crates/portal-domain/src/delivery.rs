//! Delivering the email outbox: one batch at a time, with retries.
//!
//! The binary runs [`OutboxDelivery::deliver_batch`] in a loop as a
//! background task. Emails are claimed with a lease, so several workers (or
//! instances) on one database never send the same email twice in normal
//! operation, and an email claimed by a worker that died is retried once its
//! lease runs out.

use time::{Duration, OffsetDateTime};

use crate::audit::{AuditAction, AuditEvent};
use crate::email::QueuedEmail;
use crate::ports::{Clock, MailError, Mailer, OutboxStore, StoreError, UserStore};

/// How delivery retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryPolicy {
    /// Emails claimed per batch.
    pub batch_size: u32,
    /// How long a claim hides an email from other workers.
    pub lease: Duration,
    /// Attempts before a transiently failing email is given up.
    pub max_attempts: u32,
    /// Attempts before a permanently rejected email is given up.
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
            max_attempts: 12,
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

/// What one batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchReport {
    pub sent: u32,
    pub retried: u32,
    pub failed: u32,
}

impl BatchReport {
    pub fn claimed(&self) -> u32 {
        self.sent + self.retried + self.failed
    }
}

/// Claims due emails and sends them through a [`Mailer`]. Emails it gives
/// up on are recorded in the audit trail, a handle of its own (in a service
/// the same store as the outbox) so that the worker asks only for what it uses.
#[derive(Debug)]
pub struct OutboxDelivery<O, A, M, C> {
    outbox: O,
    audit: A,
    mailer: M,
    clock: C,
    policy: DeliveryPolicy,
}

impl<O, A, M, C> OutboxDelivery<O, A, M, C>
where
    O: OutboxStore,
    A: UserStore,
    M: Mailer,
    C: Clock,
{
    pub fn new(outbox: O, audit: A, mailer: M, clock: C, policy: DeliveryPolicy) -> Self {
        Self {
            outbox,
            audit,
            mailer,
            clock,
            policy,
        }
    }

    /// Delivers one batch. A mail failure never fails the batch; only the
    /// store's failures do (the caller backs off and tries again).
    pub async fn deliver_batch(&self) -> Result<BatchReport, StoreError> {
        let claimed = self
            .outbox
            .claim_due(self.clock.now(), self.policy.batch_size, self.policy.lease)
            .await?;
        let mut report = BatchReport::default();
        for queued in claimed {
            match self.mailer.send(&queued.email).await {
                Ok(()) => {
                    self.outbox.mark_sent(queued.id, self.clock.now()).await?;
                    report.sent += 1;
                }
                Err(error) => {
                    if self.give_up(&queued, &error) {
                        self.fail(&queued, &error).await?;
                        report.failed += 1;
                    } else {
                        let retry_at =
                            self.clock.now() + self.policy.backoff(queued.attempts, queued.id.0);
                        self.outbox
                            .mark_retry(queued.id, retry_at, &error.to_string())
                            .await?;
                        report.retried += 1;
                    }
                }
            }
        }
        Ok(report)
    }

    fn give_up(&self, queued: &QueuedEmail, error: &MailError) -> bool {
        let attempts = queued.attempts + 1;
        match error {
            MailError::Transient(_) => attempts >= self.policy.max_attempts,
            MailError::Permanent(_) => attempts >= self.policy.max_permanent_attempts,
        }
    }

    async fn fail(&self, queued: &QueuedEmail, error: &MailError) -> Result<(), StoreError> {
        let now: OffsetDateTime = self.clock.now();
        self.outbox
            .mark_failed(queued.id, now, &error.to_string())
            .await?;
        tracing::warn!(target: "audit", event = "email_failed", kind = queued.email.kind.name(), %error);
        let event = AuditEvent {
            at: now,
            action: AuditAction::EmailFailed,
            username: Some(queued.email.username.as_str().to_owned()),
            client_addr: None,
            outcome: queued.email.kind.name().to_owned(),
        };
        // The email's fate is committed; an audit failure is logged, not
        // returned, so the rest of the batch still goes out.
        if let Err(error) = self.audit.append_audit(&event).await {
            tracing::error!(target: "audit", event = "email_failed", %error, "audit event not stored");
        }
        Ok(())
    }
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
