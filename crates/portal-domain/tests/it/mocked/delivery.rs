//! Failure paths of outbox delivery.

use portal_domain::delivery::DropReason;
use portal_domain::email::{ClaimedEmail, OutboxClaim, UnreadableEmail};
use portal_domain::ports::{Accounts, Clock, Credentials, Mailer, OutboxStore};
use portal_domain::testing::RawOutbox;
use portal_domain::testing::contract::OutboxFaults;
use portal_domain::testing::{InMemoryStore, ManualClock, TestPortal};

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

/// The current claim of outbox row `id`.
fn claim_of(id: i64) -> OutboxClaim {
    OutboxClaim {
        id: OutboxId(id),
        generation: 1,
    }
}

/// Outbox row `id`, addressed to `user{id}`, after `attempts` attempts.
fn queued(id: i64, attempts: u32) -> ClaimedEmail {
    Ok(queued_email(id, attempts))
}

fn queued_email(id: i64, attempts: u32) -> QueuedEmail {
    QueuedEmail {
        claim: claim_of(id),
        email: Email {
            to: valid(EmailAddress::parse(&format!("user{id}@example.org"))),
            username: username(&format!("user{id}")),
            kind: EmailKind::PasswordChanged,
        },
        attempts,
        link_expires_at: None,
        account_exists: true,
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

/// The outbox hands out `batch` one email per claim, in order, then
/// nothing more (mockall matches expectations in the order they were set).
fn claims(store: &mut Stores, batch: Vec<ClaimedEmail>) {
    let policy = delivery_policy();
    let mut sequence = mockall::Sequence::new();
    let more = batch.len() < policy.batch_size as usize;
    for row in batch {
        store
            .outbox
            .expect_claim_due()
            .withf(move |now, limit, lease| *now == NOW && *limit == 1 && *lease == policy.lease)
            .times(1)
            .in_sequence(&mut sequence)
            .return_const(Ok(vec![row]));
    }
    if more {
        // Matched once the ones above are used up; a batch failed by the
        // store stops before it.
        store
            .outbox
            .expect_claim_due()
            .times(0..=1)
            .return_const(Ok(Vec::new()));
    }
}

async fn deliver(store: Stores, mailer: MockMailer) -> Result<BatchReport, StoreError> {
    let mut clock = MockClock::new();
    clock.expect_now().return_const(NOW);
    OutboxDelivery::new(
        Arc::new(store.outbox),
        Arc::new(store.audit),
        Arc::new(mailer),
        Arc::new(clock),
        delivery_policy(),
    )
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
            .withf(move |claim, retry_at, error| {
                claim.id == OutboxId(1) && *retry_at >= earliest && error.contains("421")
            })
            .times(1)
            .return_const(Ok(true));
        store.outbox.expect_mark_sent().never();
        store.outbox.expect_mark_failed().never();
        let mailer = mailer_answering(vec![(1, Err(transient()))]);
        assert_eq!(
            deliver(store, mailer).await,
            Ok(BatchReport {
                sent: 0,
                retried: 1,
                failed: 0,
                ..BatchReport::default()
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
            .return_const(Ok(true));
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
        .withf(|claim, now, error| claim.id == OutboxId(1) && *now == NOW && error.contains("550"))
        .times(1)
        .return_const(Ok(true));
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
            failed: 1,
            ..BatchReport::default()
        })
    );
}

#[tokio::test]
async fn delivery_transient_failures_never_give_up() {
    // 12 attempts was once the end (about 2.4 h of outage); now even the
    // 1000th transient failure is retried, an hour later at most.
    for attempts in [11, 12, 1000] {
        let mut store = Stores::default();
        claims(&mut store, vec![queued(1, attempts)]);
        let policy = delivery_policy();
        let latest = NOW + policy.max_backoff + policy.max_backoff / 4;
        store
            .outbox
            .expect_mark_retry()
            .withf(move |claim, retry_at, _| claim.id == OutboxId(1) && *retry_at <= latest)
            .times(1)
            .return_const(Ok(true));
        store.outbox.expect_mark_failed().never();
        store.audit.expect_append_audit().never();
        let mailer = mailer_answering(vec![(1, Err(transient()))]);
        let report = deliver(store, mailer).await.unwrap();
        assert_eq!(report.retried, 1, "attempt {}", attempts + 1);
    }
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
        .withf(|claim, _, _| claim.id == OutboxId(1))
        .times(1)
        .return_const(Ok(true));
    store
        .outbox
        .expect_mark_sent()
        .withf(|claim, now| (claim.id == OutboxId(2) || claim.id == OutboxId(4)) && *now == NOW)
        .times(2)
        .return_const(Ok(true));
    store
        .outbox
        .expect_mark_failed()
        .withf(|claim, _, _| claim.id == OutboxId(3))
        .times(1)
        .return_const(Ok(true));
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
            failed: 1,
            ..BatchReport::default()
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
        .return_const(Ok(true));
    store
        .audit
        .expect_append_audit()
        .times(1)
        .return_const(Err(down()));
    store
        .outbox
        .expect_mark_sent()
        .withf(|claim, _| claim.id == OutboxId(2))
        .times(1)
        .return_const(Ok(true));
    let mailer = mailer_answering(vec![(1, Err(permanent())), (2, Ok(()))]);
    assert_eq!(
        deliver(store, mailer).await,
        Ok(BatchReport {
            sent: 1,
            retried: 0,
            failed: 1,
            ..BatchReport::default()
        })
    );
}

#[tokio::test]
async fn delivery_a_batch_claims_one_email_at_a_time_up_to_the_batch_size() {
    let policy = delivery_policy();
    let mut store = Stores::default();
    // Exactly `batch_size` claims of one email each; a further claim would
    // be an unexpected call.
    let ids: Vec<i64> = (1..=i64::from(policy.batch_size)).collect();
    claims(&mut store, ids.iter().map(|&id| queued(id, 0)).collect());
    store
        .outbox
        .expect_mark_sent()
        .times(ids.len())
        .return_const(Ok(true));
    let mailer = mailer_answering(ids.iter().map(|&id| (id, Ok(()))).collect());
    assert_eq!(
        deliver(store, mailer).await.unwrap().sent,
        policy.batch_size
    );
}

#[tokio::test]
async fn delivery_drops_an_email_whose_link_expired_unsent() {
    let mut store = Stores::default();
    let mut expired = queued_email(1, 5);
    expired.link_expires_at = Some(NOW);
    let mut live = queued_email(2, 5);
    live.link_expires_at = Some(NOW + Duration::nanoseconds(1));
    claims(&mut store, vec![Ok(expired), Ok(live)]);
    store
        .outbox
        .expect_mark_failed()
        .withf(|claim, now, error| {
            *claim == claim_of(1) && *now == NOW && error.contains(DropReason::LinkExpired.name())
        })
        .times(1)
        .return_const(Ok(true));
    store
        .outbox
        .expect_mark_sent()
        .withf(|claim, _| *claim == claim_of(2))
        .times(1)
        .return_const(Ok(true));
    store.audit.expect_append_audit().never();
    let mailer = mailer_answering(vec![(2, Ok(()))]);
    assert_eq!(
        deliver(store, mailer).await,
        Ok(BatchReport {
            sent: 1,
            link_expired: 1,
            ..BatchReport::default()
        })
    );
}

#[tokio::test]
async fn delivery_drops_an_email_whose_account_is_gone_unsent() {
    let mut store = Stores::default();
    let mut orphan = queued_email(1, 0);
    orphan.account_exists = false;
    orphan.link_expires_at = Some(NOW + Duration::hours(1));
    claims(&mut store, vec![Ok(orphan)]);
    store
        .outbox
        .expect_mark_failed()
        .withf(|claim, _, error| {
            *claim == claim_of(1) && error.contains(DropReason::AccountGone.name())
        })
        .times(1)
        .return_const(Ok(true));
    store.audit.expect_append_audit().never();
    let mut mailer = MockMailer::new();
    mailer.expect_send().never();
    let report = deliver(store, mailer).await.unwrap();
    assert_eq!((report.account_gone, report.dropped()), (1, 1));
}

#[tokio::test]
async fn delivery_marks_an_unreadable_row_failed_and_delivers_the_rest() {
    let mut store = Stores::default();
    let unreadable = UnreadableEmail {
        claim: claim_of(2),
        kind: "activation".to_owned(),
        error: StoreError::Unexpected("corrupt email_outbox.recipient: not an address".to_owned()),
    };
    claims(
        &mut store,
        vec![queued(1, 0), Err(unreadable), queued(3, 0)],
    );
    store
        .outbox
        .expect_mark_failed()
        .withf(|claim, _, error| *claim == claim_of(2) && error.contains("recipient"))
        .times(1)
        .return_const(Ok(true));
    store
        .outbox
        .expect_mark_sent()
        .withf(|claim, _| *claim == claim_of(1) || *claim == claim_of(3))
        .times(2)
        .return_const(Ok(true));
    store.audit.expect_append_audit().never();
    let mailer = mailer_answering(vec![(1, Ok(())), (3, Ok(()))]);
    assert_eq!(
        deliver(store, mailer).await,
        Ok(BatchReport {
            sent: 2,
            failed: 1,
            ..BatchReport::default()
        })
    );
}

#[tokio::test]
async fn delivery_counts_a_mark_refused_for_a_lost_claim_as_lost() {
    let policy = delivery_policy();
    let mut store = Stores::default();
    claims(
        &mut store,
        vec![
            queued(1, 0),
            queued(2, 0),
            queued(3, policy.max_permanent_attempts - 1),
        ],
    );
    store.outbox.expect_mark_sent().return_const(Ok(false));
    store.outbox.expect_mark_retry().return_const(Ok(false));
    store.outbox.expect_mark_failed().return_const(Ok(false));
    // Another claim owns the email now: its fate is not this worker's to audit.
    store.audit.expect_append_audit().never();
    let mailer = mailer_answering(vec![
        (1, Ok(())),
        (2, Err(transient())),
        (3, Err(permanent())),
    ]);
    assert_eq!(
        deliver(store, mailer).await,
        Ok(BatchReport {
            claims_lost: 3,
            ..BatchReport::default()
        })
    );
}

mod workers;
