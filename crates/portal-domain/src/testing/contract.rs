//! The port contract suite: what every [`UserStore`], [`OutboxStore`] and
//! [`ProviderRoster`] must do, written once and run against the in-memory
//! adapters here and against SQLite and PostgreSQL in their crates.
//!
//! An adapter crate runs it with [`crate::port_contract_tests!`], given an
//! async function that returns a fresh, empty [`Subject`]:
//!
//! ```text
//! async fn subject() -> Subject<MyStore, MyRoster> { ... }
//! portal_domain::port_contract_tests!(subject);
//! ```
//!
//! Each case is one `#[tokio::test]` (the caller depends on tokio with the
//! `macros` and `rt-multi-thread` features). Concurrency cases drive many
//! operations at once with `join_all`, so a database adapter sees them on
//! several connections.
//!
//! The cases are grouped by port: each file under `contract/` is named for
//! the port whose contract it states (`accounts.rs` for
//! [`Accounts`](crate::ports::Accounts), …, `outbox.rs`, `roster.rs`), and
//! the macro puts each port's tests in a module of the same name, so that a
//! new store proves itself port by port (`contract::accounts::…`). A case
//! that checks an atomic operation spanning tables is filed under the port
//! that owns the operation.

// These are test assertions that happen to live in a library, so that every
// adapter crate can run them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use futures::future::join_all;
use time::{Duration, OffsetDateTime, macros::datetime};

use crate::account::{Account, AccountId, AccountProvider, NewAccount};
use crate::audit::{AuditAction, AuditEvent, AuditFilter, AuditOutcome};
use crate::email::{Email, EmailKind, OutboxId, QueuedEmail};
use crate::lockout::{FirstPlace, LockState, LockoutPolicy, RecordedFailure, ReservedAttempt};
use crate::ports::{
    CreateAccountError, CredentialWrite, EmailCap, EntryBatches, FlowUpdateError, ImportMode,
    IssueOutcome, LinkToken, LoginRead, NewToken, OutboxStore, PasswordChange, PendingEmails,
    ProviderRead, ProviderRoster, RedeemError, TokenPurpose, UserStore, WindowRecord,
};
use crate::registration::{AgreementAcceptance, RegistrationFlow, RegistrationId};
use crate::roster::{RegistrantKey, RosterEntry};
use crate::session::Session;
use crate::values::{
    AgreementVersion, EmailAddress, PasswordHash, ProviderId, RawToken, SecurityQuestionId, TaxId,
    TokenHash, Username,
};

use super::sample;

/// A fresh, empty store and roster for one case.
pub struct Subject<S, R> {
    pub store: S,
    pub roster: R,
    /// The store keeps the roster (`roster` is the store itself), so it
    /// reads an account's entry with the account
    /// ([`ProviderRead::WithAccount`]): the database adapters.
    pub store_keeps_roster: bool,
    /// The store takes a login's first place with its read
    /// ([`LoginAttempts::account_for_login`]'s `first`): PostgreSQL and
    /// memory.
    ///
    /// [`LoginAttempts::account_for_login`]: crate::ports::LoginAttempts::account_for_login
    pub takes_first_place_with_read: bool,
    /// Writes to the store's outbox that no port makes: what a fault, or a
    /// newer build, leaves there.
    pub faults: Box<dyn OutboxFaults>,
}

impl<S: std::fmt::Debug, R: std::fmt::Debug> std::fmt::Debug for Subject<S, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subject")
            .field("store", &self.store)
            .field("roster", &self.roster)
            .field("store_keeps_roster", &self.store_keeps_roster)
            .field(
                "takes_first_place_with_read",
                &self.takes_first_place_with_read,
            )
            .finish_non_exhaustive()
    }
}

/// A kind no build of this version knows, as a newer build would queue.
pub const UNKNOWN_KIND: &str = "appointment_reminder";

/// Outbox rows the ports never write, made directly (raw SQL on the
/// databases) so that the fault cases are forced, not hoped for.
#[async_trait::async_trait]
pub trait OutboxFaults: Send + Sync {
    /// Makes queued email `id` unreadable as an email: its recipient is no
    /// address any more (its kind stays a known one).
    async fn make_unreadable(&self, id: OutboxId);

    /// Queues an email of [`UNKNOWN_KIND`] for `username`, due at `now`, as
    /// a newer build would during a rolling deploy.
    async fn queue_unknown_kind(&self, username: &str, now: OffsetDateTime) -> OutboxId;

    /// The attempts counted for email `id`, whatever its status.
    async fn attempts(&self, id: OutboxId) -> u32;

    /// The delivery error stored for email `id`, whatever its status.
    async fn last_error(&self, id: OutboxId) -> Option<String>;
}

const T0: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);

/// A lockout after `max_failed` failures, for `duration`.
fn lockout(max_failed: u32, duration: Duration) -> LockoutPolicy {
    LockoutPolicy {
        max_failed,
        duration,
    }
}

/// The email cap of `max` tokens an hour, as the use cases ask.
fn cap(max: u32) -> EmailCap {
    EmailCap {
        max,
        window: Duration::hours(1),
    }
}

fn at(seconds: i64) -> OffsetDateTime {
    T0 + Duration::seconds(seconds)
}

fn username(name: &str) -> Username {
    Username::parse(name).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn hash(text: &str) -> PasswordHash {
    PasswordHash::from_phc(format!("$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ${text}"))
}

fn token(n: u8) -> RawToken {
    RawToken::from_random_bytes([n; 32])
}

fn acceptance() -> AgreementAcceptance {
    AgreementAcceptance {
        version: AgreementVersion::sample(),
        content_hash: "ab".repeat(32),
        accepted_at: T0,
        client_addr: Some(std::net::IpAddr::from([192, 0, 2, 7])),
    }
}

fn email_to(user: &Username, kind: EmailKind) -> Email {
    Email {
        to: EmailAddress::parse("office@clinic.example.org").unwrap_or_else(|e| panic!("{e}")),
        username: user.clone(),
        kind,
    }
}

fn flow_id(n: u64, salt: u8) -> RegistrationId {
    let mut bytes = [salt; 16];
    bytes[..8].copy_from_slice(&n.to_be_bytes());
    RegistrationId::from_random_bytes(bytes)
}

/// Stores a flow at the agreement step and returns it finished (not yet
/// stored), ready for `create_account`.
async fn finished_flow<S: UserStore>(
    store: &S,
    id: RegistrationId,
    provider: RosterEntry,
    now: OffsetDateTime,
) -> RegistrationFlow {
    let flow = RegistrationFlow::start(id, provider, now, Duration::minutes(30));
    store
        .insert_flow(&flow)
        .await
        .unwrap_or_else(|e| panic!("insert_flow: {e}"));
    let accepted = flow
        .accept_agreement(acceptance(), now, Duration::minutes(30))
        .unwrap_or_else(|e| panic!("{e}"));
    store
        .update_flow(&accepted)
        .await
        .unwrap_or_else(|e| panic!("update_flow: {e}"));
    accepted.finish(now).unwrap_or_else(|e| panic!("{e}")).0
}

fn new_account(name: &str, provider: &RosterEntry, now: OffsetDateTime) -> NewAccount {
    NewAccount {
        username: username(name),
        email: EmailAddress::parse("office@clinic.example.org").unwrap_or_else(|e| panic!("{e}")),
        password_hash: hash("initial"),
        provider: AccountProvider {
            kind: provider.kind(),
            tax_id: provider.tax_id.clone(),
            provider_id: provider.provider_id.clone(),
        },
        agreement: acceptance(),
        security_question: SecurityQuestionId::parse(1).unwrap_or_else(|e| panic!("{e}")),
        security_answer_hash: hash("answer"),
        created_at: now,
    }
}

fn activation_link(n: u8, now: OffsetDateTime) -> LinkToken {
    LinkToken {
        hash: token(n).hash(),
        issued_at: now,
        expires_at: now + Duration::hours(24),
    }
}

/// Loads the sample providers: accounts exist only for roster providers
/// (a database adapter enforces it with a foreign key).
async fn seed_roster<R: ProviderRoster>(roster: &R) {
    roster
        .import(
            &mut EntryBatches::new(sample::entries()),
            ImportMode::Upsert,
            false,
            T0,
        )
        .await
        .unwrap_or_else(|e| panic!("seed roster: {e}"));
}

/// Creates a pending account for `provider`, with activation token `n`.
async fn seed_account<S: UserStore>(
    store: &S,
    name: &str,
    provider: RosterEntry,
    n: u8,
    now: OffsetDateTime,
) -> Account {
    let flow = finished_flow(store, flow_id(u64::from(n), 0xa0), provider.clone(), now).await;
    let user = username(name);
    store
        .create_account(
            &flow,
            &new_account(name, &provider, now),
            &activation_link(n, now),
            &email_to(&user, EmailKind::Activation { token: token(n) }),
            &audit_of(AuditAction::AccountCreated, name),
        )
        .await
        .unwrap_or_else(|e| panic!("create_account {name}: {e}"))
}

/// Creates and activates an account.
async fn seed_active<S: UserStore>(
    store: &S,
    name: &str,
    provider: RosterEntry,
    n: u8,
    now: OffsetDateTime,
) -> Account {
    let account = seed_account(store, name, provider, n, now).await;
    let email = email_to(&account.username, EmailKind::EmailVerification);
    store
        .redeem_activation(
            &token(n).hash(),
            now,
            &email,
            &audit_of(AuditAction::AccountActivated, name),
        )
        .await
        .unwrap_or_else(|e| panic!("activate {name}: {e}"))
}

/// The audit event a change stores in its own transaction.
fn audit_of(action: AuditAction, name: &str) -> AuditEvent {
    AuditEvent {
        at: T0,
        action,
        username: Some(name.to_owned()),
        client_addr: None,
        outcome: AuditOutcome::Success,
    }
}

/// The audit event a login stores with its session.
fn login_audit() -> AuditEvent {
    audit_of(AuditAction::LoginSucceeded, "dr.doe")
}

/// The event the failure that sets a lock stores with it.
fn lock_audit() -> AuditEvent {
    AuditEvent {
        outcome: AuditOutcome::Locked,
        ..audit_of(AuditAction::AccountLocked, "dr.doe")
    }
}

/// One failed login as a use case makes it: the attempt's place in the
/// count, then its wrong password.
async fn failed_login<S: UserStore>(
    store: &S,
    id: AccountId,
    now: OffsetDateTime,
    policy: LockoutPolicy,
) -> Result<RecordedFailure, crate::ports::StoreError> {
    let event = lock_audit();
    let seen = store
        .account_by_id(id)
        .await?
        .map(|a| a.lock)
        .unwrap_or_default();
    match store.reserve_login_attempt(id, seen, now, policy).await? {
        ReservedAttempt::Granted { .. } => {
            store.record_login_failure(id, now, policy, &event).await
        }
        // Refused before verification: nothing changed.
        ReservedAttempt::Refused { .. } => Ok(RecordedFailure {
            state: store
                .account_by_id(id)
                .await?
                .map(|a| a.lock)
                .unwrap_or_default(),
            set_lock: false,
        }),
    }
}

/// Stores session `n` of `account`, as a successful login at `now` does.
async fn logged_in<S: UserStore>(store: &S, account: &Account, n: u8, now: OffsetDateTime) {
    let session = session_for(account, n, now);
    let current = stored_account(store, account.id).await;
    let written = store
        .record_login_success(
            account.id,
            &session,
            &current.password_hash,
            None,
            &login_audit(),
        )
        .await
        .unwrap();
    assert_eq!(written, CredentialWrite::Applied);
}

/// Changes the account's password to `new` from its session `keep` (made
/// here when missing), as a verified change does: queues the notice.
async fn change_password_to<S: UserStore>(
    store: &S,
    id: AccountId,
    new: PasswordHash,
    keep: u8,
    now: OffsetDateTime,
) {
    let account = stored_account(store, id).await;
    if store
        .find_session(&token(keep).hash())
        .await
        .unwrap()
        .is_none()
    {
        logged_in(store, &account, keep, now).await;
    }
    let change = PasswordChange {
        account_id: id,
        verified: account.password_hash.clone(),
        new_hash: new,
        keep: token(keep).hash(),
    };
    let notice = email_to(&account.username, EmailKind::PasswordChanged);
    let audit = audit_of(AuditAction::PasswordChanged, account.username.as_str());
    let written = store
        .change_password(&change, &notice, &audit, now)
        .await
        .unwrap();
    assert_eq!(written, CredentialWrite::Applied);
}

/// The account as stored now.
async fn stored_account<S: UserStore>(store: &S, id: AccountId) -> Account {
    store
        .account_by_id(id)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("account {} is gone", id.get()))
}

/// The stored session, without its account.
async fn stored_session<S: UserStore>(store: &S, hash: &TokenHash) -> Option<Session> {
    store
        .find_session(hash)
        .await
        .unwrap()
        .map(|(session, ..)| session)
}

/// An account's roster entry as a use case gets it: read with the account
/// by a store that keeps the roster, or else from the roster.
async fn resolve<R: ProviderRoster>(
    roster: &R,
    account: &Account,
    read: ProviderRead,
) -> Option<RosterEntry> {
    match read {
        ProviderRead::WithAccount(entry) => entry,
        ProviderRead::Elsewhere => roster
            .find(&account.provider.tax_id, &account.provider.provider_id)
            .await
            .unwrap(),
    }
}

fn session_for(account: &Account, n: u8, now: OffsetDateTime) -> Session {
    Session {
        token_hash: token(n).hash(),
        account_id: account.id,
        created_at: now,
        last_seen_at: now,
    }
}

async fn drain<S: OutboxStore>(store: &S, now: OffsetDateTime) -> Vec<Email> {
    claim_readable(store, now, 1000, Duration::minutes(5))
        .await
        .into_iter()
        .map(|q| q.email)
        .collect()
}

/// Claims due emails, every one of them readable.
async fn claim_readable<S: OutboxStore>(
    store: &S,
    now: OffsetDateTime,
    limit: u32,
    lease: Duration,
) -> Vec<QueuedEmail> {
    store
        .claim_due(now, limit, lease)
        .await
        .unwrap_or_else(|e| panic!("claim_due: {e}"))
        .into_iter()
        .map(|row| row.unwrap_or_else(|e| panic!("unreadable email: {:?}", e.error)))
        .collect()
}

/// Redeems activation token `n` of account `name`.
async fn activate<S: UserStore>(store: &S, n: u8, name: &str) -> Account {
    store
        .redeem_activation(
            &token(n).hash(),
            at(1),
            &email_to(&username(name), EmailKind::EmailVerification),
            &audit_of(AuditAction::AccountActivated, name),
        )
        .await
        .unwrap_or_else(|e| panic!("activate {name}: {e}"))
}

/// Creates an account for `provider` from a new flow (salt `0xb0`).
async fn register_again<S: UserStore>(
    store: &S,
    name: &str,
    provider: &RosterEntry,
    n: u8,
) -> Result<Account, CreateAccountError> {
    let flow = finished_flow(store, flow_id(u64::from(n), 0xb0), provider.clone(), at(10)).await;
    store
        .create_account(
            &flow,
            &new_account(name, provider, at(10)),
            &activation_link(n, at(10)),
            &email_to(&username(name), EmailKind::Activation { token: token(n) }),
            &AuditEvent {
                client_addr: Some(std::net::IpAddr::from([192, 0, 2, 9])),
                ..audit_of(AuditAction::AccountCreated, name)
            },
        )
        .await
}

/// A store that keeps the roster reads the entry with the account.
fn assert_read_by<S, R>(s: &Subject<S, R>, read: &ProviderRead) {
    let with_account = matches!(read, ProviderRead::WithAccount(_));
    assert_eq!(with_account, s.store_keeps_roster, "{read:?}");
}

/// Issues reset link `n` for the account and redeems it with `new`.
async fn reset_password<S: UserStore>(
    store: &S,
    account: &Account,
    new: PasswordHash,
    n: u8,
    now: OffsetDateTime,
) {
    let reset = NewToken {
        account_id: account.id,
        purpose: TokenPurpose::PasswordReset,
        link: LinkToken {
            hash: token(n).hash(),
            issued_at: now,
            expires_at: now + Duration::hours(1),
        },
    };
    let email = email_to(
        &account.username,
        EmailKind::PasswordReset { token: token(n) },
    );
    assert_eq!(
        store.issue_token(&reset, &email, cap(0)).await.unwrap(),
        IssueOutcome::Issued
    );
    let notice = email_to(&account.username, EmailKind::PasswordChanged);
    let completed = audit_of(
        AuditAction::PasswordResetCompleted,
        account.username.as_str(),
    );
    store
        .redeem_password_reset(&token(n).hash(), now, &new, &notice, &completed)
        .await
        .unwrap();
}

/// How many stored audit events are of `action`.
async fn events_of<S: UserStore>(store: &S, action: AuditAction) -> usize {
    store
        .audit_events(&AuditFilter::default())
        .await
        .unwrap()
        .iter()
        .filter(|event| event.action == action)
        .count()
}

/// Issues reset link `n` for `account` at `at(3)`, live for an hour.
async fn issue_reset<S: UserStore>(store: &S, account: &Account, n: u8) {
    let reset = NewToken {
        account_id: account.id,
        purpose: TokenPurpose::PasswordReset,
        link: LinkToken {
            hash: token(n).hash(),
            issued_at: at(3),
            expires_at: at(3) + Duration::hours(1),
        },
    };
    let email = email_to(
        &account.username,
        EmailKind::PasswordReset { token: token(n) },
    );
    assert_eq!(
        store.issue_token(&reset, &email, cap(0)).await.unwrap(),
        IssueOutcome::Issued
    );
}

mod account_settings;
mod accounts;
mod audit_log;
mod cases;
mod credentials;
mod housekeeping;
mod identity_checks;
mod login_attempts;
mod outbox;
mod passkeys;
mod registrations;
mod roster;
mod second_factors;
mod sessions;

pub use account_settings::*;
pub use accounts::*;
pub use audit_log::*;
pub use credentials::*;
pub use housekeeping::*;
pub use identity_checks::*;
pub use login_attempts::*;
pub use outbox::*;
pub use passkeys::*;
pub use registrations::*;
pub use roster::*;
pub use second_factors::*;
pub use sessions::*;

/// Helps adapters build a registrant key in their own tests.
pub fn registrant_of(entry: &RosterEntry) -> RegistrantKey {
    entry.registrant_key()
}

/// A token hash for adapters' own tests.
pub fn token_hash(n: u8) -> TokenHash {
    token(n).hash()
}
