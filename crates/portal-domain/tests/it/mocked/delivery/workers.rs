//! Delivery with several workers and long outages, over the in-memory
//! store and a manual clock.

use super::*;

type MemoryDelivery<M> = OutboxDelivery<InMemoryStore, InMemoryStore, M, ManualClock>;

fn memory_delivery<M: Mailer>(p: &TestPortal, mailer: Arc<M>) -> MemoryDelivery<M> {
    OutboxDelivery::new(
        p.store.clone(),
        p.store.clone(),
        mailer,
        p.clock.clone(),
        delivery_policy(),
    )
}

/// A portal whose `dr.doe` registered (an activation email queued, its link
/// valid 24 h) and activated (an email verification queued), and then
/// changed the password `notices` times (a notice queued each time). The
/// outbox ids are 1, 2, then 3.. for the notices.
async fn portal_with_queued(notices: usize) -> (TestPortal, Account) {
    let p = TestPortal::new(sample::roster());
    let started = p
        .start_registration(sample::practitioner_request(), ctx())
        .await
        .unwrap();
    let agreement = AgreementInput {
        accepted: true,
        version: started.agreement_version.clone(),
    };
    p.accept_agreement(started.id.as_str(), Ok(agreement), ctx())
        .await
        .unwrap();
    p.create_account(
        started.id.as_str(),
        Ok(sample::account_input_for("dr.doe")),
        ctx(),
    )
    .await
    .unwrap();
    let account = p
        .activate(&p.last_link_token().unwrap(), ctx())
        .await
        .unwrap();
    // Each notice is queued by a verified change from a live session.
    let session = p
        .login("dr.doe", sample::PASSWORD, ctx())
        .await
        .unwrap()
        .token
        .hash();
    for n in 0..notices {
        let notice = Email {
            to: account.email.clone(),
            username: account.username.clone(),
            kind: EmailKind::PasswordChanged,
        };
        let current = p.store.account_by_id(account.id).await.unwrap().unwrap();
        let change = portal_domain::ports::PasswordChange {
            account_id: account.id,
            verified: current.password_hash,
            new_hash: PasswordHash::from_phc(format!("hash{n}")),
            keep: session,
        };
        let audit = AuditEvent {
            at: p.clock.now(),
            action: AuditAction::PasswordChanged,
            username: Some("dr.doe".to_owned()),
            client_addr: None,
            outcome: AuditOutcome::Success,
        };
        let written = p
            .store
            .change_password(&change, &notice, &audit, p.clock.now())
            .await
            .unwrap();
        assert_eq!(written, CredentialWrite::Applied);
    }
    (p, account)
}

/// Counts what it sends.
#[derive(Default)]
struct CountingMailer {
    sent: Mutex<u32>,
}

impl CountingMailer {
    fn sent(&self) -> u32 {
        *self.sent.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait::async_trait]
impl Mailer for CountingMailer {
    async fn send(&self, _email: &Email) -> Result<(), MailError> {
        *self.sent.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        Ok(())
    }
}

/// A relay so slow that each send moves the clock on by `per_send`; during
/// its `rival_at`-th send, a second worker delivers a batch of its own.
struct SlowMailer {
    clock: Arc<ManualClock>,
    per_send: Duration,
    rival_at: u32,
    rival: MemoryDelivery<CountingMailer>,
    rival_report: Mutex<Option<BatchReport>>,
    sends: Mutex<u32>,
}

#[async_trait::async_trait]
impl Mailer for SlowMailer {
    async fn send(&self, _email: &Email) -> Result<(), MailError> {
        self.clock.advance(self.per_send);
        let n = {
            let mut sends = self.sends.lock().unwrap_or_else(PoisonError::into_inner);
            *sends += 1;
            *sends
        };
        if n == self.rival_at {
            let report = self.rival.deliver_batch().await.unwrap();
            *self
                .rival_report
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(report);
        }
        Ok(())
    }
}

async fn attempts_of(p: &TestPortal, ids: impl IntoIterator<Item = i64>) -> Vec<u32> {
    let mut attempts = Vec::new();
    for id in ids {
        attempts.push(RawOutbox(Arc::clone(&p.store)).attempts(OutboxId(id)).await);
    }
    attempts
}

#[tokio::test]
async fn delivery_a_slow_batch_never_outlives_its_leases() {
    // 30 queued; sends take 30 s each, so 20 of them take 10 minutes, five
    // times the 2-minute lease. A second worker starts during the 10th send.
    let (p, account) = portal_with_queued(28).await;
    let rival_mailer = Arc::new(CountingMailer::default());
    let slow = SlowMailer {
        clock: p.clock.clone(),
        per_send: Duration::seconds(30),
        rival_at: 10,
        rival: memory_delivery(&p, rival_mailer.clone()),
        rival_report: Mutex::new(None),
        sends: Mutex::new(0),
    };
    let worker = memory_delivery(&p, Arc::new(slow));
    let report = worker.deliver_batch().await.unwrap();
    let rival = p_rival_report(&worker);
    assert_eq!(report.claims_lost + rival.claims_lost, 0);
    assert_eq!(
        (report.sent, rival.sent, rival_mailer.sent()),
        (10, 20, 20),
        "the rival takes only what the first worker had not claimed yet"
    );
    assert_eq!(attempts_of(&p, 1..=30).await, vec![1; 30], "each sent once");
    assert_eq!(
        p.store.pending_for(&account.username).await.unwrap().count,
        0
    );
}

fn p_rival_report(worker: &MemoryDelivery<SlowMailer>) -> BatchReport {
    worker
        .mailer()
        .rival_report
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .expect("the rival ran")
}

#[tokio::test]
async fn delivery_a_send_that_outlives_its_lease_cannot_mark_the_new_claim() {
    // The relay holds the first send past the lease; a second worker claims
    // the email meanwhile and sends it. (That second send is the price of
    // a lease; SMTP's send timeout keeps real sends far shorter.)
    let (p, account) = portal_with_queued(0).await;
    let rival_mailer = Arc::new(CountingMailer::default());
    let slow = SlowMailer {
        clock: p.clock.clone(),
        per_send: delivery_policy().lease + Duration::minutes(1),
        rival_at: 1,
        rival: memory_delivery(&p, rival_mailer.clone()),
        rival_report: Mutex::new(None),
        sends: Mutex::new(0),
    };
    let worker = memory_delivery(&p, Arc::new(slow));
    let report = worker.deliver_batch().await.unwrap();
    let rival = p_rival_report(&worker);
    assert_eq!(rival.sent, 2, "the rival sent both emails under its claims");
    assert_eq!(
        (report.sent, report.claims_lost),
        (0, 1),
        "the late mark of email 1 changed nothing"
    );
    // The email verification (id 2) was claimed by the rival while the
    // first worker was still sending email 1, so it was sent once.
    assert_eq!(attempts_of(&p, 1..=2).await, vec![1, 1], "no doubled count");
    assert_eq!(
        p.store.pending_for(&account.username).await.unwrap().count,
        0
    );
}

/// Fails every send with a transient error until `until`.
struct OutageMailer {
    clock: Arc<ManualClock>,
    until: OffsetDateTime,
}

#[async_trait::async_trait]
impl Mailer for OutageMailer {
    async fn send(&self, _email: &Email) -> Result<(), MailError> {
        if self.clock.now() < self.until {
            Err(MailError::Transient("connection refused".to_owned()))
        } else {
            Ok(())
        }
    }
}

#[tokio::test]
async fn delivery_a_three_day_outage_loses_only_the_email_whose_link_expired() {
    let (p, account) = portal_with_queued(1).await;
    let start = p.clock.now();
    let outage = Duration::days(3);
    let worker = memory_delivery(
        &p,
        Arc::new(OutageMailer {
            clock: p.clock.clone(),
            until: start + outage,
        }),
    );
    let mut total = BatchReport::default();
    while p.clock.now() < start + outage + Duration::hours(2) {
        let report = worker.deliver_batch().await.unwrap();
        total.sent += report.sent;
        total.retried += report.retried;
        total.failed += report.failed;
        total.link_expired += report.link_expired;
        total.account_gone += report.account_gone;
        p.clock.advance(Duration::minutes(10));
    }
    assert_eq!(total.failed, 0, "no email given up for a transient failure");
    assert_eq!(
        (total.link_expired, total.sent),
        (1, 2),
        "the activation link (24 h) expired; the verification and the notice went out"
    );
    let attempts = attempts_of(&p, 1..=3).await;
    assert!(
        attempts.iter().all(|&n| n > 12),
        "each tried past the old limit of 12: {attempts:?}"
    );
    assert_eq!(
        p.store.pending_for(&account.username).await.unwrap().count,
        0
    );
}
