//! The in-memory [`OutboxStore`]: the queued emails live in the store's state,
//! beside the accounts whose changes queue them.

use super::*;
use crate::email::{ClaimedEmail, EmailKind, OutboxClaim, UnreadableEmail};
use crate::ports::PendingEmails;

impl OutboxRow {
    fn claim(&self) -> OutboxClaim {
        OutboxClaim {
            id: self.id,
            generation: self.claims,
        }
    }

    /// Whether a mark for `claim` may change this row.
    fn is_claimed_by(&self, claim: OutboxClaim) -> bool {
        self.id == claim.id
            && self.claims == claim.generation
            && self.status == OutboxStatus::Queued
    }

    fn finish(&mut self, status: OutboxStatus, now: OffsetDateTime, error: Option<&str>) {
        self.status = status;
        self.attempts += 1;
        // The token stays (unlike in the databases): tests read links
        // from every email ever queued.
        self.finished_at = Some(now);
        // A success forgets the failures before it.
        self.last_error = error.map(str::to_owned);
    }
}

impl State {
    fn claimed_row(&mut self, claim: OutboxClaim) -> Option<&mut OutboxRow> {
        self.outbox.iter_mut().find(|row| row.is_claimed_by(claim))
    }

    fn account_named(&self, username: &str) -> bool {
        let Ok(username) = Username::parse(username) else {
            return false;
        };
        self.accounts
            .values()
            .any(|account| account.username.key() == username.key())
    }
}

#[async_trait]
impl OutboxStore for InMemoryStore {
    async fn claim_due(
        &self,
        now: OffsetDateTime,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<ClaimedEmail>, StoreError> {
        let mut state = lock(&self.state);
        let mut due: Vec<usize> = (0..state.outbox.len())
            .filter(|&i| {
                let row = &state.outbox[i];
                row.status == OutboxStatus::Queued
                    && row.due_at <= now
                    && EmailKind::NAMES.contains(&row.email.kind.as_str())
            })
            .collect();
        due.sort_by_key(|&i| state.outbox[i].created_seq);
        due.truncate(limit as usize);
        let mut claimed = Vec::with_capacity(due.len());
        for i in due {
            let row = &mut state.outbox[i];
            row.due_at = now + lease;
            row.claims += 1;
            let (claim, attempts, link_expires_at) =
                (row.claim(), row.attempts, row.link_expires_at);
            let (kind, read) = (row.email.kind.clone(), row.email.clone().into_email());
            claimed.push(match read {
                Ok(email) => Ok(QueuedEmail {
                    claim,
                    account_exists: state.account_named(email.username.as_str()),
                    email,
                    attempts,
                    link_expires_at,
                }),
                Err(error) => Err(UnreadableEmail { claim, kind, error }),
            });
        }
        Ok(claimed)
    }

    async fn mark_sent(&self, claim: OutboxClaim, now: OffsetDateTime) -> Result<bool, StoreError> {
        let mut state = lock(&self.state);
        let Some(row) = state.claimed_row(claim) else {
            return Ok(false);
        };
        row.finish(OutboxStatus::Sent, now, None);
        Ok(true)
    }

    async fn mark_retry(
        &self,
        claim: OutboxClaim,
        retry_at: OffsetDateTime,
        error: &str,
    ) -> Result<bool, StoreError> {
        let mut state = lock(&self.state);
        let Some(row) = state.claimed_row(claim) else {
            return Ok(false);
        };
        row.attempts += 1;
        row.due_at = retry_at;
        row.last_error = Some(error.to_owned());
        Ok(true)
    }

    async fn mark_failed(
        &self,
        claim: OutboxClaim,
        now: OffsetDateTime,
        error: &str,
    ) -> Result<bool, StoreError> {
        let mut state = lock(&self.state);
        let Some(row) = state.claimed_row(claim) else {
            return Ok(false);
        };
        row.finish(OutboxStatus::Failed, now, Some(error));
        Ok(true)
    }

    async fn pending_for(&self, username: &Username) -> Result<PendingEmails, StoreError> {
        let state = lock(&self.state);
        let queued: Vec<&OutboxRow> = state
            .outbox
            .iter()
            .filter(|row| {
                row.status == OutboxStatus::Queued
                    && Username::parse(&row.email.username).is_ok_and(|name| name == *username)
            })
            .collect();
        Ok(PendingEmails {
            count: queued.len() as u64,
            last_error: queued.iter().rev().find_map(|row| row.last_error.clone()),
        })
    }
}

/// The in-memory store's outbox faults for the contract suite
/// ("Adding a store", step 2): what raw SQL writes and reads on the
/// databases, straight on the store's state.
#[derive(Debug, Clone)]
pub struct RawOutbox(pub std::sync::Arc<InMemoryStore>);

#[async_trait]
impl crate::testing::contract::OutboxFaults for RawOutbox {
    async fn make_unreadable(&self, id: OutboxId) {
        let mut state = lock(&self.0.state);
        if let Some(row) = state.outbox.iter_mut().find(|row| row.id == id) {
            row.email.recipient = "not an address".to_owned();
        }
    }

    async fn queue_unknown_kind(&self, username: &str, now: OffsetDateTime) -> OutboxId {
        let mut state = lock(&self.0.state);
        state.next_outbox += 1;
        let id = OutboxId(i64::try_from(state.next_outbox).unwrap_or(i64::MAX));
        let created_seq = state.next_outbox;
        state.outbox.push(OutboxRow {
            id,
            email: StoredEmail {
                recipient: "office@clinic.example.org".to_owned(),
                username: username.to_owned(),
                kind: crate::testing::contract::UNKNOWN_KIND.to_owned(),
                token: None,
            },
            link_expires_at: None,
            status: OutboxStatus::Queued,
            claims: 0,
            attempts: 0,
            due_at: now,
            created_seq,
            finished_at: None,
            last_error: None,
        });
        id
    }

    async fn attempts(&self, id: OutboxId) -> u32 {
        let state = lock(&self.0.state);
        state
            .outbox
            .iter()
            .find(|row| row.id == id)
            .map_or(0, |row| row.attempts)
    }

    async fn last_error(&self, id: OutboxId) -> Option<String> {
        let state = lock(&self.0.state);
        state
            .outbox
            .iter()
            .find(|row| row.id == id)
            .and_then(|row| row.last_error.clone())
    }
}
