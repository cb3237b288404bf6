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

// These are test assertions that happen to live in a library, so that every
// adapter crate can run them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use futures::future::join_all;
use time::{Duration, OffsetDateTime, macros::datetime};

use crate::account::{Account, AccountProvider, NewAccount};
use crate::audit::{AuditAction, AuditEvent, AuditFilter};
use crate::email::{Email, EmailKind};
use crate::lockout::{LockState, LockoutPolicy, RecordedFailure};
use crate::ports::{
    CreateAccountError, FlowUpdateError, ImportMode, IssueOutcome, LinkToken, NewToken,
    OutboxStore, ProviderRoster, RedeemError, TokenPurpose, UserStore,
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
#[derive(Debug)]
pub struct Subject<S, R> {
    pub store: S,
    pub roster: R,
}

/// Generates one test per contract case.
///
/// - `port_contract_tests!(make)`: `#[tokio::test]`s, where `async fn make()`
///   returns a fresh [`Subject`].
/// - `port_contract_tests!(sqlx_test: "crate::MIGRATOR", PgPool, make)`:
///   `#[sqlx::test]`s, each on a database of its own, made and migrated by
///   sqlx; `async fn make(pool)` turns the pool into a [`Subject`].
#[macro_export]
macro_rules! port_contract_tests {
    ($make:path) => {
        $crate::__contract_cases!($crate::__contract_tokio_case, ($make));
    };
    (sqlx_test: $migrator:literal, $pool:ty, $make:path) => {
        $crate::__contract_cases!($crate::__contract_sqlx_case, ($migrator, $pool, $make));
    };
}

/// The list of cases, handed one by one to `$each`.
#[doc(hidden)]
#[macro_export]
macro_rules! __contract_cases {
    ($each:path, $args:tt) => {
        $crate::__contract_cases!(@each $each, $args, [
            flows_round_trip_with_compare_and_set,
            accounts_are_found_case_insensitively,
            usernames_are_unique_case_insensitively,
            one_account_per_registrant,
            a_stale_flow_creates_nothing,
            account_creation_stores_token_and_queues_email,
            failures_count_lock_and_restart,
            parallel_failures_count_exactly_and_lock_once,
            login_success_clears_lock_and_stores_session,
            sessions_touch_forward_and_revoke,
            agreement_acceptance_is_recorded,
            disabling_revokes_sessions_and_unlock_clears,
            newer_tokens_supersede_older_and_emails_are_capped,
            activation_tokens_redeem_once,
            parallel_redemptions_succeed_once,
            password_reset_changes_everything_at_once,
            password_change_keeps_only_the_current_session,
            proofing_mismatches_are_counted_in_the_window,
            support_failures_are_counted_in_the_window,
            stale_pending_accounts_are_purged,
            expired_things_are_purged,
            audit_events_are_listed_oldest_first,
            outbox_claims_lease_retry_and_finish,
            parallel_claimers_get_each_email_once,
            parallel_registrations_create_one_account,
            roster_finds_and_scopes,
            roster_import_is_idempotent_replaces_and_dry_runs,
            roster_files_import_all_or_nothing,
            roster_imports_100_000_rows,
        ]);
    };
    (@each $each:path, $args:tt, [$($case:ident),* $(,)?]) => {
        $($each!($args, $case);)*
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __contract_tokio_case {
    (($make:path), $case:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $case() {
            let subject = $make().await;
            $crate::testing::contract::$case(&subject).await;
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __contract_sqlx_case {
    (($migrator:literal, $pool:ty, $make:path), $case:ident) => {
        #[sqlx::test(migrator = $migrator)]
        async fn $case(pool: $pool) {
            let subject = $make(pool).await;
            $crate::testing::contract::$case(&subject).await;
        }
    };
}

const T0: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);

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
        .import(&sample::entries(), ImportMode::Upsert, false, T0)
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
        .redeem_activation(&token(n).hash(), now, &email)
        .await
        .unwrap_or_else(|e| panic!("activate {name}: {e}"))
}

/// The audit event a login stores with its session.
fn login_audit() -> AuditEvent {
    AuditEvent {
        at: T0,
        action: AuditAction::LoginSucceeded,
        username: Some("dr.doe".to_owned()),
        client_addr: None,
        outcome: "success".to_owned(),
    }
}

/// The stored session, without its account.
async fn stored_session<S: UserStore>(store: &S, hash: &TokenHash) -> Option<Session> {
    store
        .find_session(hash)
        .await
        .unwrap()
        .map(|(session, _)| session)
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
    let claimed = store
        .claim_due(now, 1000, Duration::minutes(5))
        .await
        .unwrap_or_else(|e| panic!("claim_due: {e}"));
    claimed.into_iter().map(|q| q.email).collect()
}

pub async fn flows_round_trip_with_compare_and_set<S: UserStore, R>(s: &Subject<S, R>) {
    let flow =
        RegistrationFlow::start(flow_id(1, 1), sample::jane_doe(), T0, Duration::minutes(30));
    s.store.insert_flow(&flow).await.unwrap();
    assert_eq!(
        s.store.load_flow(&flow.id).await.unwrap(),
        Some(flow.clone())
    );
    assert!(
        s.store.insert_flow(&flow).await.is_err(),
        "a duplicate id is refused"
    );
    assert_eq!(s.store.load_flow(&flow_id(2, 1)).await.unwrap(), None);

    let accepted = flow
        .accept_agreement(acceptance(), at(60), Duration::minutes(30))
        .unwrap();
    s.store.update_flow(&accepted).await.unwrap();
    assert_eq!(
        s.store.load_flow(&flow.id).await.unwrap(),
        Some(accepted.clone())
    );
    // The same step again, from the stale version: refused, nothing changed.
    assert_eq!(
        s.store.update_flow(&accepted).await,
        Err(FlowUpdateError::Conflict)
    );
    assert_eq!(s.store.load_flow(&flow.id).await.unwrap(), Some(accepted));
}

pub async fn accounts_are_found_case_insensitively<S: UserStore, R: ProviderRoster>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let created = seed_account(&s.store, "Dr.Doe", sample::jane_doe(), 1, T0).await;
    assert_eq!(created.username.as_str(), "Dr.Doe");
    assert!(!created.is_activated());
    let found = s
        .store
        .account_by_username(&username("dR.dOE"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, created);
    assert_eq!(
        s.store.account_by_id(created.id).await.unwrap(),
        Some(created.clone())
    );
    assert_eq!(
        s.store
            .account_by_registrant(&sample::jane_doe().registrant_key())
            .await
            .unwrap(),
        Some(created)
    );
    assert_eq!(
        s.store
            .account_by_username(&username("nobody"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        s.store
            .account_by_registrant(&sample::acme_group().registrant_key())
            .await
            .unwrap(),
        None
    );
}

pub async fn usernames_are_unique_case_insensitively<S: UserStore, R: ProviderRoster>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    seed_account(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    let flow = finished_flow(&s.store, flow_id(2, 2), sample::acme_group(), T0).await;
    let result = s
        .store
        .create_account(
            &flow,
            &new_account("DR.DOE", &sample::acme_group(), T0),
            &activation_link(2, T0),
            &email_to(&username("DR.DOE"), EmailKind::EmailVerification),
        )
        .await;
    assert_eq!(result.err(), Some(CreateAccountError::UsernameTaken));
}

pub async fn one_account_per_registrant<S: UserStore, R: ProviderRoster>(s: &Subject<S, R>) {
    seed_roster(&s.roster).await;
    seed_account(&s.store, "first", sample::jane_doe(), 1, T0).await;
    let flow = finished_flow(&s.store, flow_id(2, 2), sample::jane_doe(), T0).await;
    let result = s
        .store
        .create_account(
            &flow,
            &new_account("second", &sample::jane_doe(), T0),
            &activation_link(2, T0),
            &email_to(&username("second"), EmailKind::EmailVerification),
        )
        .await;
    assert_eq!(result.err(), Some(CreateAccountError::AlreadyRegistered));
    assert_eq!(
        s.store
            .account_by_username(&username("second"))
            .await
            .unwrap(),
        None,
        "nothing written"
    );
    // A group is keyed by (tax id, provider id): another provider is free.
    seed_account(&s.store, "group", sample::acme_group(), 3, T0).await;
}

pub async fn a_stale_flow_creates_nothing<S: UserStore + OutboxStore, R: ProviderRoster>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let flow = finished_flow(&s.store, flow_id(1, 1), sample::jane_doe(), T0).await;
    let user = username("dr.doe");
    let email = email_to(&user, EmailKind::Activation { token: token(1) });
    s.store
        .create_account(
            &flow,
            &new_account("dr.doe", &sample::jane_doe(), T0),
            &activation_link(1, T0),
            &email,
        )
        .await
        .unwrap();
    // The same finished flow again (a racing duplicate of the step).
    let again = s
        .store
        .create_account(
            &flow,
            &new_account("other", &sample::acme_group(), T0),
            &activation_link(2, T0),
            &email,
        )
        .await;
    assert_eq!(again.err(), Some(CreateAccountError::FlowConflict));
    assert_eq!(
        s.store
            .account_by_username(&username("other"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        drain(&s.store, T0).await.len(),
        1,
        "only the first activation email is queued"
    );
}

pub async fn account_creation_stores_token_and_queues_email<
    S: UserStore + OutboxStore,
    R: ProviderRoster,
>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let account = seed_account(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    let found = s
        .store
        .find_live_token(&token(1).hash(), TokenPurpose::Activation, at(1))
        .await
        .unwrap();
    assert_eq!(found.map(|a| a.id), Some(account.id));
    assert_eq!(
        s.store
            .find_live_token(&token(1).hash(), TokenPurpose::PasswordReset, at(1))
            .await
            .unwrap(),
        None
    );
    assert_eq!(s.store.pending_for(&account.username).await.unwrap(), 1);
    let emails = drain(&s.store, T0).await;
    assert_eq!(emails.len(), 1);
    assert_eq!(emails[0].kind.name(), "activation");
    assert_eq!(
        emails[0].kind.token().map(RawToken::hash),
        Some(token(1).hash()),
        "the link survives the outbox"
    );
    assert_eq!(emails[0].username, account.username);
}

pub async fn failures_count_lock_and_restart<S: UserStore, R: ProviderRoster>(s: &Subject<S, R>) {
    seed_roster(&s.roster).await;
    let account = seed_active(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    let policy = LockoutPolicy {
        max_failed: 3,
        duration: Duration::hours(24),
    };
    for (minute, count) in [(1, 1), (2, 2)] {
        let recorded = s
            .store
            .record_login_failure(account.id, at(minute), policy)
            .await
            .unwrap();
        assert_eq!(recorded.state.failed_count, count);
        assert!(!recorded.set_lock);
    }
    let locking = s
        .store
        .record_login_failure(account.id, at(3), policy)
        .await
        .unwrap();
    let locked = LockState {
        failed_count: 3,
        locked_until: Some(at(3) + Duration::hours(24)),
    };
    assert_eq!(
        locking,
        RecordedFailure {
            state: locked,
            set_lock: true
        }
    );
    // During the lock nothing changes, and the lock is not set again.
    assert_eq!(
        s.store
            .record_login_failure(account.id, at(4), policy)
            .await
            .unwrap(),
        RecordedFailure {
            state: locked,
            set_lock: false
        }
    );
    let stored = s.store.account_by_id(account.id).await.unwrap().unwrap();
    assert_eq!(stored.lock, locked);
    // After the lock, the count starts again from zero.
    let after = s
        .store
        .record_login_failure(account.id, at(3) + Duration::hours(24), policy)
        .await
        .unwrap();
    assert_eq!(
        after,
        RecordedFailure {
            state: LockState {
                failed_count: 1,
                locked_until: None
            },
            set_lock: false
        }
    );
}

pub async fn parallel_failures_count_exactly_and_lock_once<S: UserStore, R: ProviderRoster>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let counted = seed_active(&s.store, "counted", sample::jane_doe(), 1, T0).await;
    let generous = LockoutPolicy {
        max_failed: 1000,
        duration: Duration::hours(24),
    };
    let results =
        join_all((0..50).map(|i| s.store.record_login_failure(counted.id, at(i), generous))).await;
    let mut counts: Vec<u32> = results
        .into_iter()
        .map(|r| r.unwrap().state.failed_count)
        .collect();
    counts.sort_unstable();
    assert_eq!(
        counts,
        (1..=50).collect::<Vec<u32>>(),
        "no count lost or doubled"
    );

    let locked = seed_active(&s.store, "locked", sample::acme_group(), 2, T0).await;
    let policy = LockoutPolicy {
        max_failed: 5,
        duration: Duration::hours(24),
    };
    let results =
        join_all((0..50).map(|i| s.store.record_login_failure(locked.id, at(i), policy))).await;
    let recorded: Vec<RecordedFailure> = results.into_iter().map(Result::unwrap).collect();
    let ends: std::collections::BTreeSet<_> = recorded
        .iter()
        .filter_map(|r| r.state.locked_until)
        .collect();
    assert_eq!(ends.len(), 1, "exactly one lock was set: {ends:?}");
    // Only one failure reports that it set the lock (the lockout is audited
    // once), however many raced past the limit.
    assert_eq!(recorded.iter().filter(|r| r.set_lock).count(), 1);
    let stored = s.store.account_by_id(locked.id).await.unwrap().unwrap();
    assert_eq!(stored.lock.failed_count, 5);
    assert_eq!(stored.lock.locked_until, ends.into_iter().next());
}

pub async fn login_success_clears_lock_and_stores_session<S: UserStore, R: ProviderRoster>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let account = seed_active(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    let policy = LockoutPolicy::default();
    s.store
        .record_login_failure(account.id, at(1), policy)
        .await
        .unwrap();
    let session = session_for(&account, 9, at(2));
    s.store
        .record_login_success(account.id, &session, Some(hash("rehashed")), &login_audit())
        .await
        .unwrap();
    let stored = s.store.account_by_id(account.id).await.unwrap().unwrap();
    assert_eq!(stored.lock, LockState::cleared());
    assert_eq!(stored.last_login_at, Some(at(2)));
    assert_eq!(stored.password_hash, hash("rehashed"));
    assert_eq!(
        s.store.find_session(&session.token_hash).await.unwrap(),
        Some((session, stored)),
        "the session comes with its account"
    );
    let audited = s.store.audit_events(&AuditFilter::default()).await.unwrap();
    assert_eq!(audited, vec![login_audit()], "stored with the session");
    // Without a rehash the hash stays.
    s.store
        .record_login_success(
            account.id,
            &session_for(&account, 10, at(3)),
            None,
            &login_audit(),
        )
        .await
        .unwrap();
    assert_eq!(
        s.store
            .account_by_id(account.id)
            .await
            .unwrap()
            .unwrap()
            .password_hash,
        hash("rehashed")
    );
}

pub async fn sessions_touch_forward_and_revoke<S: UserStore, R: ProviderRoster>(s: &Subject<S, R>) {
    seed_roster(&s.roster).await;
    let account = seed_active(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    let session = session_for(&account, 9, at(0));
    s.store
        .record_login_success(account.id, &session, None, &login_audit())
        .await
        .unwrap();
    s.store
        .touch_session(&session.token_hash, at(100))
        .await
        .unwrap();
    s.store
        .touch_session(&session.token_hash, at(50))
        .await
        .unwrap();
    let (touched, owner) = s
        .store
        .find_session(&session.token_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(owner.id, account.id);
    assert_eq!(touched.last_seen_at, at(100), "never moves back");
    assert_eq!(touched.created_at, at(0));
    s.store.revoke_session(&session.token_hash).await.unwrap();
    assert_eq!(stored_session(&s.store, &session.token_hash).await, None);
    s.store.revoke_session(&session.token_hash).await.unwrap();
    assert_eq!(stored_session(&s.store, &token(77).hash()).await, None);
}

pub async fn agreement_acceptance_is_recorded<S: UserStore, R: ProviderRoster>(s: &Subject<S, R>) {
    seed_roster(&s.roster).await;
    let account = seed_active(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    let newer = AgreementAcceptance {
        version: AgreementVersion::parse("2026-02").unwrap(),
        content_hash: "cd".repeat(32),
        accepted_at: at(5),
        client_addr: None,
    };
    s.store.record_agreement(account.id, &newer).await.unwrap();
    assert_eq!(
        s.store
            .account_by_id(account.id)
            .await
            .unwrap()
            .unwrap()
            .agreement,
        newer
    );
}

pub async fn disabling_revokes_sessions_and_unlock_clears<S: UserStore, R: ProviderRoster>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let account = seed_active(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    let other = seed_active(&s.store, "group", sample::acme_group(), 2, T0).await;
    s.store
        .record_login_success(
            account.id,
            &session_for(&account, 20, at(1)),
            None,
            &login_audit(),
        )
        .await
        .unwrap();
    s.store
        .record_login_success(
            other.id,
            &session_for(&other, 21, at(1)),
            None,
            &login_audit(),
        )
        .await
        .unwrap();
    s.store.set_disabled(account.id, true).await.unwrap();
    assert!(
        s.store
            .account_by_id(account.id)
            .await
            .unwrap()
            .unwrap()
            .disabled
    );
    assert_eq!(stored_session(&s.store, &token(20).hash()).await, None);
    assert!(stored_session(&s.store, &token(21).hash()).await.is_some());
    s.store.set_disabled(account.id, false).await.unwrap();
    assert!(
        !s.store
            .account_by_id(account.id)
            .await
            .unwrap()
            .unwrap()
            .disabled
    );

    let policy = LockoutPolicy {
        max_failed: 2,
        duration: Duration::hours(24),
    };
    s.store
        .record_login_failure(account.id, at(2), policy)
        .await
        .unwrap();
    s.store
        .record_login_failure(account.id, at(3), policy)
        .await
        .unwrap();
    s.store.clear_lock(account.id).await.unwrap();
    assert_eq!(
        s.store
            .account_by_id(account.id)
            .await
            .unwrap()
            .unwrap()
            .lock,
        LockState::cleared()
    );
}

pub async fn newer_tokens_supersede_older_and_emails_are_capped<
    S: UserStore + OutboxStore,
    R: ProviderRoster,
>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let account = seed_active(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    drain(&s.store, at(0)).await;
    let reset = |n: u8, t: OffsetDateTime| NewToken {
        account_id: account.id,
        purpose: TokenPurpose::PasswordReset,
        link: LinkToken {
            hash: token(n).hash(),
            issued_at: t,
            expires_at: t + Duration::hours(1),
        },
    };
    let email = |n: u8| {
        email_to(
            &account.username,
            EmailKind::PasswordReset { token: token(n) },
        )
    };
    for n in 10..15 {
        let t = at(i64::from(n));
        assert_eq!(
            s.store
                .issue_token(&reset(n, t), &email(n), 5)
                .await
                .unwrap(),
            IssueOutcome::Issued
        );
    }
    assert_eq!(
        s.store
            .issue_token(&reset(15, at(20)), &email(15), 5)
            .await
            .unwrap(),
        IssueOutcome::CapReached
    );
    assert_eq!(
        s.store
            .find_live_token(&token(15).hash(), TokenPurpose::PasswordReset, at(21))
            .await
            .unwrap(),
        None
    );
    // Only the newest link works.
    assert!(
        s.store
            .find_live_token(&token(14).hash(), TokenPurpose::PasswordReset, at(21))
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        s.store
            .find_live_token(&token(13).hash(), TokenPurpose::PasswordReset, at(21))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        drain(&s.store, at(21)).await.len(),
        5,
        "the capped request queued nothing"
    );
    // An hour after the first, the cap has room again; 0 means no cap.
    assert_eq!(
        s.store
            .issue_token(&reset(16, at(10) + Duration::hours(1)), &email(16), 5)
            .await
            .unwrap(),
        IssueOutcome::Issued
    );
    assert_eq!(
        s.store
            .issue_token(&reset(17, at(3700)), &email(17), 0)
            .await
            .unwrap(),
        IssueOutcome::Issued
    );
}

pub async fn activation_tokens_redeem_once<S: UserStore + OutboxStore, R: ProviderRoster>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let account = seed_account(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    drain(&s.store, T0).await;
    let verification = email_to(&account.username, EmailKind::EmailVerification);
    // Wrong purpose and expiry are refused.
    assert_eq!(
        s.store
            .redeem_password_reset(&token(1).hash(), at(1), &hash("x"), &verification)
            .await
            .err(),
        Some(RedeemError::InvalidToken)
    );
    assert_eq!(
        s.store
            .redeem_activation(&token(1).hash(), T0 + Duration::hours(24), &verification)
            .await
            .err(),
        Some(RedeemError::InvalidToken)
    );
    let active = s
        .store
        .redeem_activation(&token(1).hash(), at(60), &verification)
        .await
        .unwrap();
    assert!(active.is_activated());
    assert!(
        s.store
            .account_by_id(account.id)
            .await
            .unwrap()
            .unwrap()
            .is_activated()
    );
    assert_eq!(
        s.store
            .redeem_activation(&token(1).hash(), at(61), &verification)
            .await
            .err(),
        Some(RedeemError::InvalidToken)
    );
    assert_eq!(
        s.store
            .redeem_activation(&token(99).hash(), at(61), &verification)
            .await
            .err(),
        Some(RedeemError::InvalidToken)
    );
    let emails = drain(&s.store, at(61)).await;
    assert_eq!(
        emails.iter().map(|e| e.kind.name()).collect::<Vec<_>>(),
        vec!["email_verification"]
    );
}

pub async fn parallel_redemptions_succeed_once<S: UserStore, R: ProviderRoster>(s: &Subject<S, R>) {
    seed_roster(&s.roster).await;
    let account = seed_account(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    let verification = email_to(&account.username, EmailKind::EmailVerification);
    let hash = token(1).hash();
    let results =
        join_all((0..10).map(|_| s.store.redeem_activation(&hash, at(5), &verification))).await;
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Ok(_) | Err(RedeemError::InvalidToken)))
    );
}

pub async fn password_reset_changes_everything_at_once<
    S: UserStore + OutboxStore,
    R: ProviderRoster,
>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let account = seed_active(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    let other = seed_active(&s.store, "group", sample::acme_group(), 2, T0).await;
    let policy = LockoutPolicy {
        max_failed: 1,
        duration: Duration::hours(24),
    };
    s.store
        .record_login_success(
            account.id,
            &session_for(&account, 20, at(1)),
            None,
            &login_audit(),
        )
        .await
        .unwrap();
    s.store
        .record_login_success(
            account.id,
            &session_for(&account, 21, at(1)),
            None,
            &login_audit(),
        )
        .await
        .unwrap();
    s.store
        .record_login_success(
            other.id,
            &session_for(&other, 22, at(1)),
            None,
            &login_audit(),
        )
        .await
        .unwrap();
    assert!(
        s.store
            .record_login_failure(account.id, at(2), policy)
            .await
            .unwrap()
            .state
            .is_locked(at(2))
    );
    let reset = NewToken {
        account_id: account.id,
        purpose: TokenPurpose::PasswordReset,
        link: LinkToken {
            hash: token(30).hash(),
            issued_at: at(3),
            expires_at: at(3) + Duration::hours(1),
        },
    };
    let reset_email = email_to(
        &account.username,
        EmailKind::PasswordReset { token: token(30) },
    );
    s.store.issue_token(&reset, &reset_email, 5).await.unwrap();
    drain(&s.store, at(3)).await;

    let notice = email_to(&account.username, EmailKind::PasswordChanged);
    let changed = s
        .store
        .redeem_password_reset(&token(30).hash(), at(4), &hash("new"), &notice)
        .await
        .unwrap();
    assert_eq!(changed.id, account.id);
    let stored = s.store.account_by_id(account.id).await.unwrap().unwrap();
    assert_eq!(stored.password_hash, hash("new"));
    assert_eq!(stored.lock, LockState::cleared());
    assert_eq!(stored_session(&s.store, &token(20).hash()).await, None);
    assert_eq!(stored_session(&s.store, &token(21).hash()).await, None);
    assert!(
        stored_session(&s.store, &token(22).hash()).await.is_some(),
        "other accounts keep theirs"
    );
    assert_eq!(
        drain(&s.store, at(4))
            .await
            .iter()
            .map(|e| e.kind.name())
            .collect::<Vec<_>>(),
        vec!["password_changed"]
    );
    assert_eq!(
        s.store
            .redeem_password_reset(&token(30).hash(), at(5), &hash("again"), &notice)
            .await
            .err(),
        Some(RedeemError::InvalidToken)
    );
}

pub async fn password_change_keeps_only_the_current_session<
    S: UserStore + OutboxStore,
    R: ProviderRoster,
>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let account = seed_active(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    for n in [20, 21, 22] {
        s.store
            .record_login_success(
                account.id,
                &session_for(&account, n, at(1)),
                None,
                &login_audit(),
            )
            .await
            .unwrap();
    }
    drain(&s.store, at(1)).await;
    let notice = email_to(&account.username, EmailKind::PasswordChanged);
    s.store
        .change_password(
            account.id,
            &hash("changed"),
            &token(21).hash(),
            &notice,
            at(2),
        )
        .await
        .unwrap();
    assert_eq!(
        s.store
            .account_by_id(account.id)
            .await
            .unwrap()
            .unwrap()
            .password_hash,
        hash("changed")
    );
    assert_eq!(stored_session(&s.store, &token(20).hash()).await, None);
    assert!(stored_session(&s.store, &token(21).hash()).await.is_some());
    assert_eq!(stored_session(&s.store, &token(22).hash()).await, None);
    assert_eq!(
        drain(&s.store, at(100))
            .await
            .iter()
            .map(|e| e.kind.name())
            .collect::<Vec<_>>(),
        vec!["password_changed"]
    );
}

pub async fn proofing_mismatches_are_counted_in_the_window<S: UserStore, R>(s: &Subject<S, R>) {
    let (tax, id) = (
        TaxId::parse(sample::TAX_ID).unwrap(),
        ProviderId::parse("P1001").unwrap(),
    );
    let other = ProviderId::parse("P1002").unwrap();
    for t in [0, 10, 20] {
        s.store
            .record_proofing_mismatch(&tax, &id, at(t))
            .await
            .unwrap();
    }
    s.store
        .record_proofing_mismatch(&tax, &other, at(5))
        .await
        .unwrap();
    let all = s
        .store
        .proofing_mismatches_since(&tax, &id, at(-1))
        .await
        .unwrap();
    assert_eq!((all.count, all.oldest), (3, Some(at(0))));
    let recent = s
        .store
        .proofing_mismatches_since(&tax, &id, at(9))
        .await
        .unwrap();
    assert_eq!((recent.count, recent.oldest), (2, Some(at(10))));
    let none = s
        .store
        .proofing_mismatches_since(&tax, &id, at(20))
        .await
        .unwrap();
    assert_eq!((none.count, none.oldest), (0, None));
}

pub async fn support_failures_are_counted_in_the_window<S: UserStore, R: ProviderRoster>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let account = seed_active(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    s.store
        .record_support_check(account.id, at(0), false)
        .await
        .unwrap();
    s.store
        .record_support_check(account.id, at(10), true)
        .await
        .unwrap();
    s.store
        .record_support_check(account.id, at(20), false)
        .await
        .unwrap();
    assert_eq!(
        s.store
            .support_failures_since(account.id, at(-1))
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        s.store
            .support_failures_since(account.id, at(0))
            .await
            .unwrap(),
        1
    );
}

pub async fn stale_pending_accounts_are_purged<S: UserStore, R: ProviderRoster>(s: &Subject<S, R>) {
    seed_roster(&s.roster).await;
    let stale = seed_account(&s.store, "stale", sample::jane_doe(), 1, T0).await;
    let resent = seed_account(&s.store, "resent", sample::acme_group(), 2, T0).await;
    let active = seed_active(&s.store, "active", sample::john_roe(), 3, T0).await;
    // A resend gives `resent` a newer link, which keeps it.
    let newer = NewToken {
        account_id: resent.id,
        purpose: TokenPurpose::Activation,
        link: activation_link(4, T0 + Duration::days(7) + Duration::hours(1)),
    };
    s.store
        .issue_token(
            &newer,
            &email_to(&resent.username, EmailKind::Activation { token: token(4) }),
            5,
        )
        .await
        .unwrap();
    // Links from T0 expired at T0 + 24h; the cutoff is 7 days after that.
    let cutoff = T0 + Duration::hours(24) + Duration::days(7) + Duration::seconds(1);
    let purged = s.store.purge_stale_pending(cutoff).await.unwrap();
    assert_eq!(purged, vec!["stale".to_owned()]);
    assert_eq!(s.store.account_by_id(stale.id).await.unwrap(), None);
    assert!(s.store.account_by_id(resent.id).await.unwrap().is_some());
    assert!(s.store.account_by_id(active.id).await.unwrap().is_some());
    // Provider and username are free again.
    assert_eq!(
        s.store
            .account_by_registrant(&sample::jane_doe().registrant_key())
            .await
            .unwrap(),
        None
    );
    seed_account(&s.store, "stale", sample::jane_doe(), 5, cutoff).await;
}

pub async fn expired_things_are_purged<S: UserStore + OutboxStore, R: ProviderRoster>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let account = seed_active(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    let idle = Duration::minutes(30);
    let absolute = Duration::hours(12);
    s.store
        .record_login_success(
            account.id,
            &session_for(&account, 20, at(0)),
            None,
            &login_audit(),
        )
        .await
        .unwrap();
    s.store
        .record_login_success(
            account.id,
            &session_for(&account, 21, at(3600)),
            None,
            &login_audit(),
        )
        .await
        .unwrap();
    let open = RegistrationFlow::start(
        flow_id(9, 9),
        sample::acme_group(),
        T0,
        Duration::minutes(30),
    );
    s.store.insert_flow(&open).await.unwrap();
    drain(&s.store, T0).await;
    let now = at(3600 + 60);
    let counts = s
        .store
        .purge_expired(
            now,
            now - Duration::hours(24),
            now - Duration::days(7),
            idle,
            absolute,
        )
        .await
        .unwrap();
    assert_eq!(counts.sessions, 1);
    assert_eq!(stored_session(&s.store, &token(20).hash()).await, None);
    assert!(stored_session(&s.store, &token(21).hash()).await.is_some());
    assert!(
        s.store.load_flow(&open.id).await.unwrap().is_some(),
        "kept 24 h after expiry"
    );
    let later = T0 + Duration::hours(25);
    let counts = s
        .store
        .purge_expired(
            later,
            later - Duration::hours(24),
            later - Duration::days(7),
            idle,
            absolute,
        )
        .await
        .unwrap();
    assert!(counts.flows >= 1);
    assert_eq!(s.store.load_flow(&open.id).await.unwrap(), None);
    assert!(s.store.account_by_id(account.id).await.unwrap().is_some());
}

pub async fn audit_events_are_listed_oldest_first<S: UserStore, R>(s: &Subject<S, R>) {
    let event = |t: i64, action: AuditAction, user: Option<&str>| AuditEvent {
        at: at(t),
        action,
        username: user.map(str::to_owned),
        client_addr: Some(std::net::IpAddr::from([198, 51, 100, 1])),
        outcome: "success".to_owned(),
    };
    s.store
        .append_audit(&event(20, AuditAction::LoginFailed, Some("Dr.Doe")))
        .await
        .unwrap();
    s.store
        .append_audit(&event(10, AuditAction::RegistrationStarted, None))
        .await
        .unwrap();
    s.store
        .append_audit(&event(30, AuditAction::LoginSucceeded, Some("other")))
        .await
        .unwrap();
    let all = s.store.audit_events(&AuditFilter::default()).await.unwrap();
    assert_eq!(
        all.iter().map(|e| e.at).collect::<Vec<_>>(),
        vec![at(10), at(20), at(30)]
    );
    assert_eq!(all[1], event(20, AuditAction::LoginFailed, Some("Dr.Doe")));
    let mine = s
        .store
        .audit_events(&AuditFilter {
            username: Some("dr.doe".to_owned()),
            since: None,
        })
        .await
        .unwrap();
    assert_eq!(mine.len(), 1);
    let recent = s
        .store
        .audit_events(&AuditFilter {
            username: None,
            since: Some(at(20)),
        })
        .await
        .unwrap();
    assert_eq!(recent.len(), 2);
}

pub async fn outbox_claims_lease_retry_and_finish<S: UserStore + OutboxStore, R: ProviderRoster>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let account = seed_account(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    let lease = Duration::minutes(5);
    let claimed = s.store.claim_due(T0, 10, lease).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].attempts, 0);
    assert!(
        s.store
            .claim_due(at(1), 10, lease)
            .await
            .unwrap()
            .is_empty(),
        "hidden while leased"
    );
    s.store
        .mark_retry(claimed[0].id, at(30), "connection refused")
        .await
        .unwrap();
    assert!(
        s.store
            .claim_due(at(29), 10, lease)
            .await
            .unwrap()
            .is_empty(),
        "not due before the retry time"
    );
    let again = s.store.claim_due(at(30), 10, lease).await.unwrap();
    assert_eq!((again.len(), again[0].attempts), (1, 1));
    assert_eq!(s.store.pending_for(&account.username).await.unwrap(), 1);
    s.store.mark_sent(again[0].id, at(31)).await.unwrap();
    assert_eq!(s.store.pending_for(&account.username).await.unwrap(), 0);
    assert!(
        s.store
            .claim_due(at(31) + Duration::hours(1), 10, lease)
            .await
            .unwrap()
            .is_empty(),
        "sent is final"
    );
    // A lease that runs out (a worker died) makes the email due again.
    let user = username("dr.doe");
    let notice = email_to(&user, EmailKind::PasswordChanged);
    s.store
        .change_password(account.id, &hash("x"), &token(50).hash(), &notice, at(40))
        .await
        .unwrap();
    let first = s.store.claim_due(at(40), 10, lease).await.unwrap();
    assert_eq!(first.len(), 1);
    let reclaimed = s.store.claim_due(at(40) + lease, 10, lease).await.unwrap();
    assert_eq!(
        reclaimed.iter().map(|q| q.id).collect::<Vec<_>>(),
        vec![first[0].id]
    );
    s.store
        .mark_failed(first[0].id, at(400), "550 no such user")
        .await
        .unwrap();
    assert!(
        s.store
            .claim_due(at(4000), 10, lease)
            .await
            .unwrap()
            .is_empty(),
        "failed is final"
    );
}

pub async fn parallel_claimers_get_each_email_once<
    S: UserStore + OutboxStore,
    R: ProviderRoster,
>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let account = seed_active(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    drain(&s.store, T0).await;
    for n in 0..20u8 {
        let notice = email_to(&account.username, EmailKind::PasswordChanged);
        s.store
            .change_password(
                account.id,
                &hash(&format!("h{n}")),
                &token(200).hash(),
                &notice,
                at(10),
            )
            .await
            .unwrap();
    }
    let lease = Duration::minutes(5);
    let worker = || async {
        let mut mine = Vec::new();
        loop {
            let batch = s.store.claim_due(at(10), 3, lease).await.unwrap();
            if batch.is_empty() {
                return mine;
            }
            for queued in batch {
                s.store.mark_sent(queued.id, at(10)).await.unwrap();
                mine.push(queued.id);
            }
        }
    };
    let (a, b) = futures::join!(worker(), worker());
    let mut all: Vec<_> = a.into_iter().chain(b).collect();
    let claimed = all.len();
    all.sort();
    all.dedup();
    assert_eq!(claimed, 20, "every email claimed");
    assert_eq!(all.len(), 20, "no email claimed twice");
}

pub async fn parallel_registrations_create_one_account<S: UserStore, R: ProviderRoster>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let provider = sample::jane_doe();
    let mut flows = Vec::new();
    for n in 0..20u8 {
        flows
            .push(finished_flow(&s.store, flow_id(u64::from(n), 0x77), provider.clone(), T0).await);
    }
    let attempts = flows.iter().enumerate().map(|(n, flow)| {
        let name = format!("user{n}");
        let n = u8::try_from(n).unwrap_or(0) + 100;
        let provider = provider.clone();
        async move {
            let user = username(&name);
            s.store
                .create_account(
                    flow,
                    &new_account(&name, &provider, T0),
                    &activation_link(n, T0),
                    &email_to(&user, EmailKind::Activation { token: token(n) }),
                )
                .await
        }
    });
    let results = join_all(attempts).await;
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Ok(_) | Err(CreateAccountError::AlreadyRegistered))),
        "{results:?}"
    );
}

pub async fn roster_finds_and_scopes<S, R: ProviderRoster>(s: &Subject<S, R>) {
    s.roster
        .import(&sample::entries(), ImportMode::Upsert, false, T0)
        .await
        .unwrap();
    let jane = sample::jane_doe();
    assert_eq!(
        s.roster
            .find(&jane.tax_id, &jane.provider_id)
            .await
            .unwrap(),
        Some(jane.clone())
    );
    assert_eq!(
        s.roster
            .find(&jane.tax_id, &ProviderId::parse("NOPE").unwrap())
            .await
            .unwrap(),
        None
    );
    let under = s.roster.active_under_tax_id(&jane.tax_id).await.unwrap();
    let ids: Vec<&str> = under.iter().map(|e| e.provider_id.as_str()).collect();
    assert_eq!(ids, vec!["G2001", "P1001", "P1002"]);
    assert!(
        s.roster
            .active_under_tax_id(&TaxId::parse("999999999").unwrap())
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn roster_import_is_idempotent_replaces_and_dry_runs<S, R: ProviderRoster>(
    s: &Subject<S, R>,
) {
    let first = s
        .roster
        .import(&sample::entries(), ImportMode::Upsert, false, T0)
        .await
        .unwrap();
    assert_eq!((first.added, first.changed, first.unchanged), (3, 0, 0));
    let again = s
        .roster
        .import(&sample::entries(), ImportMode::Upsert, false, at(1))
        .await
        .unwrap();
    assert_eq!((again.added, again.changed, again.unchanged), (0, 0, 3));

    let mut moved = sample::jane_doe();
    moved.zips = vec![crate::values::Zip::parse("10001").unwrap()];
    let dry = s
        .roster
        .import(
            std::slice::from_ref(&moved),
            ImportMode::Replace,
            true,
            at(2),
        )
        .await
        .unwrap();
    assert_eq!((dry.changed, dry.deactivated), (1, 2));
    assert_eq!(
        s.roster
            .find(&moved.tax_id, &moved.provider_id)
            .await
            .unwrap(),
        Some(sample::jane_doe()),
        "dry run wrote nothing"
    );

    let replaced = s
        .roster
        .import(
            std::slice::from_ref(&moved),
            ImportMode::Replace,
            false,
            at(3),
        )
        .await
        .unwrap();
    assert_eq!((replaced.changed, replaced.deactivated), (1, 2));
    let group = sample::acme_group();
    let inactive = s
        .roster
        .find(&group.tax_id, &group.provider_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        inactive.inactive_since,
        Some(at(3)),
        "kept, marked inactive"
    );
    assert_eq!(
        s.roster.active_under_tax_id(&group.tax_id).await.unwrap(),
        vec![moved.clone()]
    );

    let back = s
        .roster
        .import(&sample::entries(), ImportMode::Replace, false, at(4))
        .await
        .unwrap();
    assert_eq!(
        (back.reactivated, back.changed, back.deactivated),
        (2, 1, 0)
    );
    assert_eq!(
        s.roster
            .active_under_tax_id(&group.tax_id)
            .await
            .unwrap()
            .len(),
        3
    );
}

pub async fn roster_files_import_all_or_nothing<S, R: ProviderRoster>(s: &Subject<S, R>) {
    use crate::roster_csv::{RosterImportError, import};
    let good = "provider_id,tax_id,kind,first_name,last_name,group_name,zips,payee,lines_of_business\n\
                P1001,12-3456789,practitioner,Jane,Doe,,45202;45011,individual,medicaid\n";
    let summary = import(
        &s.roster,
        "roster.csv",
        good.as_bytes(),
        ImportMode::Upsert,
        false,
        T0,
    )
    .await
    .unwrap();
    assert_eq!(summary.added, 1);
    // Line 3 is bad: nothing of the file is applied, not even line 2.
    let bad = "provider_id,tax_id,kind,first_name,last_name,group_name,zips,payee,lines_of_business\n\
               G2001,123456789,group,,,Acme Health Group,45202,,medicaid\n\
               P1002,12-345678,practitioner,John,Roe,,45202,group,medicaid\n";
    let Err(RosterImportError::Invalid(errors)) = import(
        &s.roster,
        "roster.csv",
        bad.as_bytes(),
        ImportMode::Replace,
        false,
        at(1),
    )
    .await
    else {
        panic!("a bad row must refuse the file")
    };
    assert_eq!(
        errors.to_string().lines().next(),
        Some("roster.csv:3: tax_id: expected 9 digits")
    );
    let tax = TaxId::parse(sample::TAX_ID).unwrap();
    let active = s.roster.active_under_tax_id(&tax).await.unwrap();
    assert_eq!(
        active
            .iter()
            .map(|e| e.provider_id.as_str())
            .collect::<Vec<_>>(),
        vec!["P1001"],
        "nothing applied"
    );
}

pub async fn roster_imports_100_000_rows<S, R: ProviderRoster>(s: &Subject<S, R>) {
    use crate::roster_csv::import;
    use std::fmt::Write as _;
    let mut file = String::from(
        "provider_id,tax_id,kind,first_name,last_name,group_name,zips,payee,lines_of_business\n",
    );
    for i in 0..100_000u32 {
        let _ = writeln!(
            file,
            "P{i},{:09},practitioner,First{i},Last,,45202;45011-1234,individual,medicaid;marketplace",
            i % 5000
        );
    }
    let first = import(
        &s.roster,
        "big.csv",
        file.as_bytes(),
        ImportMode::Upsert,
        false,
        T0,
    )
    .await
    .unwrap();
    assert_eq!(first.added, 100_000);
    let found = s
        .roster
        .find(
            &TaxId::parse("000000042").unwrap(),
            &ProviderId::parse("P5042").unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        found.map(|e| e.display_name()),
        Some("First5042 Last".to_owned())
    );
    assert_eq!(
        s.roster
            .active_under_tax_id(&TaxId::parse("000000007").unwrap())
            .await
            .unwrap()
            .len(),
        20
    );
    let again = import(
        &s.roster,
        "big.csv",
        file.as_bytes(),
        ImportMode::Upsert,
        false,
        at(1),
    )
    .await
    .unwrap();
    assert_eq!(
        (again.added, again.changed, again.unchanged),
        (0, 0, 100_000),
        "idempotent"
    );
}

/// Helps adapters build a registrant key in their own tests.
pub fn registrant_of(entry: &RosterEntry) -> RegistrantKey {
    entry.registrant_key()
}

/// A token hash for adapters' own tests.
pub fn token_hash(n: u8) -> TokenHash {
    token(n).hash()
}
