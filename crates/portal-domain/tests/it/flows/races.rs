//! Interleavings forced at the exact point where they break a promise: a
//! hasher that stops inside one chosen call until the test has run another
//! use case to the end (SPEC §4, §6; docs/storage.md "Concurrency and faults").

use super::*;
use async_trait::async_trait;
use portal_domain::hashing::{Argon2Hasher, Argon2Settings};
use portal_domain::password_policy::{PasswordPolicy, PolicyContext, PolicyViolations};
use portal_domain::ports::{HashError, PasswordHasher, Verification};
use portal_domain::service::{CreateAccountStepError, LoginError};
use portal_domain::testing::SequentialTokens;
use portal_domain::values::{PasswordHash, SecurityAnswer};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::oneshot;

/// Where the hasher stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// Right after a password verified: nothing written yet.
    AfterVerify,
    /// Before the password policy: before the account step's pre-checks.
    BeforePolicy,
    /// Before hashing a new password: after the account step's pre-checks.
    BeforeHash,
}

#[derive(Debug)]
struct Armed {
    at: Stop,
    reached: oneshot::Sender<()>,
    release: oneshot::Receiver<()>,
}

#[derive(Debug)]
struct StoppingHasher {
    inner: Argon2Hasher,
    armed: Mutex<Option<Armed>>,
}

impl StoppingHasher {
    fn new(settings: Argon2Settings) -> Arc<Self> {
        Arc::new(Self {
            inner: Argon2Hasher::new(settings, None).unwrap(),
            armed: Mutex::new(None),
        })
    }

    /// The next call at `at` stops: `reached` fires there, and the call
    /// goes on once `release` is sent.
    fn arm(&self, at: Stop) -> (oneshot::Receiver<()>, oneshot::Sender<()>) {
        let (reached_tx, reached) = oneshot::channel();
        let (release, release_rx) = oneshot::channel();
        *self.armed.lock().unwrap_or_else(PoisonError::into_inner) = Some(Armed {
            at,
            reached: reached_tx,
            release: release_rx,
        });
        (reached, release)
    }

    async fn stop_if_armed(&self, here: Stop) {
        let armed = {
            let mut armed = self.armed.lock().unwrap_or_else(PoisonError::into_inner);
            if armed.as_ref().is_some_and(|a| a.at == here) {
                armed.take()
            } else {
                None
            }
        };
        if let Some(armed) = armed {
            armed.reached.send(()).unwrap();
            armed.release.await.unwrap();
        }
    }
}

#[async_trait]
impl PasswordHasher for StoppingHasher {
    async fn hash_password(&self, password: &Password) -> Result<PasswordHash, HashError> {
        self.stop_if_armed(Stop::BeforeHash).await;
        self.inner.hash_password(password).await
    }
    async fn verify_password(
        &self,
        password: &Password,
        hash: &PasswordHash,
    ) -> Result<Verification, HashError> {
        let verified = self.inner.verify_password(password, hash).await;
        self.stop_if_armed(Stop::AfterVerify).await;
        verified
    }
    async fn verify_dummy(&self, password: &Password) -> Result<(), HashError> {
        self.inner.verify_dummy(password).await
    }
    async fn hash_answer(&self, answer: &SecurityAnswer) -> Result<PasswordHash, HashError> {
        self.inner.hash_answer(answer).await
    }
    async fn verify_answer(
        &self,
        answer: &SecurityAnswer,
        hash: &PasswordHash,
    ) -> Result<Verification, HashError> {
        self.inner.verify_answer(answer, hash).await
    }
    async fn check_policy(
        &self,
        policy: &PasswordPolicy,
        password: &Password,
        context: &PolicyContext,
    ) -> Result<Result<(), PolicyViolations>, HashError> {
        self.stop_if_armed(Stop::BeforePolicy).await;
        self.inner.check_policy(policy, password, context).await
    }
}

type RacingPortal = Portal<
    portal_domain::testing::InMemoryStore,
    portal_domain::testing::InMemoryRoster,
    StoppingHasher,
    portal_domain::testing::ManualClock,
    SequentialTokens,
>;

/// A second instance over the same store, whose hasher can be stopped.
fn racing(p: &TestPortal, settings: Argon2Settings) -> (Arc<RacingPortal>, Arc<StoppingHasher>) {
    let hasher = StoppingHasher::new(settings);
    let portal = Portal::new(
        p.store.clone(),
        p.roster.clone(),
        hasher.clone(),
        p.clock.clone(),
        Arc::new(SequentialTokens::starting_at(1 << 40)),
        p.settings().clone(),
    );
    (Arc::new(portal), hasher)
}

/// Parameters stronger than the stored hash's, so a login also rehashes.
fn stronger() -> Argon2Settings {
    Argon2Settings {
        memory_kib: 64,
        iterations: 2,
        parallelism: 1,
    }
}

#[tokio::test]
async fn a_reset_that_commits_while_a_login_verifies_the_old_password_wins() {
    let p = portal();
    active_account(&p).await;
    p.request_password_reset("dr.doe", CTX).await.unwrap();
    let reset_link = p.last_link_token().unwrap();
    let (instance, hasher) = racing(&p, stronger());
    let (reached, release) = hasher.arm(Stop::AfterVerify);
    let login = tokio::spawn({
        let instance = instance.clone();
        async move { instance.login("dr.doe", sample::PASSWORD, CTX).await }
    });
    reached.await.unwrap();
    p.confirm_password_reset(&reset_link, &password(NEW_PASSWORD), CTX)
        .await
        .unwrap();
    release.send(()).unwrap();

    let answer = login.await.unwrap();
    assert!(
        matches!(answer, Err(LoginError::InvalidCredentials)),
        "{answer:?}"
    );
    assert_eq!(p.store.session_count(), 0, "no session outlives the reset");
    assert!(
        !logs_in(&p, sample::PASSWORD).await,
        "the old password was not written back by a rehash"
    );
    assert!(logs_in(&p, NEW_PASSWORD).await);
}

#[tokio::test]
async fn a_reset_that_commits_while_a_change_verifies_the_old_password_wins() {
    let p = portal();
    active_account(&p).await;
    // Someone holding the old password and a session…
    let session = logged_in(&p).await;
    let (instance, hasher) = racing(&p, Argon2Settings::minimal());
    let auth = instance.authenticate(session.token.expose()).await.unwrap();
    // …changes it while its owner resets it.
    p.request_password_reset("dr.doe", CTX).await.unwrap();
    let reset_link = p.last_link_token().unwrap();
    let (reached, release) = hasher.arm(Stop::AfterVerify);
    let change = tokio::spawn({
        let instance = instance.clone();
        async move {
            instance
                .change_password(
                    &auth,
                    &password(sample::PASSWORD),
                    &password("Attacker-Picked-Pass-77"),
                    CTX,
                )
                .await
        }
    });
    reached.await.unwrap();
    p.confirm_password_reset(&reset_link, &password(NEW_PASSWORD), CTX)
        .await
        .unwrap();
    release.send(()).unwrap();

    assert_eq!(
        change.await.unwrap(),
        Err(PasswordChangeError::InvalidCredentials)
    );
    assert!(!logs_in(&p, "Attacker-Picked-Pass-77").await);
    assert!(logs_in(&p, NEW_PASSWORD).await, "the owner's reset stands");
}

#[tokio::test]
async fn a_double_submitted_account_step_is_told_its_account_was_created() {
    // Stopped before its pre-checks (the twin's account then holds the
    // username) and after them (the store then finds the flow moved on).
    for stop in [Stop::BeforePolicy, Stop::BeforeHash] {
        let p = portal();
        let started = p
            .start_registration(sample::practitioner_request(), CTX)
            .await
            .unwrap();
        let id = started.id.as_str().to_owned();
        p.accept_agreement(&id, agree(&started.agreement_version), CTX)
            .await
            .unwrap();
        let (instance, hasher) = racing(&p, Argon2Settings::minimal());
        let (reached, release) = hasher.arm(stop);
        let first = tokio::spawn({
            let instance = instance.clone();
            let id = id.clone();
            async move {
                instance
                    .create_account(&id, Ok(sample::account_input()), CTX)
                    .await
            }
        });
        reached.await.unwrap();
        let twin = p
            .create_account(&id, Ok(sample::account_input()), CTX)
            .await;
        assert!(twin.is_ok(), "{stop:?}: {twin:?}");
        release.send(()).unwrap();
        let first = first.await.unwrap();
        assert!(
            matches!(first, Err(CreateAccountStepError::AlreadyCreated)),
            "{stop:?}: {first:?}"
        );
    }
}

#[tokio::test]
async fn a_right_password_verified_after_wrong_ones_locked_the_account_is_locked() {
    let p = portal();
    active_account(&p).await;
    let (instance, hasher) = racing(&p, Argon2Settings::minimal());
    let (reached, release) = hasher.arm(Stop::AfterVerify);
    let right = tokio::spawn({
        let instance = instance.clone();
        async move { instance.login("dr.doe", sample::PASSWORD, CTX).await }
    });
    reached.await.unwrap();
    // While the right password waits for its verdict, wrong ones take the
    // remaining places, and the lock.
    let mut answers = Vec::new();
    for _ in 0..6 {
        answers.push(p.login("dr.doe", "Not-The-Password-42", CTX).await.err());
    }
    assert!(
        answers
            .iter()
            .filter(|a| matches!(a, Some(LoginError::InvalidCredentials)))
            .count()
            <= 4,
        "at most four wrong passwords verified beside the right one: {answers:?}"
    );
    assert!(matches!(
        answers.last(),
        Some(Some(LoginError::AccountLocked { .. }))
    ));
    release.send(()).unwrap();
    let answer = right.await.unwrap();
    assert!(
        matches!(answer, Err(LoginError::AccountLocked { .. })),
        "a success never lifts a lock: {answer:?}"
    );
    assert_eq!(p.store.session_count(), 0);
    assert!(
        p.login("dr.doe", sample::PASSWORD, CTX).await.is_err(),
        "still locked"
    );
}

#[tokio::test]
async fn a_right_current_password_verified_after_wrong_ones_locked_the_account_changes_nothing() {
    use portal_domain::service::SecurityQuestionInput;
    use portal_domain::service::{EmailChangeError, SecurityQuestionChangeError};
    use portal_domain::values::SecurityQuestionId;
    let p = portal();
    active_account(&p).await;
    let session = logged_in(&p).await;
    let (instance, hasher) = racing(&p, Argon2Settings::minimal());
    let auth = instance.authenticate(session.token.expose()).await.unwrap();
    let new_email = EmailAddress::parse("front.desk@clinic.example.org").unwrap();

    // The email change: its right password waits while wrong logins lock.
    let (reached, release) = hasher.arm(Stop::AfterVerify);
    let change = tokio::spawn({
        let (instance, auth, new_email) = (instance.clone(), auth.clone(), new_email.clone());
        async move {
            instance
                .request_email_change(&auth, &password(sample::PASSWORD), &new_email, CTX)
                .await
        }
    });
    reached.await.unwrap();
    for _ in 0..5 {
        let _ = p.login("dr.doe", "Not-The-Password-42", CTX).await;
    }
    let emails_before = p.store.emails().len();
    release.send(()).unwrap();
    let answer = change.await.unwrap();
    assert!(
        matches!(answer, Err(EmailChangeError::AccountLocked { .. })),
        "a success never lifts a lock: {answer:?}"
    );
    assert_eq!(p.store.emails().len(), emails_before, "no link was sent");

    // The question change, once the lock is over: a lock set while it
    // verifies holds it back too.
    p.clock.advance(Duration::hours(25));
    let (reached, release) = hasher.arm(Stop::AfterVerify);
    let emails_before = p.store.emails().len();
    let change = tokio::spawn({
        let instance = instance.clone();
        let session = logged_in(&p).await;
        let auth = instance.authenticate(session.token.expose()).await.unwrap();
        async move {
            let input = SecurityQuestionInput {
                question: SecurityQuestionId::parse(2).unwrap(),
                answer: SecurityAnswer::parse("Maple Street").unwrap(),
            };
            instance
                .change_security_question(&auth, &password(sample::PASSWORD), &input, CTX)
                .await
        }
    });
    reached.await.unwrap();
    for _ in 0..5 {
        let _ = p.login("dr.doe", "Not-The-Password-42", CTX).await;
    }
    release.send(()).unwrap();
    let answer = change.await.unwrap();
    assert!(
        matches!(
            answer,
            Err(SecurityQuestionChangeError::AccountLocked { .. })
        ),
        "{answer:?}"
    );
    assert_eq!(p.store.emails().len(), emails_before, "no notice was sent");
}
