//! Failure paths of outbox delivery.

use super::*;

// ---------------------------------------------------------------------------
// OutboxDelivery::deliver_batch
// ---------------------------------------------------------------------------

/// The outbox the worker claims from and the audit trail it records
/// give-ups in.
#[derive(Default)]
struct Stores {
    outbox: MockOutboxStore,
    audit: MockUserStore,
}

fn delivery_policy() -> DeliveryPolicy {
    DeliveryPolicy::default()
}

/// Outbox row `id`, addressed to `user{id}`, after `attempts` attempts.
fn queued(id: i64, attempts: u32) -> QueuedEmail {
    QueuedEmail {
        id: OutboxId(id),
        email: Email {
            to: valid(EmailAddress::parse(&format!("user{id}@example.org"))),
            username: username(&format!("user{id}")),
            kind: EmailKind::PasswordChanged,
        },
        attempts,
    }
}

/// What the mailer answers for the email to `user{id}`.
fn mailer_answering(answers: Vec<(i64, Result<(), MailError>)>) -> MockMailer {
    let mut mailer = MockMailer::new();
    for (id, answer) in answers {
        let name = format!("user{id}");
        mailer
            .expect_send()
            .withf(move |email| email.username.as_str() == name)
            .times(1)
            .return_const(answer);
    }
    mailer
}

fn claims(store: &mut Stores, batch: Vec<QueuedEmail>) {
    let policy = delivery_policy();
    store
        .outbox
        .expect_claim_due()
        .withf(move |now, limit, lease| {
            *now == NOW && *limit == policy.batch_size && *lease == policy.lease
        })
        .times(1)
        .return_const(Ok(batch));
}

async fn deliver(store: Stores, mailer: MockMailer) -> Result<BatchReport, StoreError> {
    let mut clock = MockClock::new();
    clock.expect_now().return_const(NOW);
    OutboxDelivery::new(store.outbox, store.audit, mailer, clock, delivery_policy())
        .deliver_batch()
        .await
}

fn transient() -> MailError {
    MailError::Transient("421 try again later".to_owned())
}

fn permanent() -> MailError {
    MailError::Permanent("550 mailbox unavailable".to_owned())
}

#[tokio::test]
async fn delivery_claim_error_fails_the_batch_and_sends_nothing() {
    let mut store = Stores::default();
    store.outbox.expect_claim_due().return_const(Err(down()));
    let mut mailer = MockMailer::new();
    mailer.expect_send().never();
    assert_eq!(deliver(store, mailer).await, Err(down()));
}

#[tokio::test]
async fn delivery_transient_failure_is_retried_later_not_marked_sent() {
    for attempts in [0, 3] {
        let mut store = Stores::default();
        claims(&mut store, vec![queued(1, attempts)]);
        let policy = delivery_policy();
        // The delay doubles with each attempt made.
        let earliest = NOW + policy.base_backoff * 2_i32.pow(attempts);
        store
            .outbox
            .expect_mark_retry()
            .withf(move |id, retry_at, error| {
                *id == OutboxId(1) && *retry_at >= earliest && error.contains("421")
            })
            .times(1)
            .return_const(Ok(()));
        store.outbox.expect_mark_sent().never();
        store.outbox.expect_mark_failed().never();
        let mailer = mailer_answering(vec![(1, Err(transient()))]);
        assert_eq!(
            deliver(store, mailer).await,
            Ok(BatchReport {
                sent: 0,
                retried: 1,
                failed: 0
            })
        );
    }
}

#[tokio::test]
async fn delivery_permanent_failure_is_retried_until_the_permanent_limit() {
    let policy = delivery_policy();
    for attempts in 0..policy.max_permanent_attempts - 1 {
        let mut store = Stores::default();
        claims(&mut store, vec![queued(1, attempts)]);
        store
            .outbox
            .expect_mark_retry()
            .withf(|_, retry_at, _| *retry_at > NOW)
            .times(1)
            .return_const(Ok(()));
        store.outbox.expect_mark_failed().never();
        store.audit.expect_append_audit().never();
        let mailer = mailer_answering(vec![(1, Err(permanent()))]);
        let report = deliver(store, mailer).await.unwrap();
        assert_eq!(report.retried, 1, "attempt {}", attempts + 1);
    }
}

#[tokio::test]
async fn delivery_permanent_failure_at_the_limit_gives_up_with_an_audit_event() {
    let policy = delivery_policy();
    let mut store = Stores::default();
    claims(
        &mut store,
        vec![queued(1, policy.max_permanent_attempts - 1)],
    );
    store
        .outbox
        .expect_mark_failed()
        .withf(|id, now, error| *id == OutboxId(1) && *now == NOW && error.contains("550"))
        .times(1)
        .return_const(Ok(()));
    store.outbox.expect_mark_retry().never();
    store.outbox.expect_mark_sent().never();
    store
        .audit
        .expect_append_audit()
        .withf(|event| {
            event.action == AuditAction::EmailFailed
                && event.username.as_deref() == Some("user1")
                && event.outcome == "password_changed"
                && event.at == NOW
        })
        .times(1)
        .return_const(Ok(()));
    let mailer = mailer_answering(vec![(1, Err(permanent()))]);
    assert_eq!(
        deliver(store, mailer).await,
        Ok(BatchReport {
            sent: 0,
            retried: 0,
            failed: 1
        })
    );
}

#[tokio::test]
async fn delivery_transient_failures_give_up_after_max_attempts() {
    let policy = delivery_policy();
    let mut store = Stores::default();
    claims(
        &mut store,
        vec![
            queued(1, policy.max_attempts - 2),
            queued(2, policy.max_attempts - 1),
        ],
    );
    store
        .outbox
        .expect_mark_retry()
        .withf(|id, _, _| *id == OutboxId(1))
        .times(1)
        .return_const(Ok(()));
    store
        .outbox
        .expect_mark_failed()
        .withf(|id, _, _| *id == OutboxId(2))
        .times(1)
        .return_const(Ok(()));
    store
        .audit
        .expect_append_audit()
        .withf(|event| {
            event.action == AuditAction::EmailFailed && event.username.as_deref() == Some("user2")
        })
        .times(1)
        .return_const(Ok(()));
    let mailer = mailer_answering(vec![(1, Err(transient())), (2, Err(transient()))]);
    assert_eq!(
        deliver(store, mailer).await,
        Ok(BatchReport {
            sent: 0,
            retried: 1,
            failed: 1
        })
    );
}

#[tokio::test]
async fn delivery_one_failing_email_does_not_stop_the_others() {
    let policy = delivery_policy();
    let mut store = Stores::default();
    claims(
        &mut store,
        vec![
            queued(1, 0),
            queued(2, 0),
            queued(3, policy.max_permanent_attempts - 1),
            queued(4, 0),
        ],
    );
    store
        .outbox
        .expect_mark_retry()
        .withf(|id, _, _| *id == OutboxId(1))
        .times(1)
        .return_const(Ok(()));
    store
        .outbox
        .expect_mark_sent()
        .withf(|id, now| (*id == OutboxId(2) || *id == OutboxId(4)) && *now == NOW)
        .times(2)
        .return_const(Ok(()));
    store
        .outbox
        .expect_mark_failed()
        .withf(|id, _, _| *id == OutboxId(3))
        .times(1)
        .return_const(Ok(()));
    store
        .audit
        .expect_append_audit()
        .times(1)
        .return_const(Ok(()));
    let mailer = mailer_answering(vec![
        (1, Err(transient())),
        (2, Ok(())),
        (3, Err(permanent())),
        (4, Ok(())),
    ]);
    assert_eq!(
        deliver(store, mailer).await,
        Ok(BatchReport {
            sent: 2,
            retried: 1,
            failed: 1
        })
    );
}

#[tokio::test]
async fn delivery_store_error_marking_an_email_sent_fails_the_batch() {
    let mut store = Stores::default();
    claims(&mut store, vec![queued(1, 0)]);
    store.outbox.expect_mark_sent().return_const(Err(down()));
    let mailer = mailer_answering(vec![(1, Ok(()))]);
    assert_eq!(deliver(store, mailer).await, Err(down()));
}

#[tokio::test]
async fn delivery_store_error_scheduling_a_retry_fails_the_batch() {
    let mut store = Stores::default();
    claims(&mut store, vec![queued(1, 0)]);
    store.outbox.expect_mark_retry().return_const(Err(down()));
    store.outbox.expect_mark_sent().never();
    let mailer = mailer_answering(vec![(1, Err(transient()))]);
    assert_eq!(deliver(store, mailer).await, Err(down()));
}

#[tokio::test]
async fn delivery_store_error_giving_up_fails_the_batch_before_auditing() {
    let policy = delivery_policy();
    let mut store = Stores::default();
    claims(
        &mut store,
        vec![queued(1, policy.max_permanent_attempts - 1)],
    );
    store.outbox.expect_mark_failed().return_const(Err(down()));
    store.audit.expect_append_audit().never();
    let mailer = mailer_answering(vec![(1, Err(permanent()))]);
    assert_eq!(deliver(store, mailer).await, Err(down()));
}

#[tokio::test]
async fn delivery_audit_failure_does_not_fail_the_batch() {
    let policy = delivery_policy();
    let mut store = Stores::default();
    claims(
        &mut store,
        vec![queued(1, policy.max_permanent_attempts - 1), queued(2, 0)],
    );
    store
        .outbox
        .expect_mark_failed()
        .times(1)
        .return_const(Ok(()));
    store
        .audit
        .expect_append_audit()
        .times(1)
        .return_const(Err(down()));
    store
        .outbox
        .expect_mark_sent()
        .withf(|id, _| *id == OutboxId(2))
        .times(1)
        .return_const(Ok(()));
    let mailer = mailer_answering(vec![(1, Err(permanent())), (2, Ok(()))]);
    assert_eq!(
        deliver(store, mailer).await,
        Ok(BatchReport {
            sent: 1,
            retried: 0,
            failed: 1
        })
    );
}
