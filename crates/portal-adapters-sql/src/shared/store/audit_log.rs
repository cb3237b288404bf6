//! [`AuditLog`] on either database.

use super::*;
use portal_adapters_sql::store::audit_log as sql;

#[async_trait]
impl AuditLog for Store {
    async fn append_audit(&self, event: &AuditEvent) -> Result<(), StoreError> {
        insert_audit(&self.pool, event).await
    }

    async fn audit_page(
        &self,
        filter: &AuditFilter,
        after: Option<AuditCursor>,
        limit: u32,
    ) -> Result<Vec<(AuditCursor, AuditEvent)>, StoreError> {
        let mut query = QueryBuilder::<Db>::new(sql::PAGE);
        if let Some(username) = &filter.username {
            query
                .push(sql::AND_USERNAME)
                .push_bind(username.clone())
                .push(sql::CLOSE);
        }
        if let Some(since) = filter.since {
            query.push(sql::AND_SINCE).push_bind(stamp(since));
        }
        if let Some(after) = after {
            query
                .push(sql::AND_AFTER)
                .push_bind(stamp(after.at))
                .push(sql::SEPARATOR)
                .push_bind(after.seq)
                .push(sql::CLOSE);
        }
        query.push(sql::ORDER_AND_LIMIT).push_bind(i64::from(limit));
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
