//! The ports: what the domain needs from the outside world, as traits it owns.
//!
//! Stores own atomicity. Each method that changes several things at once
//! ("account created + activation email queued", "failure counted + lock
//! set", "token redeemed + password changed + sessions revoked + notice
//! queued") is **one** method and must be one transaction (or one locked
//! section) in every adapter. Emails are queued through the store (a
//! transactional outbox); [`Mailer`] is what the delivery worker calls.
//!
//! Every adapter runs the contract suite in `crate::testing::contract`
//! (feature `testing`), so a fake cannot drift from the databases.

use async_trait::async_trait;
use time::{Duration, OffsetDateTime};

use crate::account::{Account, AccountId, NewAccount};
use crate::audit::{AuditCursor, AuditEvent, AuditFilter};
use crate::email::{ClaimedEmail, Email, OutboxClaim};
use crate::lockout::{FirstPlace, LockState, LockoutPolicy, RecordedFailure, ReservedAttempt};
use crate::password_policy::{PasswordPolicy, PolicyContext, PolicyViolations};
use crate::registration::{RegistrationFlow, RegistrationId};
use crate::roster::{RegistrantKey, RosterEntry};
use crate::session::Session;
use crate::values::{
    Password, PasswordHash, ProviderId, RawToken, SecurityAnswer, TaxId, TokenHash, Username,
};

/// A store could not do what was asked. The message is for logs only: it
/// never holds a secret, and it never reaches a client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or timed out; worth retrying later.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// The database aborted the transaction to settle a conflict with
    /// another one (a deadlock or a serialization failure). Adapters run
    /// such a transaction again; this reaches a use case only when the
    /// retries ran out.
    #[error("the store aborted a transaction under contention: {0}")]
    Contention(String),
    /// Anything else (corrupt row, broken invariant, driver bug).
    #[error("unexpected store failure: {0}")]
    Unexpected(String),
}

/// The roster of contracted providers (SPEC §2).
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait ProviderRoster: Send + Sync {
    /// The entry for a Tax ID + Provider ID, active or not; `None` if absent.
    async fn find(
        &self,
        tax_id: &TaxId,
        provider_id: &ProviderId,
    ) -> Result<Option<RosterEntry>, StoreError>;

    /// Every active entry under a Tax ID, ordered by provider id.
    async fn active_under_tax_id(&self, tax_id: &TaxId) -> Result<Vec<RosterEntry>, StoreError>;

    /// Applies a whole file at once, all or nothing: upserts by
    /// (`tax_id`, `provider_id`); with [`ImportMode::Replace`] also marks every
    /// entry missing from `entries` inactive (never deleting it), and marks
    /// active again those present. With `dry_run` nothing is written but the
    /// summary is the same. `entries` come a batch at a time, so that a file
    /// is never held whole; when its source fails, nothing is written and
    /// the answer is an error.
    async fn import(
        &self,
        entries: &mut RosterSource,
        mode: ImportMode,
        dry_run: bool,
        now: OffsetDateTime,
    ) -> Result<ImportSummary, StoreError>;
}

/// Roster entries handed to [`ProviderRoster::import`] a batch at a time.
pub trait RosterBatches: Send {
    /// The next entries; `Ok(None)` after the last. `Err` stops the import
    /// (the source knows why: a bad file, a read that failed).
    fn next_batch(&mut self) -> Result<Option<Vec<RosterEntry>>, SourceFailed>;
}

/// What [`ProviderRoster::import`] reads from: a source that owns what it
/// reads (a file, a buffer), so that it can be handed on as is.
pub type RosterSource = dyn RosterBatches + 'static;

/// The source of an import failed; it holds the reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the roster source failed; nothing was imported")]
pub struct SourceFailed;

impl From<SourceFailed> for StoreError {
    fn from(failed: SourceFailed) -> Self {
        StoreError::Unexpected(failed.to_string())
    }
}

/// Entries already in memory, handed over in batches.
#[derive(Debug)]
pub struct EntryBatches {
    rest: std::vec::IntoIter<RosterEntry>,
    size: usize,
}

impl EntryBatches {
    pub fn new(entries: impl Into<Vec<RosterEntry>>) -> Self {
        Self::of(entries, crate::roster_csv::BATCH)
    }

    /// In batches of `size` (at least one entry each).
    pub fn of(entries: impl Into<Vec<RosterEntry>>, size: usize) -> Self {
        Self {
            rest: entries.into().into_iter(),
            size: size.max(1),
        }
    }
}

impl RosterBatches for EntryBatches {
    fn next_batch(&mut self) -> Result<Option<Vec<RosterEntry>>, SourceFailed> {
        let batch: Vec<RosterEntry> = self.rest.by_ref().take(self.size).collect();
        Ok((!batch.is_empty()).then_some(batch))
    }
}

/// Whether an import adds to the roster or replaces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportMode {
    Upsert,
    Replace,
}

/// What an import did (or would do, on a dry run).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportSummary {
    pub added: u64,
    pub changed: u64,
    pub unchanged: u64,
    pub deactivated: u64,
    pub reactivated: u64,
}

/// Why a flow update was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlowUpdateError {
    /// The stored flow is not at `flow.version - 1`: another step won.
    #[error("the registration was changed concurrently")]
    Conflict,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why an account could not be created.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreateAccountError {
    /// Another account has this username, case-insensitively.
    #[error("username taken")]
    UsernameTaken,
    /// Another account holds this registrant.
    #[error("already registered")]
    AlreadyRegistered,
    /// The flow is not at `finished_flow.version - 1`: another step won.
    #[error("the registration was changed concurrently")]
    FlowConflict,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a token could not be redeemed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedeemError {
    /// Unknown, already used, superseded, expired or of another purpose.
    #[error("invalid token")]
    InvalidToken,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a one-time token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenPurpose {
    Activation,
    PasswordReset,
}

impl TokenPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Activation => "activation",
            Self::PasswordReset => "password_reset",
        }
    }
}

/// A one-time link token to store, by hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkToken {
    pub hash: TokenHash,
    pub issued_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// A link token for an existing account, with its purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewToken {
    pub account_id: AccountId,
    pub purpose: TokenPurpose,
    pub link: LinkToken,
}

/// The per-account email cap of [`UserStore::issue_token`]: at most `max`
/// tokens issued in any `window` (SPEC §9 `PORTAL_EMAILS_PER_HOUR` within
/// [`PortalSettings::HOUR`](crate::service::PortalSettings::HOUR));
/// `max == 0` means no cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmailCap {
    pub max: u32,
    pub window: Duration,
}

/// The refused confirmations of a live reset link (SPEC §6), as
/// [`UserStore::record_reset_refusal`] counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResetRefusals {
    pub refusals: u32,
}

impl ResetRefusals {
    /// One more refusal: the count after it, and whether it spends the link
    /// (the refusal that brings the count to `max_refusals` does, as a
    /// redemption would).
    pub fn after_refusal(self, max_refusals: u32) -> (Self, bool) {
        let refusals = self.refusals.saturating_add(1);
        (Self { refusals }, refusals >= max_refusals)
    }
}

/// Whether [`UserStore::issue_token`] issued the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueOutcome {
    Issued,
    /// The per-account email cap was reached: nothing was written.
    CapReached,
    /// The account is gone (purged since it was read): nothing was written.
    NoAccount,
}

/// Whether a write that follows a password verification applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialWrite {
    Applied,
    /// Another attempt locked the account while this one was verified: a
    /// success never lifts a lock. Nothing was written.
    Locked {
        locked_until: OffsetDateTime,
    },
    /// The account's password hash is no longer the one that was verified
    /// (a reset or a change committed meanwhile), or the session the write
    /// belongs to is gone: nothing was written.
    Stale,
}

impl CredentialWrite {
    /// Whether a write after a verification may apply to `account` as the
    /// store holds it (under its lock) at `now`: not when its hash is no
    /// longer the verified one ([`Self::Stale`]), else not while a lock is
    /// in force ([`Self::Locked`]: a success never lifts a lock). The one
    /// place this rule is written; stores read the account and ask.
    pub fn judge(account: &Account, verified: &PasswordHash, now: OffsetDateTime) -> Self {
        if account.password_hash != *verified {
            return Self::Stale;
        }
        match account.lock.locked_until(now) {
            Some(locked_until) => Self::Locked { locked_until },
            None => Self::Applied,
        }
    }
}

/// A password change by a logged-in account, for
/// [`UserStore::change_password`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordChange {
    pub account_id: AccountId,
    /// The hash the current password was verified against.
    pub verified: PasswordHash,
    pub new_hash: PasswordHash,
    /// The session that asked: kept, while every other one is revoked.
    pub keep: TokenHash,
}

/// Mismatch answers for one provider inside the proofing window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProofingFailures {
    pub count: u32,
    pub oldest: Option<OffsetDateTime>,
}

/// Whether a count-and-record within a window recorded the attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowRecord {
    Recorded,
    /// The limit was already reached: nothing was written. `oldest` is the
    /// oldest attempt counted, whose expiry frees a place.
    Limited {
        oldest: OffsetDateTime,
    },
}

/// What a purge removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeCounts {
    pub flows: u64,
    pub tokens: u64,
    pub sessions: u64,
    pub sent_emails: u64,
}

/// An account's roster entry, as a [`UserStore`] read it with the account.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(
    clippy::large_enum_variant,
    reason = "one per request, moved once beside an account that is larger still"
)]
pub enum ProviderRead {
    /// Read in the same query: the store keeps the roster its accounts
    /// reference (the database adapters, where a foreign key ties each
    /// account to its entry, so no other roster can hold its provider).
    /// `None`: the entry is gone.
    WithAccount(Option<RosterEntry>),
    /// The store does not keep the roster: the use case asks the
    /// [`ProviderRoster`].
    Elsewhere,
}

/// What a login's lookup read ([`UserStore::account_for_login`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginRead {
    pub account: Account,
    pub provider: ProviderRead,
    /// The attempt's place, when the store took it with the read.
    pub place: Option<ReservedAttempt>,
}

/// Accounts, registration flows, tokens, sessions, counters, audit events
/// and the email outbox: everything the use cases persist.
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait UserStore: Send + Sync {
    // --- registration flows ---

    /// Stores a new flow (version 0). Ids are random; a duplicate is `Unexpected`.
    async fn insert_flow(&self, flow: &RegistrationFlow) -> Result<(), StoreError>;

    /// The flow with this id, in whatever state; `None` if unknown or purged.
    async fn load_flow(&self, id: &RegistrationId) -> Result<Option<RegistrationFlow>, StoreError>;

    /// Compare-and-set: replaces the stored flow if it is at
    /// `flow.version - 1`, else [`FlowUpdateError::Conflict`].
    async fn update_flow(&self, flow: &RegistrationFlow) -> Result<(), FlowUpdateError>;

    /// In one transaction (or one locked section), so that racing
    /// mismatches cannot exceed the limit: unless `limit` mismatches are
    /// already recorded for the provider strictly after `since` (`0` means
    /// no limit), records one `provider_mismatch` answer at `at`. Of
    /// mismatches racing past the limit, exactly `limit` are recorded.
    async fn record_proofing_mismatch(
        &self,
        tax_id: &TaxId,
        provider_id: &ProviderId,
        at: OffsetDateTime,
        since: OffsetDateTime,
        limit: u32,
    ) -> Result<WindowRecord, StoreError>;

    /// The mismatches recorded for a provider strictly after `since` (a
    /// window of one hour ending now excludes what is exactly an hour old).
    async fn proofing_mismatches_since(
        &self,
        tax_id: &TaxId,
        provider_id: &ProviderId,
        since: OffsetDateTime,
    ) -> Result<ProofingFailures, StoreError>;

    // --- accounts ---

    /// Looks an account up by username, case-insensitively.
    async fn account_by_username(&self, username: &Username)
    -> Result<Option<Account>, StoreError>;

    /// Looks an account up by username for a login, with its provider's
    /// roster entry where this store keeps the roster (one query on the
    /// hottest path instead of two).
    ///
    /// A store may also write `first` with the same statement, only while
    /// the stored state is [`LockState::default`] (no failures, no lock),
    /// and then says so in [`LoginRead::place`]: the login's place is
    /// taken, and the account read is the state before it. Otherwise
    /// (`place` is `None`) the use case takes its place with
    /// [`UserStore::reserve_login_attempt`], as every store may leave it to.
    async fn account_for_login(
        &self,
        username: &Username,
        first: Option<FirstPlace>,
    ) -> Result<Option<LoginRead>, StoreError>;

    async fn account_by_id(&self, id: AccountId) -> Result<Option<Account>, StoreError>;

    /// The account of a registrant, if any (pending or active).
    async fn account_by_registrant(
        &self,
        key: &RegistrantKey,
    ) -> Result<Option<Account>, StoreError>;

    /// In one transaction: finishes the flow (compare-and-set as in
    /// [`UserStore::update_flow`]), deletes the account of the same
    /// registrant that does not hold its provider
    /// ([`Account::holds_provider`]: never activated, not disabled) with its
    /// tokens and sessions (its links then answer as unknown tokens, its
    /// username is free) and stores
    /// [`AuditEvent::pending_replaced`] for it, creates the account in
    /// `pending_activation`, stores the activation token and queues its email.
    ///
    /// Errors, checked by the database's constraints so that they hold under
    /// concurrency: [`CreateAccountError::UsernameTaken`] (case-insensitive
    /// unique username, held by an account other than the one replaced)
    /// before [`CreateAccountError::AlreadyRegistered`] (unique registrant:
    /// an account that holds the provider, or one a concurrent registration
    /// committed first), and [`CreateAccountError::FlowConflict`] before
    /// both (a double-submitted step is told that its flow moved on, not
    /// that its own account holds the username). `audit` is stored with
    /// the account. On any error nothing is written (the pending account
    /// stays).
    async fn create_account(
        &self,
        finished_flow: &RegistrationFlow,
        account: &NewAccount,
        activation: &LinkToken,
        email: &Email,
        audit: &AuditEvent,
    ) -> Result<Account, CreateAccountError>;

    /// Atomically gives a login or password-change attempt its place in
    /// the count before its password is verified
    /// ([`LockState::reserve`](crate::lockout::LockState::reserve)). Never
    /// loses a count under concurrency; attempts past the places are
    /// refused and change nothing. An unknown id is `Unexpected`.
    ///
    /// `seen` is the state the caller read with the account: a store may
    /// write the reservation in one statement that applies only while the
    /// state is still `seen`, and must decide under its lock when it is not
    /// (or when `seen` would refuse: a refusal is never made from a stale
    /// read).
    async fn reserve_login_attempt(
        &self,
        id: AccountId,
        seen: LockState,
        now: OffsetDateTime,
        policy: LockoutPolicy,
    ) -> Result<ReservedAttempt, StoreError>;

    /// Gives back the place of a reserved attempt that was not judged
    /// ([`LockState::after_release`](crate::lockout::LockState::after_release)).
    async fn release_login_attempt(&self, id: AccountId) -> Result<(), StoreError>;

    /// Atomically records that a reserved attempt's password was wrong
    /// ([`LockState::after_verified_failure`](crate::lockout::LockState::after_verified_failure):
    /// it was counted when reserved, so this only sets the lock when the
    /// count reached the limit) and returns the new state, and whether this
    /// failure set the lock ([`RecordedFailure::between`]). Of failures
    /// racing past the limit exactly one reports `set_lock`; that one also
    /// stores `lock_audit` in the same transaction. An unknown id is
    /// `Unexpected`.
    async fn record_login_failure(
        &self,
        id: AccountId,
        now: OffsetDateTime,
        policy: LockoutPolicy,
        lock_audit: &AuditEvent,
    ) -> Result<RecordedFailure, StoreError>;

    /// In one transaction, only while the account's password hash is still
    /// `verified` (else [`CredentialWrite::Stale`] and nothing is written,
    /// so a login that verified a password a reset has just replaced leaves
    /// no session behind) and no lock is in force at `session.created_at`
    /// (else [`CredentialWrite::Locked`]: a success never lifts a lock): clears the failure count and lock, sets the last
    /// login, stores the session, replaces the password hash when a rehash
    /// is given, and appends the login's audit event (a session never exists
    /// without its record).
    async fn record_login_success(
        &self,
        id: AccountId,
        session: &Session,
        verified: &PasswordHash,
        rehashed: Option<PasswordHash>,
        audit: &AuditEvent,
    ) -> Result<CredentialWrite, StoreError>;

    /// Records a new acceptance of the Provider Agreement.
    async fn record_agreement(
        &self,
        id: AccountId,
        acceptance: &crate::registration::AgreementAcceptance,
    ) -> Result<(), StoreError>;

    /// Disables or enables the account; disabling revokes every session of
    /// the account in the same transaction.
    async fn set_disabled(&self, id: AccountId, disabled: bool) -> Result<(), StoreError>;

    /// Clears the failure count and the lock.
    async fn clear_lock(&self, id: AccountId) -> Result<(), StoreError>;

    // --- one-time tokens ---

    /// In one transaction, holding the account (so that a purge cannot
    /// delete it halfway): unless `cap.max` tokens were already issued by
    /// this method for the account strictly after
    /// `token.link.issued_at - cap.window` (`cap.max == 0` means no cap),
    /// invalidates the account's live tokens of the same purpose, stores
    /// this one and queues its email. An account that is gone is
    /// [`IssueOutcome::NoAccount`].
    async fn issue_token(
        &self,
        token: &NewToken,
        email: &Email,
        cap: EmailCap,
    ) -> Result<IssueOutcome, StoreError>;

    /// The account a live token belongs to: unused, not superseded, not
    /// expired at `now`, of `purpose`. Reads only.
    async fn find_live_token(
        &self,
        hash: &TokenHash,
        purpose: TokenPurpose,
        now: OffsetDateTime,
    ) -> Result<Option<Account>, StoreError>;

    /// The account a token of `purpose` was issued to, whatever the
    /// token's state now (live, used, superseded or expired), while the
    /// token is still stored. Reads only. An activation link opened again
    /// after it was used reads its account this way, to say "already
    /// active" instead of an error (SPEC §3 step 5).
    async fn account_by_issued_token(
        &self,
        hash: &TokenHash,
        purpose: TokenPurpose,
    ) -> Result<Option<Account>, StoreError>;

    /// In one transaction: redeems a live activation token (single use, by
    /// one conditional update), activates the account, queues `email` and
    /// stores `audit`. Locks are taken account first, as everywhere.
    async fn redeem_activation(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
        email: &Email,
        audit: &AuditEvent,
    ) -> Result<Account, RedeemError>;

    /// In one transaction: redeems a live reset token, sets the password
    /// hash, clears the failure count and lock, revokes every session of the
    /// account, queues `notice` and stores `audit`. Locks are taken account
    /// first, as everywhere.
    async fn redeem_password_reset(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
        new_hash: &PasswordHash,
        notice: &Email,
        audit: &AuditEvent,
    ) -> Result<Account, RedeemError>;

    /// Counts one confirmation of a live reset token refused by the
    /// password policy, atomically (racing refusals each count):
    /// [`ResetRefusals::after_refusal`] on the count the store holds under
    /// its lock, so the `max_refusals`-th refusal spends the token, as a
    /// redemption would. A token that is not live is
    /// [`RedeemError::InvalidToken`] and nothing is written.
    async fn record_reset_refusal(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
        max_refusals: u32,
    ) -> Result<(), RedeemError>;

    /// In one transaction, only while the account's password hash is still
    /// `change.verified` and the session `change.keep` still exists (else
    /// [`CredentialWrite::Stale`] and nothing is written) and no lock is in
    /// force at `now` (else [`CredentialWrite::Locked`]): sets the
    /// password hash, revokes every session of the account except `keep`,
    /// queues `notice` (due at `now`) and stores `audit`.
    async fn change_password(
        &self,
        change: &PasswordChange,
        notice: &Email,
        audit: &AuditEvent,
        now: OffsetDateTime,
    ) -> Result<CredentialWrite, StoreError>;

    // --- sessions ---

    /// The session, the account it belongs to and, where this store keeps
    /// the roster, the account's roster entry: read together, since every
    /// authenticated request needs all three.
    async fn find_session(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<(Session, Account, ProviderRead)>, StoreError>;

    /// Moves the session's `last_seen_at` forward to `now` (never back).
    async fn touch_session(&self, hash: &TokenHash, now: OffsetDateTime) -> Result<(), StoreError>;

    /// Deletes the session; revoking an unknown session is not an error.
    async fn revoke_session(&self, hash: &TokenHash) -> Result<(), StoreError>;

    // --- support checks ---

    /// Failed support checks for the account strictly after `since`.
    async fn support_failures_since(
        &self,
        id: AccountId,
        since: OffsetDateTime,
    ) -> Result<u32, StoreError>;

    /// In one transaction, holding the account (so that racing checks
    /// cannot exceed the limit): unless `max_failed` failed checks are
    /// already recorded for the account strictly after `since`, records
    /// this check at `at`. Of wrong answers racing past the limit, exactly
    /// `max_failed` are recorded.
    async fn record_support_check(
        &self,
        id: AccountId,
        at: OffsetDateTime,
        matched: bool,
        since: OffsetDateTime,
        max_failed: u32,
    ) -> Result<WindowRecord, StoreError>;

    // --- maintenance ---

    /// In one operation: deletes every account still pending activation
    /// whose newest activation token expired before `cutoff`, with its
    /// tokens; returns the usernames freed. Eligibility is decided under the
    /// account's lock, so an account that was just sent a fresh link is
    /// kept.
    async fn purge_stale_pending(&self, cutoff: OffsetDateTime) -> Result<Vec<String>, StoreError>;

    /// Deletes flows finished or expired before `flows_before`, tokens and
    /// sessions dead before `now`, and emails sent before `sent_before`.
    /// Tokens issued after `capped_since` stay (the email cap counts them),
    /// and so do the activation tokens of pending accounts (the stale-pending
    /// purge reads their expiry).
    async fn purge_expired(
        &self,
        now: OffsetDateTime,
        flows_before: OffsetDateTime,
        sent_before: OffsetDateTime,
        capped_since: OffsetDateTime,
        session_idle: Duration,
        session_absolute: Duration,
    ) -> Result<PurgeCounts, StoreError>;

    // --- audit ---

    async fn append_audit(&self, event: &AuditEvent) -> Result<(), StoreError>;

    /// Every matching event, oldest first, read page by page with
    /// [`UserStore::audit_page`] (for tests and small trails; a listing
    /// should print each page as it comes).
    async fn audit_events(&self, filter: &AuditFilter) -> Result<Vec<AuditEvent>, StoreError> {
        const PAGE: u32 = 1000;
        let mut events = Vec::new();
        let mut after = None;
        loop {
            let page = self.audit_page(filter, after, PAGE).await?;
            let last_page = page.len() < PAGE as usize;
            after = page.last().map(|(cursor, _)| *cursor);
            events.extend(page.into_iter().map(|(_, event)| event));
            if last_page {
                return Ok(events);
            }
        }
    }

    /// At most `limit` matching events after `after` (from the first when
    /// `None`), oldest first, each with its cursor: a listing reads page
    /// after page, so its memory does not grow with the trail.
    async fn audit_page(
        &self,
        filter: &AuditFilter,
        after: Option<AuditCursor>,
        limit: u32,
    ) -> Result<Vec<(AuditCursor, AuditEvent)>, StoreError>;
}

/// The delivery worker's side of the outbox.
///
/// Every claim of a row starts a new claim generation ([`OutboxClaim`]);
/// the `mark_*` methods take the claim they belong to and change nothing
/// (answering `Ok(false)`) when the row has been claimed again since, or is
/// no longer queued. So a worker whose lease ran out in the middle of a
/// send can neither finish the email under the new claimant's feet nor
/// move its lease.
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Claims up to `limit` queued emails due at `now`, oldest first, and
    /// hides them from other claimers until `now + lease`. Two concurrent
    /// claimers never receive the same email. Only kinds in
    /// [`EmailKind::NAMES`](crate::email::EmailKind::NAMES) are claimed: rows
    /// of a kind this build does not know stay queued for a build that does.
    /// Rows are read one by one: a row of a known kind that cannot be read
    /// is claimed and returned as an
    /// [`UnreadableEmail`](crate::email::UnreadableEmail), and the others are
    /// returned as usual.
    async fn claim_due(
        &self,
        now: OffsetDateTime,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<ClaimedEmail>, StoreError>;

    /// Marks a claimed email sent and forgets its link. `Ok(false)` when
    /// the claim is no longer current: nothing changed.
    async fn mark_sent(&self, claim: OutboxClaim, now: OffsetDateTime) -> Result<bool, StoreError>;

    /// Counts a failed attempt and makes the email due again at `retry_at`.
    /// `Ok(false)` when the claim is no longer current: nothing changed.
    async fn mark_retry(
        &self,
        claim: OutboxClaim,
        retry_at: OffsetDateTime,
        error: &str,
    ) -> Result<bool, StoreError>;

    /// Gives up on an email for good and forgets its link. `Ok(false)` when
    /// the claim is no longer current: nothing changed.
    async fn mark_failed(
        &self,
        claim: OutboxClaim,
        now: OffsetDateTime,
        error: &str,
    ) -> Result<bool, StoreError>;

    /// Emails queued and not yet sent or failed, for one account's
    /// username, with the newest delivery error among them.
    async fn pending_for(&self, username: &Username) -> Result<PendingEmails, StoreError>;
}

/// What is still waiting to be delivered to one account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PendingEmails {
    pub count: u64,
    /// The relay's answer to the newest failed attempt of a queued email
    /// (never a credential or a token), if one failed.
    pub last_error: Option<String>,
}

/// Everything a database adapter provides: a binary that picks its store at
/// run time holds an `Arc<dyn Storage>`, which is all three ports at once.
pub trait Storage: UserStore + OutboxStore + ProviderRoster {}

impl<T: UserStore + OutboxStore + ProviderRoster + ?Sized> Storage for T {}

/// Why a mailer could not send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    /// Worth retrying: connection refused, timeout, 4xx.
    #[error("transient mail failure: {0}")]
    Transient(String),
    /// Will never succeed: 5xx rejection, invalid recipient.
    #[error("permanent mail failure: {0}")]
    Permanent(String),
}

/// Delivers one email now. Called by the outbox delivery worker only.
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, email: &Email) -> Result<(), MailError>;
}

/// The time. The domain never reads a clock of its own.
#[cfg_attr(feature = "testing", mockall::automock)]
pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;
}

/// The OS has no randomness to give (practically never; still not a panic).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no randomness available: {0}")]
pub struct RandomnessError(pub String);

/// Unguessable values: tokens and registration ids.
#[cfg_attr(feature = "testing", mockall::automock)]
pub trait TokenSource: Send + Sync {
    fn token(&self) -> Result<RawToken, RandomnessError>;
    fn registration_id(&self) -> Result<RegistrationId, RandomnessError>;
}

/// Why password work could not be done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    /// The bounded pool's queue is full; try again after `retry_after`.
    #[error("password hashing is saturated")]
    Overloaded { retry_after: Duration },
    #[error("password hashing failed: {0}")]
    Failed(String),
}

/// The outcome of verifying a secret against its hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    Mismatch,
    /// `needs_rehash` when the hash was made with other parameters.
    Match {
        needs_rehash: bool,
    },
}

impl Verification {
    pub fn is_match(self) -> bool {
        matches!(self, Self::Match { .. })
    }
}

/// All CPU-heavy password work: slow hashing, verification and the strength
/// estimate. An adapter may run it on a bounded pool off the async threads
/// and answer [`HashError::Overloaded`] when the pool is saturated.
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    async fn hash_password(&self, password: &Password) -> Result<PasswordHash, HashError>;

    /// A corrupt hash is a mismatch, not an error.
    async fn verify_password(
        &self,
        password: &Password,
        hash: &PasswordHash,
    ) -> Result<Verification, HashError>;

    /// Costs what [`PasswordHasher::verify_password`] costs, for unknown
    /// users, so that timing does not tell who exists.
    async fn verify_dummy(&self, password: &Password) -> Result<(), HashError>;

    async fn hash_answer(&self, answer: &SecurityAnswer) -> Result<PasswordHash, HashError>;

    async fn verify_answer(
        &self,
        answer: &SecurityAnswer,
        hash: &PasswordHash,
    ) -> Result<Verification, HashError>;

    /// Runs [`PasswordPolicy::check`] (zxcvbn is CPU-heavy too).
    async fn check_policy(
        &self,
        policy: &PasswordPolicy,
        password: &Password,
        context: &PolicyContext,
    ) -> Result<Result<(), PolicyViolations>, HashError>;
}
