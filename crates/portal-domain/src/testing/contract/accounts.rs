//! The contract of [`Accounts`](crate::ports::Accounts): case-insensitive
//! usernames, one account per registrant (a pending one replaced), account
//! creation all at once, also under parallel registrations; agreements,
//! disabling.

use super::*;

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

/// A double-submitted account step: the second submission is told that
/// its flow moved on, not that its own account took the username.
pub async fn a_finished_flow_is_checked_before_the_username<S: UserStore, R: ProviderRoster>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let provider = sample::jane_doe();
    let flow = finished_flow(&s.store, flow_id(1, 0xd0), provider.clone(), T0).await;
    let user = username("dr.doe");
    let email = email_to(&user, EmailKind::Activation { token: token(1) });
    let created = audit_of(AuditAction::AccountCreated, "dr.doe");
    let account = new_account("dr.doe", &provider, T0);
    s.store
        .create_account(&flow, &account, &activation_link(1, T0), &email, &created)
        .await
        .unwrap();
    let twin = s
        .store
        .create_account(&flow, &account, &activation_link(2, T0), &email, &created)
        .await;
    assert_eq!(twin.err(), Some(CreateAccountError::FlowConflict));
    assert_eq!(events_of(&s.store, AuditAction::AccountCreated).await, 1);
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

pub async fn agreement_acceptance_is_recorded<S: UserStore, R: ProviderRoster>(s: &Subject<S, R>) {
    seed_roster(&s.roster).await;
    let account = seed_active(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    let newer = AgreementAcceptance {
        version: AgreementVersion::parse("2026-02").unwrap(),
        content_hash: "cd".repeat(32),
        accepted_at: at(5),
        client_addr: None,
    };
    s.store.record_agreement(account.id, &newer).await.unwrap();
    assert_eq!(stored_account(&s.store, account.id).await.agreement, newer);
}

pub async fn disabling_revokes_sessions_and_unlock_clears<S: UserStore, R: ProviderRoster>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let account = seed_active(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    let other = seed_active(&s.store, "group", sample::acme_group(), 2, T0).await;
    logged_in(&s.store, &account, 20, at(1)).await;
    logged_in(&s.store, &other, 21, at(1)).await;
    s.store.set_disabled(account.id, true).await.unwrap();
    assert!(stored_account(&s.store, account.id).await.disabled);
    assert_eq!(stored_session(&s.store, &token(20).hash()).await, None);
    assert!(stored_session(&s.store, &token(21).hash()).await.is_some());
    s.store.set_disabled(account.id, false).await.unwrap();
    assert!(!stored_account(&s.store, account.id).await.disabled);

    let policy = lockout(2, Duration::hours(24));
    failed_login(&s.store, account.id, at(2), policy)
        .await
        .unwrap();
    failed_login(&s.store, account.id, at(3), policy)
        .await
        .unwrap();
    s.store.clear_lock(account.id).await.unwrap();
    assert_eq!(
        stored_account(&s.store, account.id).await.lock,
        LockState::cleared()
    );
}
