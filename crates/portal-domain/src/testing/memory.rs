//! In-memory adapters of every port, holding the invariants the databases
//! hold: unique usernames (case-insensitive) and registrants, single-use
//! tokens, exact failure counts, claims that never hand one email out twice.
//! One mutex makes every store operation atomic, also under concurrency.

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

mod outbox;
mod roster;
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

#[async_trait]
impl Registrations for InMemoryStore {
    async fn insert_flow(&self, flow: &RegistrationFlow) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        if state.flows.contains_key(&flow.id) {
            return Err(StoreError::Unexpected(
                "duplicate registration id".to_owned(),
            ));
        }
        state.flows.insert(flow.id.clone(), flow.clone());
        Ok(())
    }

    async fn load_flow(&self, id: &RegistrationId) -> Result<Option<RegistrationFlow>, StoreError> {
        Ok(lock(&self.state).flows.get(id).cloned())
    }

    async fn update_flow(&self, flow: &RegistrationFlow) -> Result<(), FlowUpdateError> {
        let mut state = lock(&self.state);
        if !state.check_flow_version(flow) {
            return Err(FlowUpdateError::Conflict);
        }
        state.flows.insert(flow.id.clone(), flow.clone());
        Ok(())
    }
}

#[async_trait]
impl Accounts for InMemoryStore {
    async fn account_by_username(
        &self,
        username: &Username,
    ) -> Result<Option<Account>, StoreError> {
        Ok(lock(&self.state)
            .accounts
            .values()
            .find(|a| a.username == *username)
            .cloned())
    }

    async fn account_by_id(&self, id: AccountId) -> Result<Option<Account>, StoreError> {
        Ok(lock(&self.state).accounts.get(&id).cloned())
    }

    async fn account_by_registrant(
        &self,
        key: &RegistrantKey,
    ) -> Result<Option<Account>, StoreError> {
        Ok(lock(&self.state)
            .accounts
            .values()
            .find(|a| a.provider.registrant_key() == *key)
            .cloned())
    }

    async fn create_account(
        &self,
        finished_flow: &RegistrationFlow,
        account: &NewAccount,
        activation: &LinkToken,
        email: &Email,
        audit: &AuditEvent,
    ) -> Result<Account, CreateAccountError> {
        let mut state = lock(&self.state);
        if !state.check_flow_version(finished_flow) {
            return Err(CreateAccountError::FlowConflict);
        }
        let key = account.provider.registrant_key();
        let replaced = state
            .accounts
            .values()
            .find(|a| a.provider.registrant_key() == key && !a.holds_provider())
            .map(|a| a.id);
        if state
            .accounts
            .values()
            .any(|a| Some(a.id) != replaced && a.username == account.username)
        {
            return Err(CreateAccountError::UsernameTaken);
        }
        if state
            .accounts
            .values()
            .any(|a| Some(a.id) != replaced && a.provider.registrant_key() == key)
        {
            return Err(CreateAccountError::AlreadyRegistered);
        }
        if let Some(old) = replaced.and_then(|id| state.accounts.remove(&id)) {
            state.tokens.retain(|t| t.account_id != old.id);
            state.sessions.retain(|_, s| s.account_id != old.id);
            state.support.retain(|(id, _, _)| *id != old.id);
            state
                .audit
                .push(AuditEvent::pending_replaced(audit, old.username.as_str()));
        }
        state.next_account += 1;
        let id = AccountId::new(state.next_account);
        let created = Account {
            id,
            username: account.username.clone(),
            email: account.email.clone(),
            password_hash: account.password_hash.clone(),
            provider: account.provider.clone(),
            activation: Activation::Pending,
            disabled: false,
            lock: LockState::default(),
            agreement: account.agreement.clone(),
            security_question: account.security_question,
            security_answer_hash: account.security_answer_hash.clone(),
            created_at: account.created_at,
            last_login_at: None,
        };
        state
            .flows
            .insert(finished_flow.id.clone(), finished_flow.clone());
        state.accounts.insert(id, created.clone());
        state.tokens.push(TokenRow {
            hash: activation.hash,
            account_id: id,
            purpose: TokenPurpose::Activation,
            issued_at: activation.issued_at,
            expires_at: activation.expires_at,
            used_at: None,
            superseded: false,
            capped: false,
            refusals: 0,
        });
        state.enqueue(email, account.created_at, Some(activation.expires_at));
        state.audit.push(audit.clone());
        Ok(created)
    }

    async fn record_agreement(
        &self,
        id: AccountId,
        acceptance: &AgreementAcceptance,
    ) -> Result<(), StoreError> {
        lock(&self.state).account_mut(id)?.agreement = acceptance.clone();
        Ok(())
    }

    async fn set_disabled(&self, id: AccountId, disabled: bool) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        state.account_mut(id)?.disabled = disabled;
        if disabled {
            state.sessions.retain(|_, session| session.account_id != id);
        }
        Ok(())
    }
}

#[async_trait]
impl LoginAttempts for InMemoryStore {
    /// The roster is [`InMemoryRoster`], not this store: the use case asks
    /// it. The first place is taken under the same lock as the read.
    async fn account_for_login(
        &self,
        username: &Username,
        first: Option<FirstPlace>,
    ) -> Result<Option<LoginRead>, StoreError> {
        let mut state = lock(&self.state);
        let Some(account) = state
            .accounts
            .values_mut()
            .find(|a| a.username == *username)
        else {
            return Ok(None);
        };
        let read = account.clone();
        let place = first
            .filter(|_| account.lock == LockState::default())
            .map(|first| {
                account.lock = first.after;
                first.reserved
            });
        Ok(Some(LoginRead {
            account: read,
            provider: ProviderRead::Elsewhere,
            place,
        }))
    }

    async fn reserve_login_attempt(
        &self,
        id: AccountId,
        // Decided under the state's mutex, from the state itself.
        _seen: LockState,
        now: OffsetDateTime,
        policy: LockoutPolicy,
    ) -> Result<ReservedAttempt, StoreError> {
        let mut state = lock(&self.state);
        let account = state.account_mut(id)?;
        let (counted, reserved) = account.lock.reserve(now, policy);
        account.lock = counted;
        Ok(reserved)
    }

    async fn release_login_attempt(&self, id: AccountId) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        let account = state.account_mut(id)?;
        account.lock = account.lock.after_release();
        Ok(())
    }

    async fn record_login_failure(
        &self,
        id: AccountId,
        now: OffsetDateTime,
        policy: LockoutPolicy,
        lock_audit: &AuditEvent,
    ) -> Result<RecordedFailure, StoreError> {
        let mut state = lock(&self.state);
        let account = state.account_mut(id)?;
        let recorded = RecordedFailure::after(account.lock, now, policy);
        account.lock = recorded.state;
        if recorded.set_lock {
            state.audit.push(lock_audit.clone());
        }
        Ok(recorded)
    }

    async fn record_login_success(
        &self,
        id: AccountId,
        session: &Session,
        verified: &PasswordHash,
        rehashed: Option<PasswordHash>,
        audit: &AuditEvent,
    ) -> Result<CredentialWrite, StoreError> {
        let mut state = lock(&self.state);
        let account = state.account_mut(id)?;
        let judged = CredentialWrite::judge(account, verified, session.created_at);
        if judged != CredentialWrite::Applied {
            return Ok(judged);
        }
        account.lock = LockState::cleared();
        account.last_login_at = Some(session.created_at);
        if let Some(hash) = rehashed {
            account.password_hash = hash;
        }
        state.sessions.insert(session.token_hash, session.clone());
        state.audit.push(audit.clone());
        Ok(CredentialWrite::Applied)
    }

    async fn clear_lock(&self, id: AccountId) -> Result<(), StoreError> {
        lock(&self.state).account_mut(id)?.lock = LockState::cleared();
        Ok(())
    }
}

#[async_trait]
impl Credentials for InMemoryStore {
    async fn issue_token(
        &self,
        token: &NewToken,
        email: &Email,
        cap: EmailCap,
    ) -> Result<IssueOutcome, StoreError> {
        let mut state = lock(&self.state);
        let issued_at = token.link.issued_at;
        if !state.accounts.contains_key(&token.account_id) {
            return Ok(IssueOutcome::NoAccount);
        }
        let recent = state
            .tokens
            .iter()
            .filter(|row| {
                row.account_id == token.account_id
                    && row.capped
                    && row.issued_at > issued_at - cap.window
            })
            .count();
        if cap.max > 0 && recent >= cap.max as usize {
            return Ok(IssueOutcome::CapReached);
        }
        for row in state
            .tokens
            .iter_mut()
            .filter(|row| row.account_id == token.account_id && row.purpose == token.purpose)
        {
            row.superseded = true;
        }
        state.tokens.push(TokenRow {
            hash: token.link.hash,
            account_id: token.account_id,
            purpose: token.purpose,
            issued_at,
            expires_at: token.link.expires_at,
            used_at: None,
            superseded: false,
            capped: true,
            refusals: 0,
        });
        state.enqueue(email, issued_at, Some(token.link.expires_at));
        Ok(IssueOutcome::Issued)
    }

    async fn find_live_token(
        &self,
        hash: &TokenHash,
        purpose: TokenPurpose,
        now: OffsetDateTime,
    ) -> Result<Option<Account>, StoreError> {
        let state = lock(&self.state);
        Ok(state
            .tokens
            .iter()
            .find(|row| row.hash == *hash && row.is_live(purpose, now))
            .and_then(|row| state.accounts.get(&row.account_id).cloned()))
    }

    async fn account_by_issued_token(
        &self,
        hash: &TokenHash,
        purpose: TokenPurpose,
    ) -> Result<Option<Account>, StoreError> {
        let state = lock(&self.state);
        Ok(state
            .tokens
            .iter()
            .find(|row| row.hash == *hash && row.purpose == purpose)
            .and_then(|row| state.accounts.get(&row.account_id).cloned()))
    }

    async fn redeem_activation(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
        email: &Email,
        audit: &AuditEvent,
    ) -> Result<Account, RedeemError> {
        let mut state = lock(&self.state);
        let id = state.redeem(hash, TokenPurpose::Activation, now)?;
        let account = state.account_mut(id)?;
        account.activation = Activation::Active { activated_at: now };
        let activated = account.clone();
        state.enqueue(email, now, None);
        state.audit.push(audit.clone());
        Ok(activated)
    }

    async fn redeem_password_reset(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
        new_hash: &PasswordHash,
        notice: &Email,
        audit: &AuditEvent,
    ) -> Result<Account, RedeemError> {
        let mut state = lock(&self.state);
        let id = state.redeem(hash, TokenPurpose::PasswordReset, now)?;
        let account = state.account_mut(id)?;
        account.password_hash = new_hash.clone();
        account.lock = LockState::cleared();
        let changed = account.clone();
        state.sessions.retain(|_, session| session.account_id != id);
        state.enqueue(notice, now, None);
        state.audit.push(audit.clone());
        Ok(changed)
    }

    async fn record_reset_refusal(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
        max_refusals: u32,
    ) -> Result<(), RedeemError> {
        let mut state = lock(&self.state);
        let row = state
            .tokens
            .iter_mut()
            .find(|row| row.hash == *hash && row.is_live(TokenPurpose::PasswordReset, now))
            .ok_or(RedeemError::InvalidToken)?;
        let before = ResetRefusals {
            refusals: row.refusals,
        };
        let (after, spent) = before.after_refusal(max_refusals);
        row.refusals = after.refusals;
        if spent {
            row.used_at = Some(now);
        }
        Ok(())
    }

    async fn change_password(
        &self,
        change: &PasswordChange,
        notice: &Email,
        audit: &AuditEvent,
        now: OffsetDateTime,
    ) -> Result<CredentialWrite, StoreError> {
        let mut state = lock(&self.state);
        let id = change.account_id;
        let session_kept = state
            .sessions
            .get(&change.keep)
            .is_some_and(|session| session.account_id == id);
        let account = state.account_mut(id)?;
        if !session_kept {
            return Ok(CredentialWrite::Stale);
        }
        let judged = CredentialWrite::judge(account, &change.verified, now);
        if judged != CredentialWrite::Applied {
            return Ok(judged);
        }
        account.password_hash = change.new_hash.clone();
        state
            .sessions
            .retain(|hash, session| session.account_id != id || *hash == change.keep);
        state.enqueue(notice, now, None);
        state.audit.push(audit.clone());
        Ok(CredentialWrite::Applied)
    }
}

#[async_trait]
impl Sessions for InMemoryStore {
    async fn find_session(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<(Session, Account, ProviderRead)>, StoreError> {
        let state = lock(&self.state);
        Ok(state.sessions.get(hash).and_then(|session| {
            let account = state.accounts.get(&session.account_id)?;
            Some((session.clone(), account.clone(), ProviderRead::Elsewhere))
        }))
    }

    async fn touch_session(&self, hash: &TokenHash, now: OffsetDateTime) -> Result<(), StoreError> {
        if let Some(session) = lock(&self.state).sessions.get_mut(hash) {
            session.last_seen_at = session.last_seen_at.max(now);
        }
        Ok(())
    }

    async fn revoke_session(&self, hash: &TokenHash) -> Result<(), StoreError> {
        lock(&self.state).sessions.remove(hash);
        Ok(())
    }
}

#[async_trait]
impl IdentityChecks for InMemoryStore {
    async fn record_proofing_mismatch(
        &self,
        tax_id: &TaxId,
        provider_id: &ProviderId,
        at: OffsetDateTime,
        since: OffsetDateTime,
        limit: u32,
    ) -> Result<WindowRecord, StoreError> {
        let mut state = lock(&self.state);
        let counted = state
            .proofing
            .iter()
            .filter(|(tax, id, failed_at)| tax == tax_id && id == provider_id && *failed_at > since)
            .map(|(_, _, failed_at)| *failed_at);
        if let Some(limited) = limited(counted, limit) {
            return Ok(limited);
        }
        state
            .proofing
            .push((tax_id.clone(), provider_id.clone(), at));
        Ok(WindowRecord::Recorded)
    }

    async fn proofing_mismatches_since(
        &self,
        tax_id: &TaxId,
        provider_id: &ProviderId,
        since: OffsetDateTime,
    ) -> Result<ProofingFailures, StoreError> {
        let state = lock(&self.state);
        let times: Vec<OffsetDateTime> = state
            .proofing
            .iter()
            .filter(|(tax, id, at)| tax == tax_id && id == provider_id && *at > since)
            .map(|(_, _, at)| *at)
            .collect();
        Ok(ProofingFailures {
            count: u32::try_from(times.len()).unwrap_or(u32::MAX),
            oldest: times.iter().min().copied(),
        })
    }

    async fn support_failures_since(
        &self,
        id: AccountId,
        since: OffsetDateTime,
    ) -> Result<u32, StoreError> {
        let state = lock(&self.state);
        let count = state
            .support
            .iter()
            .filter(|(account, at, matched)| *account == id && *at > since && !matched)
            .count();
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }

    async fn record_support_check(
        &self,
        id: AccountId,
        at: OffsetDateTime,
        matched: bool,
        since: OffsetDateTime,
        max_failed: u32,
    ) -> Result<WindowRecord, StoreError> {
        let mut state = lock(&self.state);
        let counted = state
            .support
            .iter()
            .filter(|(account, checked_at, matched)| {
                *account == id && *checked_at > since && !matched
            })
            .map(|(_, checked_at, _)| *checked_at);
        if let Some(limited) = limited(counted, max_failed) {
            return Ok(limited);
        }
        state.support.push((id, at, matched));
        Ok(WindowRecord::Recorded)
    }
}

#[async_trait]
impl Housekeeping for InMemoryStore {
    async fn purge_stale_pending(&self, cutoff: OffsetDateTime) -> Result<Vec<String>, StoreError> {
        let mut state = lock(&self.state);
        let stale: Vec<AccountId> = state
            .accounts
            .values()
            .filter(|account| !account.is_activated())
            .filter(|account| {
                let newest = state
                    .tokens
                    .iter()
                    .filter(|t| t.account_id == account.id && t.purpose == TokenPurpose::Activation)
                    .map(|t| t.expires_at)
                    .max();
                newest.is_some_and(|expires| expires < cutoff)
            })
            .map(|account| account.id)
            .collect();
        let mut usernames = Vec::with_capacity(stale.len());
        for id in &stale {
            if let Some(account) = state.accounts.remove(id) {
                usernames.push(account.username.as_str().to_owned());
            }
        }
        state.tokens.retain(|t| !stale.contains(&t.account_id));
        state.sessions.retain(|_, s| !stale.contains(&s.account_id));
        state.support.retain(|(id, _, _)| !stale.contains(id));
        Ok(usernames)
    }

    async fn purge_expired(
        &self,
        now: OffsetDateTime,
        flows_before: OffsetDateTime,
        sent_before: OffsetDateTime,
        capped_since: OffsetDateTime,
        session_idle: Duration,
        session_absolute: Duration,
    ) -> Result<PurgeCounts, StoreError> {
        let mut state = lock(&self.state);
        let mut counts = PurgeCounts::default();
        let before = state.flows.len();
        state.flows.retain(|_, flow| match &flow.state {
            RegistrationState::Finished { finished_at } => *finished_at >= flows_before,
            RegistrationState::ProviderVerified { expires_at, .. }
            | RegistrationState::AgreementAccepted { expires_at, .. } => {
                *expires_at >= flows_before
            }
        });
        counts.flows = (before - state.flows.len()) as u64;
        // Activation tokens of pending accounts are kept: the stale-pending
        // purge reads their expiry.
        let pending: Vec<AccountId> = state
            .accounts
            .values()
            .filter(|a| !a.is_activated())
            .map(|a| a.id)
            .collect();
        let before = state.tokens.len();
        state.tokens.retain(|t| {
            let dead = t.used_at.is_some() || t.superseded || now >= t.expires_at;
            !dead
                || (t.purpose == TokenPurpose::Activation && pending.contains(&t.account_id))
                || t.issued_at > capped_since
        });
        counts.tokens = (before - state.tokens.len()) as u64;
        let before = state.sessions.len();
        state.sessions.retain(|_, s| {
            now < (s.last_seen_at + session_idle).min(s.created_at + session_absolute)
        });
        counts.sessions = (before - state.sessions.len()) as u64;
        let before = state.outbox.len();
        state.outbox.retain(|row| {
            !(row.status == OutboxStatus::Sent
                && row.finished_at.is_some_and(|at| at < sent_before))
        });
        counts.sent_emails = (before - state.outbox.len()) as u64;
        Ok(counts)
    }
}

#[async_trait]
impl AuditLog for InMemoryStore {
    async fn append_audit(&self, event: &AuditEvent) -> Result<(), StoreError> {
        lock(&self.state).audit.push(event.clone());
        Ok(())
    }

    async fn audit_page(
        &self,
        filter: &AuditFilter,
        after: Option<AuditCursor>,
        limit: u32,
    ) -> Result<Vec<(AuditCursor, AuditEvent)>, StoreError> {
        let state = lock(&self.state);
        let wanted = filter.username.as_ref().map(|u| u.to_ascii_lowercase());
        let key = |cursor: &AuditCursor| (cursor.at, cursor.seq);
        let mut listed: Vec<(AuditCursor, AuditEvent)> = state
            .audit
            .iter()
            .enumerate()
            .filter(|(_, e)| {
                wanted.as_ref().is_none_or(|w| {
                    e.username
                        .as_ref()
                        .is_some_and(|u| u.to_ascii_lowercase() == *w)
                })
            })
            .filter(|(_, e)| filter.since.is_none_or(|since| e.at >= since))
            .map(|(seq, e)| {
                let cursor = AuditCursor {
                    at: e.at,
                    seq: i64::try_from(seq).unwrap_or(i64::MAX),
                };
                (cursor, e.clone())
            })
            .filter(|(cursor, _)| after.is_none_or(|after| key(cursor) > key(&after)))
            .collect();
        listed.sort_by_key(|(cursor, _)| key(cursor));
        listed.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(listed)
    }
}
