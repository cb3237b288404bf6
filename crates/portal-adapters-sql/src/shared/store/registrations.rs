//! [`Registrations`] on either database.

use super::*;
use portal_adapters_sql::store::registrations as sql;

#[async_trait]
impl Registrations for Store {
    async fn insert_flow(&self, flow: &RegistrationFlow) -> Result<(), StoreError> {
        bind_flow(sqlx::query(sql::INSERT_FLOW), flow)
            .execute(&self.pool)
            .await
            .map_err(op("insert registration flow"))?;
        Ok(())
    }

    async fn load_flow(&self, id: &RegistrationId) -> Result<Option<RegistrationFlow>, StoreError> {
        let row = sqlx::query(sql::FLOW_BY_ID)
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(op("load registration flow"))?;
        row.as_ref().map(rows::flow).transpose()
    }

    async fn update_flow(&self, flow: &RegistrationFlow) -> Result<(), FlowUpdateError> {
        let mut conn = self.pool.acquire().await.map_err(op("acquire"))?;
        if compare_and_set_flow(&mut conn, flow).await? {
            Ok(())
        } else {
            Err(FlowUpdateError::Conflict)
        }
    }
}
