//! Failure paths of sessions: authentication, logout and re-accepting the
//! agreement.

use super::*;

// ---------------------------------------------------------------------------
// authenticate
// ---------------------------------------------------------------------------

pub(super) fn session(created_at: OffsetDateTime, last_seen_at: OffsetDateTime) -> Session {
    Session {
        token_hash: raw_token(5).hash(),
        account_id: AccountId::new(42),
        created_at,
        last_seen_at,
    }
}

/// The session and its account, as a store that does not keep the roster
/// reads them together.
fn owned(session: Session) -> Option<(Session, Account, ProviderRead)> {
    Some((session, active_account(), ProviderRead::Elsewhere))
}

fn session_found(fx: &mut Fx, found: Result<Option<(Session, Account, ProviderRead)>, StoreError>) {
    fx.store
        .expect_find_session()
        .withf(|hash| *hash == raw_token(5).hash())
        .times(1)
        .return_const(found);
}

/// A session seen a minute ago, its account and its provider, all fine.
fn live_session(fx: &mut Fx, account: Account) {
    let live = session(NOW - Duration::hours(1), NOW - Duration::minutes(1));
    session_found(fx, Ok(Some((live, account, ProviderRead::Elsewhere))));
}

async fn authenticate(fx: Fx) -> Result<Account, AuthError> {
    fx.build()
        .authenticate(raw_token(5).expose())
        .await
        .map(|auth| auth.account)
}

#[tokio::test]
async fn authenticate_malformed_token_is_unauthenticated_without_a_store_call() {
    let portal = Fx::new().build();
    assert_eq!(
        portal.authenticate("garbage").await.err(),
        Some(AuthError::Unauthenticated)
    );
}

#[tokio::test]
async fn authenticate_unknown_session_is_unauthenticated() {
    let mut fx = Fx::new();
    session_found(&mut fx, Ok(None));
    assert_eq!(authenticate(fx).await, Err(AuthError::Unauthenticated));
}

#[tokio::test]
async fn authenticate_store_error_finding_the_session_is_a_fault() {
    let mut fx = Fx::new();
    session_found(&mut fx, Err(down()));
    assert_eq!(
        authenticate(fx).await,
        Err(AuthError::Fault(Fault::Store(down())))
    );
}

#[tokio::test]
async fn authenticate_at_exactly_last_seen_plus_idle_is_unauthenticated_and_revokes() {
    let idle = PortalSettings::default().sessions.idle;
    let last_seen = NOW - idle;
    let mut fx = Fx::at(NOW);
    session_found(&mut fx, Ok(owned(session(last_seen, last_seen))));
    fx.store
        .expect_revoke_session()
        .withf(|hash| *hash == raw_token(5).hash())
        .times(1)
        .return_const(Ok(()));
    fx.store.expect_account_by_id().never();
    fx.store.expect_touch_session().never();
    assert_eq!(authenticate(fx).await, Err(AuthError::Unauthenticated));
}

#[tokio::test]
async fn authenticate_one_nanosecond_before_idle_expiry_is_live_and_touched() {
    let idle = PortalSettings::default().sessions.idle;
    let last_seen = NOW - idle;
    let now = NOW - nanos(1);
    let mut fx = Fx::at(now);
    session_found(&mut fx, Ok(owned(session(last_seen, last_seen))));
    fx.roster
        .expect_find()
        .return_const(Ok(Some(sample::jane_doe())));
    fx.store.expect_revoke_session().never();
    fx.store
        .expect_touch_session()
        .withf(move |_, at| *at == now)
        .times(1)
        .return_const(Ok(()));
    assert_eq!(authenticate(fx).await, Ok(active_account()));
}

#[tokio::test]
async fn authenticate_within_the_touch_interval_does_not_write() {
    let mut fx = Fx::at(NOW);
    let last_seen = NOW - Duration::seconds(30);
    session_found(
        &mut fx,
        Ok(owned(session(NOW - Duration::hours(1), last_seen))),
    );
    fx.roster
        .expect_find()
        .return_const(Ok(Some(sample::jane_doe())));
    fx.store.expect_touch_session().never();
    assert_eq!(authenticate(fx).await, Ok(active_account()));
}

#[tokio::test]
async fn authenticate_at_exactly_the_absolute_limit_is_unauthenticated() {
    let absolute = PortalSettings::default().sessions.absolute;
    let mut fx = Fx::at(NOW);
    session_found(
        &mut fx,
        Ok(owned(session(NOW - absolute, NOW - Duration::minutes(1)))),
    );
    fx.store
        .expect_revoke_session()
        .times(1)
        .return_const(Ok(()));
    fx.store.expect_touch_session().never();
    assert_eq!(authenticate(fx).await, Err(AuthError::Unauthenticated));
}

#[tokio::test]
async fn authenticate_store_error_revoking_an_expired_session_is_a_fault() {
    let mut fx = Fx::at(NOW);
    session_found(
        &mut fx,
        Ok(owned(session(
            NOW - Duration::days(1),
            NOW - Duration::days(1),
        ))),
    );
    fx.store.expect_revoke_session().return_const(Err(down()));
    assert_eq!(
        authenticate(fx).await,
        Err(AuthError::Fault(Fault::Store(down())))
    );
}

#[tokio::test]
async fn authenticate_disabled_account_is_unauthenticated() {
    let mut fx = Fx::new();
    live_session(
        &mut fx,
        Account {
            disabled: true,
            ..active_account()
        },
    );
    fx.store.expect_touch_session().never();
    assert_eq!(authenticate(fx).await, Err(AuthError::Unauthenticated));
}

#[tokio::test]
async fn authenticate_inactive_provider_is_unauthenticated() {
    let mut fx = Fx::new();
    live_session(&mut fx, active_account());
    fx.roster
        .expect_find()
        .return_const(Ok(Some(inactive(sample::jane_doe()))));
    fx.store.expect_touch_session().never();
    assert_eq!(authenticate(fx).await, Err(AuthError::Unauthenticated));
}

/// A live session whose provider entry the store read with it.
fn live_session_with(fx: &mut Fx, entry: Option<RosterEntry>) {
    let live = session(NOW - Duration::hours(1), NOW - Duration::minutes(1));
    let read = ProviderRead::WithAccount(entry);
    session_found(fx, Ok(Some((live, active_account(), read))));
    fx.roster.expect_find().never();
}

#[tokio::test]
async fn authenticate_uses_the_provider_read_with_the_session_without_asking_the_roster() {
    let mut fx = Fx::new();
    live_session_with(&mut fx, Some(sample::jane_doe()));
    fx.store
        .expect_touch_session()
        .times(1)
        .return_const(Ok(()));
    let auth = fx
        .build()
        .authenticate(raw_token(5).expose())
        .await
        .unwrap();
    assert_eq!(auth.provider, sample::jane_doe());
}

#[tokio::test]
async fn authenticate_provider_read_inactive_or_gone_with_the_session_is_unauthenticated() {
    for entry in [Some(inactive(sample::jane_doe())), None] {
        let mut fx = Fx::new();
        live_session_with(&mut fx, entry);
        fx.store.expect_touch_session().never();
        assert_eq!(authenticate(fx).await, Err(AuthError::Unauthenticated));
    }
}

#[tokio::test]
async fn authenticate_roster_error_is_a_fault() {
    let mut fx = Fx::new();
    live_session(&mut fx, active_account());
    fx.roster.expect_find().return_const(Err(down()));
    fx.store.expect_touch_session().never();
    assert_eq!(
        authenticate(fx).await,
        Err(AuthError::Fault(Fault::Store(down())))
    );
}

#[tokio::test]
async fn authenticate_store_error_touching_the_session_is_a_fault() {
    let mut fx = Fx::new();
    live_session(&mut fx, active_account());
    fx.roster
        .expect_find()
        .return_const(Ok(Some(sample::jane_doe())));
    fx.store.expect_touch_session().return_const(Err(down()));
    assert_eq!(
        authenticate(fx).await,
        Err(AuthError::Fault(Fault::Store(down())))
    );
}

// ---------------------------------------------------------------------------
// logout
// ---------------------------------------------------------------------------

#[tokio::test]
async fn logout_store_error_is_a_fault() {
    let mut fx = Fx::new();
    fx.store.expect_revoke_session().return_const(Err(down()));
    let result = fx.build().logout(raw_token(5).expose(), ctx()).await;
    assert_eq!(result, Err(Fault::Store(down())));
}

#[tokio::test]
async fn logout_malformed_token_succeeds_without_a_store_call() {
    let mut fx = Fx::new();
    fx.store.expect_revoke_session().never();
    assert_eq!(fx.build().logout("garbage", ctx()).await, Ok(()));
}

#[tokio::test]
async fn logout_audit_failure_does_not_fail_a_logout() {
    let mut fx = Fx::new();
    fx.audit_fails = true;
    let audit = fx.audit.clone();
    fx.store
        .expect_revoke_session()
        .withf(|hash| *hash == raw_token(5).hash())
        .times(1)
        .return_const(Ok(()));
    let result = fx.build().logout(raw_token(5).expose(), ctx()).await;
    assert_eq!(result, Ok(()));
    assert_eq!(
        audit.outcomes(),
        [(AuditAction::Logout, "success".to_owned())]
    );
}

// ---------------------------------------------------------------------------
// accept_current_agreement
// ---------------------------------------------------------------------------

pub(super) fn authenticated(account: Account) -> Authenticated {
    Authenticated {
        account,
        provider: sample::jane_doe(),
        session_hash: raw_token(5).hash(),
        session_expires_at: NOW + Duration::minutes(30),
        agreement_required: true,
        mfa_enrolment_required: false,
    }
}

async fn reaccept(fx: Fx, version: AgreementVersion) -> Result<(), AuthError> {
    fx.build()
        .accept_current_agreement(&authenticated(active_account()), &version, ctx())
        .await
}

#[tokio::test]
async fn reaccept_other_version_is_refused_and_records_nothing() {
    let mut fx = Fx::new();
    let audit = fx.audit.clone();
    fx.store.expect_record_agreement().never();
    assert_eq!(
        reaccept(fx, AgreementVersion::parse("0.9").unwrap()).await,
        Err(AuthError::AgreementNotAccepted)
    );
    assert_eq!(
        audit.outcomes(),
        [(
            AuditAction::AgreementReaccepted,
            "agreement_not_accepted".to_owned()
        )]
    );
}

#[tokio::test]
async fn reaccept_store_error_is_a_fault() {
    let mut fx = Fx::new();
    fx.store.expect_record_agreement().return_const(Err(down()));
    assert_eq!(
        reaccept(fx, AgreementVersion::sample()).await,
        Err(AuthError::Fault(Fault::Store(down())))
    );
}

#[tokio::test]
async fn reaccept_audit_failure_does_not_fail_a_recorded_acceptance() {
    let mut fx = Fx::new();
    fx.audit_fails = true;
    let expected = AgreementAcceptance {
        client_addr: ctx().client_addr,
        ..current_acceptance(NOW)
    };
    fx.store
        .expect_record_agreement()
        .withf(move |id, acceptance| *id == AccountId::new(42) && *acceptance == expected)
        .times(1)
        .return_const(Ok(()));
    assert_eq!(reaccept(fx, AgreementVersion::sample()).await, Ok(()));
}
