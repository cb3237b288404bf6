//! [`AuditLog`] on SQLite.

use super::*;

#[async_trait]
impl AuditLog for SqliteStore {
    async fn append_audit(&self, event: &AuditEvent) -> Result<(), StoreError> {
        insert_audit(&self.pool, event).await
    }

    async fn audit_page(
        &self,
        filter: &AuditFilter,
        after: Option<AuditCursor>,
        limit: u32,
    ) -> Result<Vec<(AuditCursor, AuditEvent)>, StoreError> {
        let mut query = QueryBuilder::<Sqlite>::new(
            "SELECT id, at, event, username, client_addr, outcome FROM audit_events WHERE 1",
        );
        if let Some(username) = &filter.username {
            query
                .push(" AND lower(username) = lower(")
                .push_bind(username.clone())
                .push(")");
        }
        if let Some(since) = filter.since {
            query.push(" AND at >= ").push_bind(Ts(since));
        }
        if let Some(after) = after {
            query
                .push(" AND (at, id) > (")
                .push_bind(Ts(after.at))
                .push(", ")
                .push_bind(after.seq)
                .push(")");
        }
        query
            .push(" ORDER BY at, id LIMIT ")
            .push_bind(i64::from(limit));
        let rows = query
            .build()
            .fetch_all(&self.pool)
            .await
            .map_err(op("list audit events"))?;
        rows.iter()
            .map(|row| {
                let event = rows::audit_event(row)?;
                let seq = row.try_get("id").map_err(op("read audit event"))?;
                Ok((AuditCursor { at: event.at, seq }, event))
            })
            .collect()
    }
}
