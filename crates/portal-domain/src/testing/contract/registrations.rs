//! The contract of [`Registrations`](crate::ports::Registrations): flows round-
//! trip and compare-and-set by version.

use super::*;

pub async fn flows_round_trip_with_compare_and_set<S: UserStore, R>(s: &Subject<S, R>) {
    let flow =
        RegistrationFlow::start(flow_id(1, 1), sample::jane_doe(), T0, Duration::minutes(30));
    s.store.insert_flow(&flow).await.unwrap();
    assert_eq!(
        s.store.load_flow(&flow.id).await.unwrap(),
        Some(flow.clone())
    );
    assert!(
        s.store.insert_flow(&flow).await.is_err(),
        "a duplicate id is refused"
    );
    assert_eq!(s.store.load_flow(&flow_id(2, 1)).await.unwrap(), None);

    let accepted = flow
        .accept_agreement(acceptance(), at(60), Duration::minutes(30))
        .unwrap();
    s.store.update_flow(&accepted).await.unwrap();
    assert_eq!(
        s.store.load_flow(&flow.id).await.unwrap(),
        Some(accepted.clone())
    );
    // The same step again, from the stale version: refused, nothing changed.
    assert_eq!(
        s.store.update_flow(&accepted).await,
        Err(FlowUpdateError::Conflict)
    );
    assert_eq!(s.store.load_flow(&flow.id).await.unwrap(), Some(accepted));
}
