//! [`Registrations`] in memory.

use super::*;

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
