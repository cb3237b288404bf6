//! Registration flows and accounts: compare-and-set, case-insensitive usernames, one account per registrant (a pending one replaced), also under parallel registrations.

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
    activate(&s.store, 1, "first").await;
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

/// Redeems activation token `n` of account `name`.
async fn activate<S: UserStore>(store: &S, n: u8, name: &str) -> Account {
    store
        .redeem_activation(
            &token(n).hash(),
            at(1),
            &email_to(&username(name), EmailKind::EmailVerification),
            &audit_of(AuditAction::AccountActivated, name),
        )
        .await
        .unwrap_or_else(|e| panic!("activate {name}: {e}"))
}

/// Creates an account for `provider` from a new flow (salt `0xb0`).
async fn register_again<S: UserStore>(
    store: &S,
    name: &str,
    provider: &RosterEntry,
    n: u8,
) -> Result<Account, CreateAccountError> {
    let flow = finished_flow(store, flow_id(u64::from(n), 0xb0), provider.clone(), at(10)).await;
    store
        .create_account(
            &flow,
            &new_account(name, provider, at(10)),
            &activation_link(n, at(10)),
            &email_to(&username(name), EmailKind::Activation { token: token(n) }),
            &AuditEvent {
                client_addr: Some(std::net::IpAddr::from([192, 0, 2, 9])),
                ..audit_of(AuditAction::AccountCreated, name)
            },
        )
        .await
}

/// SPEC §3 step 1: a pending account does not hold its provider. A newer
/// registration deletes it with its links and frees its username, and the
/// replacement is audited.
pub async fn a_pending_account_is_replaced_by_a_new_registration<
    S: UserStore + OutboxStore,
    R: ProviderRoster,
>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let mistyped = seed_account(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    let replacement = register_again(&s.store, "dr.jane", &sample::jane_doe(), 2)
        .await
        .unwrap();
    assert_ne!(replacement.id, mistyped.id);
    assert!(!replacement.is_activated());
    assert_eq!(s.store.account_by_id(mistyped.id).await.unwrap(), None);
    assert_eq!(
        s.store
            .account_by_registrant(&sample::jane_doe().registrant_key())
            .await
            .unwrap()
            .map(|a| a.id),
        Some(replacement.id),
        "one account per registrant"
    );
    // The old link is unknown now, in every state.
    assert_eq!(
        s.store
            .find_live_token(&token(1).hash(), TokenPurpose::Activation, at(11))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        s.store
            .account_by_issued_token(&token(1).hash(), TokenPurpose::Activation)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        s.store
            .redeem_activation(
                &token(1).hash(),
                at(11),
                &email_to(&username("dr.doe"), EmailKind::EmailVerification),
                &audit_of(AuditAction::AccountActivated, "dr.doe"),
            )
            .await
            .err(),
        Some(RedeemError::InvalidToken)
    );
    // The new one works.
    assert_eq!(activate(&s.store, 2, "dr.jane").await.id, replacement.id);
    // The old username is free.
    assert_eq!(
        s.store
            .account_by_username(&username("dr.doe"))
            .await
            .unwrap(),
        None
    );
    let other = seed_account(&s.store, "DR.DOE", sample::acme_group(), 3, at(20)).await;
    assert_eq!(other.username.as_str(), "DR.DOE");
    // Audited, with the old username and the new request's address.
    let replaced: Vec<AuditEvent> = s
        .store
        .audit_events(&AuditFilter::default())
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == AuditAction::PendingAccountReplaced)
        .collect();
    assert_eq!(replaced.len(), 1, "{replaced:?}");
    assert_eq!(replaced[0].username.as_deref(), Some("dr.doe"));
    assert_eq!(
        replaced[0].client_addr,
        Some(std::net::IpAddr::from([192, 0, 2, 9]))
    );
}

/// Registering again with the same username replaces the pending account
/// that holds it; a username held by another account is still taken, and
/// then nothing is replaced.
pub async fn a_replacement_may_keep_the_username_and_a_refused_one_replaces_nothing<
    S: UserStore,
    R: ProviderRoster,
>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let first = seed_account(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    seed_account(&s.store, "acme.office", sample::acme_group(), 2, T0).await;
    assert_eq!(
        register_again(&s.store, "ACME.office", &sample::jane_doe(), 3)
            .await
            .err(),
        Some(CreateAccountError::UsernameTaken)
    );
    assert_eq!(
        s.store.account_by_id(first.id).await.unwrap().map(|a| a.id),
        Some(first.id),
        "a refused registration replaces nothing"
    );
    assert!(
        s.store
            .find_live_token(&token(1).hash(), TokenPurpose::Activation, at(11))
            .await
            .unwrap()
            .is_some(),
        "its link still works"
    );
    let again = register_again(&s.store, "Dr.Doe", &sample::jane_doe(), 4)
        .await
        .unwrap();
    assert_eq!(again.username.as_str(), "Dr.Doe");
    assert_eq!(s.store.account_by_id(first.id).await.unwrap(), None);
}

/// An activated or a disabled account holds its provider: nothing replaces
/// it.
pub async fn activated_and_disabled_accounts_are_not_replaced<S: UserStore, R: ProviderRoster>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let active = seed_account(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    activate(&s.store, 1, "dr.doe").await;
    assert_eq!(
        register_again(&s.store, "dr.jane", &sample::jane_doe(), 2)
            .await
            .err(),
        Some(CreateAccountError::AlreadyRegistered)
    );
    assert!(s.store.account_by_id(active.id).await.unwrap().is_some());

    let disabled = seed_account(&s.store, "acme.office", sample::acme_group(), 3, T0).await;
    s.store.set_disabled(disabled.id, true).await.unwrap();
    assert_eq!(
        register_again(&s.store, "acme.new", &sample::acme_group(), 4)
            .await
            .err(),
        Some(CreateAccountError::AlreadyRegistered)
    );
    assert!(s.store.account_by_id(disabled.id).await.unwrap().is_some());
}

/// The account a token was issued to, whatever the token's state.
pub async fn issued_tokens_find_their_account_after_use<S: UserStore, R: ProviderRoster>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let account = seed_account(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    let hash = token(1).hash();
    let found = |purpose| s.store.account_by_issued_token(&hash, purpose);
    assert_eq!(
        found(TokenPurpose::Activation).await.unwrap().map(|a| a.id),
        Some(account.id)
    );
    assert_eq!(found(TokenPurpose::PasswordReset).await.unwrap(), None);
    activate(&s.store, 1, "dr.doe").await;
    let used = found(TokenPurpose::Activation).await.unwrap().unwrap();
    assert_eq!(used.id, account.id);
    assert!(used.is_activated(), "read as it is now");
    assert_eq!(
        s.store
            .account_by_issued_token(&token(9).hash(), TokenPurpose::Activation)
            .await
            .unwrap(),
        None
    );
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
    // Each may replace the pending account of one that committed before it
    // (SPEC §3 step 1), or be told that one committed meanwhile; either
    // way one account is left.
    assert!(results.iter().any(Result::is_ok), "{results:?}");
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Ok(_) | Err(CreateAccountError::AlreadyRegistered))),
        "{results:?}"
    );
    let left = s
        .store
        .account_by_registrant(&provider.registrant_key())
        .await
        .unwrap()
        .unwrap();
    let last_ok = results
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .filter(|a| a.id == left.id)
        .count();
    assert_eq!(last_ok, 1, "the one account left is one that was created");
    let replaced = results.iter().filter(|r| r.is_ok()).count() - 1;
    let audited = s
        .store
        .audit_events(&AuditFilter::default())
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == AuditAction::PendingAccountReplaced)
        .count();
    assert_eq!(audited, replaced, "every replaced account is audited");
}
