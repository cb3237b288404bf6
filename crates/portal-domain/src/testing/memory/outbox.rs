//! The in-memory [`OutboxStore`]: the queued emails live in the store's state,
//! beside the accounts whose changes queue them.

use super::*;

#[async_trait]
impl OutboxStore for InMemoryStore {
    async fn claim_due(
        &self,
        now: OffsetDateTime,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<QueuedEmail>, StoreError> {
        let mut state = lock(&self.state);
        let mut due: Vec<&mut OutboxRow> = state
            .outbox
            .iter_mut()
            .filter(|row| row.status == OutboxStatus::Queued && row.due_at <= now)
            .collect();
        due.sort_by_key(|row| row.created_seq);
        Ok(due
            .into_iter()
            .take(limit as usize)
            .map(|row| {
                row.due_at = now + lease;
                QueuedEmail {
                    id: row.id,
                    email: row.email.clone(),
                    attempts: row.attempts,
                }
            })
            .collect())
    }

    async fn mark_sent(&self, id: OutboxId, now: OffsetDateTime) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        if let Some(row) = state.outbox.iter_mut().find(|row| row.id == id) {
            row.status = OutboxStatus::Sent;
            row.finished_at = Some(now);
            row.attempts += 1;
        }
        Ok(())
    }

    async fn mark_retry(
        &self,
        id: OutboxId,
        retry_at: OffsetDateTime,
        error: &str,
    ) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        if let Some(row) = state
            .outbox
            .iter_mut()
            .find(|row| row.id == id && row.status == OutboxStatus::Queued)
        {
            row.attempts += 1;
            row.due_at = retry_at;
            row.last_error = Some(error.to_owned());
        }
        Ok(())
    }

    async fn mark_failed(
        &self,
        id: OutboxId,
        now: OffsetDateTime,
        error: &str,
    ) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        if let Some(row) = state.outbox.iter_mut().find(|row| row.id == id) {
            row.status = OutboxStatus::Failed;
            row.attempts += 1;
            row.finished_at = Some(now);
            row.last_error = Some(error.to_owned());
        }
        Ok(())
    }

    async fn pending_for(&self, username: &Username) -> Result<u64, StoreError> {
        let state = lock(&self.state);
        Ok(state
            .outbox
            .iter()
            .filter(|row| row.status == OutboxStatus::Queued && row.email.username == *username)
            .count() as u64)
    }
}
