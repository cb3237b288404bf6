//! [`Registrations`] on PostgreSQL.

use super::*;

#[async_trait]
impl Registrations for PgStore {
    async fn insert_flow(&self, flow: &RegistrationFlow) -> Result<(), StoreError> {
        let mut query = QueryBuilder::<Postgres>::new(concat!(
            "INSERT INTO registration_flows (",
            flow_columns!(),
            ") VALUES "
        ));
        push_flow_values(&mut query, flow);
        query
            .build()
            .execute(&self.pool)
            .await
            .map_err(op("insert registration flow"))?;
        Ok(())
    }

    async fn load_flow(&self, id: &RegistrationId) -> Result<Option<RegistrationFlow>, StoreError> {
        let row = sqlx::query("SELECT * FROM registration_flows WHERE id = $1")
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
