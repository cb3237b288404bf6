//! [`AuditLog`] in memory.

use super::*;

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
