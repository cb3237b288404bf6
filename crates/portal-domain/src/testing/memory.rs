//! In-memory adapters of every port, holding the invariants the databases
//! hold: unique usernames (case-insensitive) and registrants, single-use
//! tokens, exact failure counts, claims that never hand one email out twice.
//! One mutex makes every store operation atomic, also under concurrency.
//! Each narrow store port is implemented in the file under `memory/` named
//! for it; the state and the helpers they share are here.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use time::{Duration, OffsetDateTime};

use crate::account::{Account, AccountId, Activation, NewAccount};
use crate::audit::{AuditCursor, AuditEvent, AuditFilter};
use crate::email::{Email, OutboxId, QueuedEmail};
use crate::lockout::{FirstPlace, LockState, LockoutPolicy, RecordedFailure, ReservedAttempt};
use crate::ports::{
    Accounts, AuditLog, Clock, CreateAccountError, CredentialWrite, Credentials, EmailCap,
    FlowUpdateError, Housekeeping, IdentityChecks, ImportMode, ImportSummary, IssueOutcome,
    LinkToken, LoginAttempts, LoginRead, NewToken, OutboxStore, PasswordChange, ProofingFailures,
    ProviderRead, ProviderRoster, PurgeCounts, RandomnessError, RedeemError, Registrations,
    ResetRefusals, Sessions, StoreError, TokenPurpose, TokenSource, WindowRecord,
};
use crate::registration::{
    AgreementAcceptance, RegistrationFlow, RegistrationId, RegistrationState,
};
use crate::roster::{RegistrantKey, RosterEntry};
use crate::session::Session;
use crate::stored::StoredEmail;
use crate::values::{PasswordHash, ProviderId, RawToken, TaxId, TokenHash, Username};

mod account_settings;
mod accounts;
mod audit_log;
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
mod system;

pub use outbox::RawOutbox;
pub use roster::InMemoryRoster;
pub use system::{ManualClock, SequentialTokens};

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic in another test thread must not hide this one's result.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Debug, Clone)]
struct TokenRow {
    hash: TokenHash,
    account_id: AccountId,
    purpose: TokenPurpose,
    issued_at: OffsetDateTime,
    expires_at: OffsetDateTime,
    used_at: Option<OffsetDateTime>,
    superseded: bool,
    /// Issued by `issue_token`: counts toward the per-account email cap.
    capped: bool,
    /// Confirmations refused by the password policy (reset links only).
    refusals: u32,
}

impl TokenRow {
    fn is_live(&self, purpose: TokenPurpose, now: OffsetDateTime) -> bool {
        self.purpose == purpose
            && self.used_at.is_none()
            && !self.superseded
            && now < self.expires_at
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OutboxStatus {
    Queued,
    Sent,
    Failed,
}

#[derive(Debug, Clone)]
struct OutboxRow {
    id: OutboxId,
    /// The column forms, as a database keeps them, so that a test can
    /// make a row unreadable.
    email: StoredEmail,
    link_expires_at: Option<OffsetDateTime>,
    status: OutboxStatus,
    /// Claims so far: the current claim's generation.
    claims: i64,
    attempts: u32,
    due_at: OffsetDateTime,
    created_seq: u64,
    finished_at: Option<OffsetDateTime>,
    last_error: Option<String>,
}

#[derive(Debug, Default)]
struct State {
    flows: HashMap<RegistrationId, RegistrationFlow>,
    proofing: Vec<(TaxId, ProviderId, OffsetDateTime)>,
    accounts: BTreeMap<AccountId, Account>,
    next_account: i64,
    tokens: Vec<TokenRow>,
    sessions: HashMap<TokenHash, Session>,
    support: Vec<(AccountId, OffsetDateTime, bool)>,
    audit: Vec<AuditEvent>,
    outbox: Vec<OutboxRow>,
    next_outbox: u64,
    /// The new address of each email change link, by the link's hash.
    email_changes: HashMap<TokenHash, crate::values::EmailAddress>,
    totp: HashMap<AccountId, crate::second_factor::TotpFactor>,
    /// Recovery codes: account, hash, when used.
    recovery_codes: Vec<(AccountId, TokenHash, Option<OffsetDateTime>)>,
    challenges: HashMap<TokenHash, crate::second_factor::MfaChallenge>,
    passkeys: Vec<crate::passkey::Passkey>,
    next_passkey: i64,
    ceremonies: HashMap<TokenHash, crate::passkey::PasskeyCeremony>,
}

impl State {
    fn account_mut(&mut self, id: AccountId) -> Result<&mut Account, StoreError> {
        self.accounts
            .get_mut(&id)
            .ok_or_else(|| StoreError::Unexpected(format!("no account {}", id.get())))
    }

    fn enqueue(
        &mut self,
        email: &Email,
        now: OffsetDateTime,
        link_expires_at: Option<OffsetDateTime>,
    ) {
        self.next_outbox += 1;
        self.outbox.push(OutboxRow {
            id: OutboxId(i64::try_from(self.next_outbox).unwrap_or(i64::MAX)),
            email: StoredEmail::from_email(email),
            link_expires_at,
            status: OutboxStatus::Queued,
            claims: 0,
            attempts: 0,
            due_at: now,
            created_seq: self.next_outbox,
            finished_at: None,
            last_error: None,
        });
    }

    fn check_flow_version(&self, flow: &RegistrationFlow) -> bool {
        self.flows
            .get(&flow.id)
            .is_some_and(|stored| stored.version + 1 == flow.version)
    }

    fn redeem(
        &mut self,
        hash: &TokenHash,
        purpose: TokenPurpose,
        now: OffsetDateTime,
    ) -> Result<AccountId, RedeemError> {
        let row = self
            .tokens
            .iter_mut()
            .find(|row| row.hash == *hash && row.is_live(purpose, now))
            .ok_or(RedeemError::InvalidToken)?;
        row.used_at = Some(now);
        Ok(row.account_id)
    }
}

/// [`WindowRecord::Limited`] when `limit` (not `0`) attempts are already
/// counted, with the oldest of them.
fn limited(counted: impl Iterator<Item = OffsetDateTime>, limit: u32) -> Option<WindowRecord> {
    if limit == 0 {
        return None;
    }
    let (count, oldest) = counted.fold((0_u32, None), |(count, oldest), at| {
        (
            count.saturating_add(1),
            Some(oldest.map_or(at, |o: OffsetDateTime| o.min(at))),
        )
    });
    match oldest {
        Some(oldest) if count >= limit => Some(WindowRecord::Limited { oldest }),
        _ => None,
    }
}

/// The in-memory [`UserStore`](crate::ports::UserStore) and [`OutboxStore`]. A clone is another
/// handle on the same state, as a clone of a pool is on the same database.
#[derive(Debug, Default, Clone)]
pub struct InMemoryStore {
    state: Arc<Mutex<State>>,
}

impl InMemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every email ever queued, oldest first (for tests that read links).
    pub fn emails(&self) -> Vec<Email> {
        lock(&self.state)
            .outbox
            .iter()
            .filter_map(|row| row.email.clone().into_email().ok())
            .collect()
    }

    /// Every stored session (for tests).
    pub fn session_count(&self) -> usize {
        lock(&self.state).sessions.len()
    }
}
