//! Registration flows and accounts: compare-and-set, case-insensitive usernames, one account per registrant, also under parallel registrations.

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

pub async fn accounts_are_found_case_insensitively<S: UserStore, R: ProviderRoster>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let created = seed_account(&s.store, "Dr.Doe", sample::jane_doe(), 1, T0).await;
    assert_eq!(created.username.as_str(), "Dr.Doe");
    assert!(!created.is_activated());
    let found = s
        .store
        .account_by_username(&username("dR.dOE"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, created);
    assert_eq!(
        s.store.account_by_id(created.id).await.unwrap(),
        Some(created.clone())
    );
    assert_eq!(
        s.store
            .account_by_registrant(&sample::jane_doe().registrant_key())
            .await
            .unwrap(),
        Some(created)
    );
    assert_eq!(
        s.store
            .account_by_username(&username("nobody"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        s.store
            .account_by_registrant(&sample::acme_group().registrant_key())
            .await
            .unwrap(),
        None
    );
}

pub async fn usernames_are_unique_case_insensitively<S: UserStore, R: ProviderRoster>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    seed_account(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    let flow = finished_flow(&s.store, flow_id(2, 2), sample::acme_group(), T0).await;
    let result = s
        .store
        .create_account(
            &flow,
            &new_account("DR.DOE", &sample::acme_group(), T0),
            &activation_link(2, T0),
            &email_to(&username("DR.DOE"), EmailKind::EmailVerification),
            &audit_of(AuditAction::AccountCreated, "new"),
        )
        .await;
    assert_eq!(result.err(), Some(CreateAccountError::UsernameTaken));
}

pub async fn one_account_per_registrant<S: UserStore, R: ProviderRoster>(s: &Subject<S, R>) {
    seed_roster(&s.roster).await;
    seed_account(&s.store, "first", sample::jane_doe(), 1, T0).await;
    let flow = finished_flow(&s.store, flow_id(2, 2), sample::jane_doe(), T0).await;
    let result = s
        .store
        .create_account(
            &flow,
            &new_account("second", &sample::jane_doe(), T0),
            &activation_link(2, T0),
            &email_to(&username("second"), EmailKind::EmailVerification),
            &audit_of(AuditAction::AccountCreated, "new"),
        )
        .await;
    assert_eq!(result.err(), Some(CreateAccountError::AlreadyRegistered));
    assert_eq!(
        s.store
            .account_by_username(&username("second"))
            .await
            .unwrap(),
        None,
        "nothing written"
    );
    // A group is keyed by (tax id, provider id): another provider is free.
    seed_account(&s.store, "group", sample::acme_group(), 3, T0).await;
}

pub async fn a_stale_flow_creates_nothing<S: UserStore + OutboxStore, R: ProviderRoster>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let flow = finished_flow(&s.store, flow_id(1, 1), sample::jane_doe(), T0).await;
    let user = username("dr.doe");
    let email = email_to(&user, EmailKind::Activation { token: token(1) });
    s.store
        .create_account(
            &flow,
            &new_account("dr.doe", &sample::jane_doe(), T0),
            &activation_link(1, T0),
            &email,
            &audit_of(AuditAction::AccountCreated, "new"),
        )
        .await
        .unwrap();
    // The same finished flow again (a racing duplicate of the step).
    let again = s
        .store
        .create_account(
            &flow,
            &new_account("other", &sample::acme_group(), T0),
            &activation_link(2, T0),
            &email,
            &audit_of(AuditAction::AccountCreated, "new"),
        )
        .await;
    assert_eq!(again.err(), Some(CreateAccountError::FlowConflict));
    assert_eq!(
        s.store
            .account_by_username(&username("other"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        drain(&s.store, T0).await.len(),
        1,
        "only the first activation email is queued"
    );
}

pub async fn account_creation_stores_token_and_queues_email<
    S: UserStore + OutboxStore,
    R: ProviderRoster,
>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let account = seed_account(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    let found = s
        .store
        .find_live_token(&token(1).hash(), TokenPurpose::Activation, at(1))
        .await
        .unwrap();
    assert_eq!(found.map(|a| a.id), Some(account.id));
    assert_eq!(
        s.store
            .find_live_token(&token(1).hash(), TokenPurpose::PasswordReset, at(1))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        s.store.pending_for(&account.username).await.unwrap().count,
        1
    );
    let emails = drain(&s.store, T0).await;
    assert_eq!(emails.len(), 1);
    assert_eq!(emails[0].kind.name(), "activation");
    assert_eq!(
        emails[0].kind.token().map(RawToken::hash),
        Some(token(1).hash()),
        "the link survives the outbox"
    );
    assert_eq!(emails[0].username, account.username);
}

pub async fn parallel_registrations_create_one_account<S: UserStore, R: ProviderRoster>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let provider = sample::jane_doe();
    let mut flows = Vec::new();
    for n in 0..20u8 {
        flows
            .push(finished_flow(&s.store, flow_id(u64::from(n), 0x77), provider.clone(), T0).await);
    }
    let attempts = flows.iter().enumerate().map(|(n, flow)| {
        let name = format!("user{n}");
        let n = u8::try_from(n).unwrap_or(0) + 100;
        let provider = provider.clone();
        async move {
            let user = username(&name);
            s.store
                .create_account(
                    flow,
                    &new_account(&name, &provider, T0),
                    &activation_link(n, T0),
                    &email_to(&user, EmailKind::Activation { token: token(n) }),
                    &audit_of(AuditAction::AccountCreated, "new"),
                )
                .await
        }
    });
    let results = join_all(attempts).await;
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Ok(_) | Err(CreateAccountError::AlreadyRegistered))),
        "{results:?}"
    );
}
