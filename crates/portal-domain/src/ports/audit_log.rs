//! [`AuditLog`]: the audit trail.

use async_trait::async_trait;

use super::StoreError;
use crate::audit::{AuditCursor, AuditEvent, AuditFilter};

/// The audit trail, append-only. Events that belong to a change are
/// stored by that change's own operation, in its transaction; this port
/// appends the others and reads the trail.
#[async_trait]
pub trait AuditLog: Send + Sync {
    async fn append_audit(&self, event: &AuditEvent) -> Result<(), StoreError>;

    /// Every matching event, oldest first, read page by page with
    /// [`AuditLog::audit_page`] (for tests and small trails; a listing
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
