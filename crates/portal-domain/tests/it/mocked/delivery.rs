//! Failure paths of outbox delivery.

use super::*;

// ---------------------------------------------------------------------------
// OutboxDelivery::deliver_batch
// ---------------------------------------------------------------------------

// The delivery worker needs one store that is both the outbox and the audit
// trail; this mock is that store.
mockall::mock! {
    DeliveryStore {}

    #[async_trait]
    impl OutboxStore for DeliveryStore {
        async fn claim_due(
            &self,
            now: OffsetDateTime,
            limit: u32,
            lease: Duration,
        ) -> Result<Vec<QueuedEmail>, StoreError>;
        async fn mark_sent(&self, id: OutboxId, now: OffsetDateTime) -> Result<(), StoreError>;
        async fn mark_retry(
            &self,
            id: OutboxId,
            retry_at: OffsetDateTime,
            error: &str,
        ) -> Result<(), StoreError>;
        async fn mark_failed(
            &self,
            id: OutboxId,
            now: OffsetDateTime,
            error: &str,
        ) -> Result<(), StoreError>;
        async fn pending_for(&self, username: &Username) -> Result<u64, StoreError>;
    }

    #[async_trait]
    impl UserStore for DeliveryStore {
        async fn insert_flow(&self, flow: &RegistrationFlow) -> Result<(), StoreError>;
        async fn load_flow(
            &self,
            id: &RegistrationId,
        ) -> Result<Option<RegistrationFlow>, StoreError>;
        async fn update_flow(&self, flow: &RegistrationFlow) -> Result<(), FlowUpdateError>;
        async fn record_proofing_mismatch(
            &self,
            tax_id: &TaxId,
            provider_id: &ProviderId,
            at: OffsetDateTime,
        ) -> Result<(), StoreError>;
        async fn proofing_mismatches_since(
            &self,
            tax_id: &TaxId,
            provider_id: &ProviderId,
            since: OffsetDateTime,
        ) -> Result<ProofingFailures, StoreError>;
        async fn account_by_username(
            &self,
            username: &Username,
        ) -> Result<Option<Account>, StoreError>;
        async fn account_by_id(&self, id: AccountId) -> Result<Option<Account>, StoreError>;
        async fn account_by_registrant(
            &self,
            key: &RegistrantKey,
        ) -> Result<Option<Account>, StoreError>;
        async fn create_account(
            &self,
            finished_flow: &RegistrationFlow,
            account: &NewAccount,
            activation: &LinkToken,
            email: &Email,
        ) -> Result<Account, CreateAccountError>;
        async fn record_login_failure(
            &self,
            id: AccountId,
            now: OffsetDateTime,
            policy: LockoutPolicy,
        ) -> Result<RecordedFailure, StoreError>;
        async fn record_login_success(
            &self,
            id: AccountId,
            session: &Session,
            rehashed: Option<PasswordHash>,
            audit: &AuditEvent,
        ) -> Result<(), StoreError>;
        async fn record_agreement(
            &self,
            id: AccountId,
            acceptance: &AgreementAcceptance,
        ) -> Result<(), StoreError>;
        async fn set_disabled(&self, id: AccountId, disabled: bool) -> Result<(), StoreError>;
        async fn clear_lock(&self, id: AccountId) -> Result<(), StoreError>;
        async fn issue_token(
            &self,
            token: &NewToken,
            email: &Email,
            max_per_hour: u32,
        ) -> Result<IssueOutcome, StoreError>;
        async fn find_live_token(
            &self,
            hash: &TokenHash,
            purpose: TokenPurpose,
            now: OffsetDateTime,
        ) -> Result<Option<Account>, StoreError>;
        async fn redeem_activation(
            &self,
            hash: &TokenHash,
            now: OffsetDateTime,
            email: &Email,
        ) -> Result<Account, RedeemError>;
        async fn redeem_password_reset(
            &self,
            hash: &TokenHash,
            now: OffsetDateTime,
            new_hash: &PasswordHash,
            notice: &Email,
        ) -> Result<Account, RedeemError>;
        async fn change_password(
            &self,
            id: AccountId,
            new_hash: &PasswordHash,
            keep: &TokenHash,
            notice: &Email,
            now: OffsetDateTime,
        ) -> Result<(), StoreError>;
        async fn find_session(
            &self,
            hash: &TokenHash,
        ) -> Result<Option<(Session, Account)>, StoreError>;
        async fn touch_session(
            &self,
            hash: &TokenHash,
            now: OffsetDateTime,
        ) -> Result<(), StoreError>;
        async fn revoke_session(&self, hash: &TokenHash) -> Result<(), StoreError>;
        async fn support_failures_since(
            &self,
            id: AccountId,
            since: OffsetDateTime,
        ) -> Result<u32, StoreError>;
        async fn record_support_check(
            &self,
            id: AccountId,
            at: OffsetDateTime,
            matched: bool,
        ) -> Result<(), StoreError>;
        async fn purge_stale_pending(
            &self,
            cutoff: OffsetDateTime,
        ) -> Result<Vec<String>, StoreError>;
        async fn purge_expired(
            &self,
            now: OffsetDateTime,
            flows_before: OffsetDateTime,
            sent_before: OffsetDateTime,
            session_idle: Duration,
            session_absolute: Duration,
        ) -> Result<PurgeCounts, StoreError>;
        async fn append_audit(&self, event: &AuditEvent) -> Result<(), StoreError>;
        async fn audit_events(&self, filter: &AuditFilter) -> Result<Vec<AuditEvent>, StoreError>;
    }
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

fn claims(store: &mut MockDeliveryStore, batch: Vec<QueuedEmail>) {
    let policy = delivery_policy();
    store
        .expect_claim_due()
        .withf(move |now, limit, lease| {
            *now == NOW && *limit == policy.batch_size && *lease == policy.lease
        })
        .times(1)
        .return_const(Ok(batch));
}

async fn deliver(store: MockDeliveryStore, mailer: MockMailer) -> Result<BatchReport, StoreError> {
    let mut clock = MockClock::new();
    clock.expect_now().return_const(NOW);
    OutboxDelivery::new(store, mailer, clock, delivery_policy())
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
    let mut store = MockDeliveryStore::new();
    store.expect_claim_due().return_const(Err(down()));
    let mut mailer = MockMailer::new();
    mailer.expect_send().never();
    assert_eq!(deliver(store, mailer).await, Err(down()));
}

#[tokio::test]
async fn delivery_transient_failure_is_retried_later_not_marked_sent() {
    for attempts in [0, 3] {
        let mut store = MockDeliveryStore::new();
        claims(&mut store, vec![queued(1, attempts)]);
        let policy = delivery_policy();
        // The delay doubles with each attempt made.
        let earliest = NOW + policy.base_backoff * 2_i32.pow(attempts);
        store
            .expect_mark_retry()
            .withf(move |id, retry_at, error| {
                *id == OutboxId(1) && *retry_at >= earliest && error.contains("421")
            })
            .times(1)
            .return_const(Ok(()));
        store.expect_mark_sent().never();
        store.expect_mark_failed().never();
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
        let mut store = MockDeliveryStore::new();
        claims(&mut store, vec![queued(1, attempts)]);
        store
            .expect_mark_retry()
            .withf(|_, retry_at, _| *retry_at > NOW)
            .times(1)
            .return_const(Ok(()));
        store.expect_mark_failed().never();
        store.expect_append_audit().never();
        let mailer = mailer_answering(vec![(1, Err(permanent()))]);
        let report = deliver(store, mailer).await.unwrap();
        assert_eq!(report.retried, 1, "attempt {}", attempts + 1);
    }
}

#[tokio::test]
async fn delivery_permanent_failure_at_the_limit_gives_up_with_an_audit_event() {
    let policy = delivery_policy();
    let mut store = MockDeliveryStore::new();
    claims(
        &mut store,
        vec![queued(1, policy.max_permanent_attempts - 1)],
    );
    store
        .expect_mark_failed()
        .withf(|id, now, error| *id == OutboxId(1) && *now == NOW && error.contains("550"))
        .times(1)
        .return_const(Ok(()));
    store.expect_mark_retry().never();
    store.expect_mark_sent().never();
    store
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
    let mut store = MockDeliveryStore::new();
    claims(
        &mut store,
        vec![
            queued(1, policy.max_attempts - 2),
            queued(2, policy.max_attempts - 1),
        ],
    );
    store
        .expect_mark_retry()
        .withf(|id, _, _| *id == OutboxId(1))
        .times(1)
        .return_const(Ok(()));
    store
        .expect_mark_failed()
        .withf(|id, _, _| *id == OutboxId(2))
        .times(1)
        .return_const(Ok(()));
    store
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
    let mut store = MockDeliveryStore::new();
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
        .expect_mark_retry()
        .withf(|id, _, _| *id == OutboxId(1))
        .times(1)
        .return_const(Ok(()));
    store
        .expect_mark_sent()
        .withf(|id, now| (*id == OutboxId(2) || *id == OutboxId(4)) && *now == NOW)
        .times(2)
        .return_const(Ok(()));
    store
        .expect_mark_failed()
        .withf(|id, _, _| *id == OutboxId(3))
        .times(1)
        .return_const(Ok(()));
    store.expect_append_audit().times(1).return_const(Ok(()));
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
    let mut store = MockDeliveryStore::new();
    claims(&mut store, vec![queued(1, 0)]);
    store.expect_mark_sent().return_const(Err(down()));
    let mailer = mailer_answering(vec![(1, Ok(()))]);
    assert_eq!(deliver(store, mailer).await, Err(down()));
}

#[tokio::test]
async fn delivery_store_error_scheduling_a_retry_fails_the_batch() {
    let mut store = MockDeliveryStore::new();
    claims(&mut store, vec![queued(1, 0)]);
    store.expect_mark_retry().return_const(Err(down()));
    store.expect_mark_sent().never();
    let mailer = mailer_answering(vec![(1, Err(transient()))]);
    assert_eq!(deliver(store, mailer).await, Err(down()));
}

#[tokio::test]
async fn delivery_store_error_giving_up_fails_the_batch_before_auditing() {
    let policy = delivery_policy();
    let mut store = MockDeliveryStore::new();
    claims(
        &mut store,
        vec![queued(1, policy.max_permanent_attempts - 1)],
    );
    store.expect_mark_failed().return_const(Err(down()));
    store.expect_append_audit().never();
    let mailer = mailer_answering(vec![(1, Err(permanent()))]);
    assert_eq!(deliver(store, mailer).await, Err(down()));
}

#[tokio::test]
async fn delivery_audit_failure_does_not_fail_the_batch() {
    let policy = delivery_policy();
    let mut store = MockDeliveryStore::new();
    claims(
        &mut store,
        vec![queued(1, policy.max_permanent_attempts - 1), queued(2, 0)],
    );
    store.expect_mark_failed().times(1).return_const(Ok(()));
    store
        .expect_append_audit()
        .times(1)
        .return_const(Err(down()));
    store
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
