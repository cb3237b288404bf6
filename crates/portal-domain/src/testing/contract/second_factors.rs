//! The contract of [`SecondFactors`](crate::ports::SecondFactors): TOTP
//! secrets confirmed once with their recovery codes, steps, recovery codes
//! and challenges each accepted once (also racing), removal of everything.

use super::*;
use crate::second_factor::{FactorSummary, MfaChallenge, SealedSecret};

fn sealed(n: u8) -> SealedSecret {
    SealedSecret::from_stored(vec![n; 48])
}

fn codes(n: u8) -> Vec<TokenHash> {
    (0..10).map(|i| token(n.wrapping_add(i)).hash()).collect()
}

/// An active account with a confirmed TOTP factor (step 100) and the ten
/// recovery codes `codes(50)`.
async fn enrolled<S: UserStore + OutboxStore, R: ProviderRoster>(s: &Subject<S, R>) -> Account {
    seed_roster(&s.roster).await;
    let account = seed_active(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    assert!(
        s.store
            .start_totp_enrolment(account.id, &sealed(1), at(0))
            .await
            .unwrap()
    );
    let notice = email_to(
        &account.username,
        EmailKind::Notice(crate::email::SecurityNotice::FactorAdded(
            crate::email::SecondFactor::Totp,
        )),
    );
    let audit = audit_of(AuditAction::SecondFactorAdded, "dr.doe");
    assert!(
        s.store
            .confirm_totp(
                account.id,
                &sealed(1),
                100,
                &codes(50),
                &notice,
                &audit,
                at(1)
            )
            .await
            .unwrap()
    );
    account
}

pub async fn totp_is_confirmed_once_with_its_codes_notice_and_event<
    S: UserStore + OutboxStore,
    R: ProviderRoster,
>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let account = seed_active(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    assert!(!s.store.any_totp_secret().await.unwrap());
    let store = &s.store;
    assert!(
        store
            .start_totp_enrolment(account.id, &sealed(1), at(0))
            .await
            .unwrap()
    );
    // A second start replaces the unconfirmed secret.
    assert!(
        store
            .start_totp_enrolment(account.id, &sealed(2), at(0))
            .await
            .unwrap()
    );
    assert!(store.any_totp_secret().await.unwrap());
    let factor = store.totp_factor(account.id).await.unwrap().unwrap();
    assert_eq!(
        (factor.sealed, factor.confirmed, factor.last_step),
        (sealed(2), false, None)
    );
    assert_eq!(
        store.second_factors_of(account.id).await.unwrap(),
        FactorSummary::default(),
        "unconfirmed is no factor"
    );
    drain(store, at(1)).await;
    let notice = email_to(
        &account.username,
        EmailKind::Notice(crate::email::SecurityNotice::FactorAdded(
            crate::email::SecondFactor::Totp,
        )),
    );
    let audit = audit_of(AuditAction::SecondFactorAdded, "dr.doe");
    // The secret replaced is not the one confirmed.
    assert!(
        !store
            .confirm_totp(
                account.id,
                &sealed(1),
                7,
                &codes(50),
                &notice,
                &audit,
                at(1)
            )
            .await
            .unwrap()
    );
    assert!(
        store
            .confirm_totp(
                account.id,
                &sealed(2),
                7,
                &codes(50),
                &notice,
                &audit,
                at(1)
            )
            .await
            .unwrap()
    );
    assert!(
        !store
            .confirm_totp(
                account.id,
                &sealed(2),
                8,
                &codes(70),
                &notice,
                &audit,
                at(1)
            )
            .await
            .unwrap(),
        "confirmed once"
    );
    let factor = store.totp_factor(account.id).await.unwrap().unwrap();
    assert_eq!((factor.confirmed, factor.last_step), (true, Some(7)));
    assert_eq!(
        store.second_factors_of(account.id).await.unwrap(),
        FactorSummary {
            totp: true,
            recovery_codes_left: 10,
            passkeys: 0,
        }
    );
    assert!(
        !store
            .start_totp_enrolment(account.id, &sealed(3), at(2))
            .await
            .unwrap(),
        "a confirmed factor is not replaced by a start"
    );
    assert_eq!(
        drain(store, at(2))
            .await
            .iter()
            .map(|e| e.kind.name())
            .collect::<Vec<_>>(),
        vec!["factor_added_totp"]
    );
    let events = store.audit_events(&AuditFilter::default()).await.unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.action == AuditAction::SecondFactorAdded)
            .count(),
        1
    );
}

pub async fn totp_steps_are_accepted_once_and_only_forward<
    S: UserStore + OutboxStore,
    R: ProviderRoster,
>(
    s: &Subject<S, R>,
) {
    let account = enrolled(s).await;
    let store = &s.store;
    assert!(
        !store.accept_totp_step(account.id, 100).await.unwrap(),
        "the confirming step"
    );
    assert!(!store.accept_totp_step(account.id, 99).await.unwrap());
    assert!(store.accept_totp_step(account.id, 101).await.unwrap());
    assert!(
        !store.accept_totp_step(account.id, 101).await.unwrap(),
        "replayed"
    );
    assert!(store.accept_totp_step(account.id, 103).await.unwrap());
    assert!(
        !store.accept_totp_step(account.id, 102).await.unwrap(),
        "older"
    );
    // Racing uses of one step: exactly one is accepted.
    let results = join_all((0..16).map(|_| store.accept_totp_step(account.id, 200))).await;
    let accepted = results.into_iter().filter(|r| *r.as_ref().unwrap()).count();
    assert_eq!(accepted, 1);
    assert_eq!(
        store
            .totp_factor(account.id)
            .await
            .unwrap()
            .unwrap()
            .last_step,
        Some(200)
    );
    // No factor, or an unconfirmed one: nothing is accepted.
    let other = seed_active(store, "dr.roe", sample::john_roe(), 2, T0).await;
    assert!(!store.accept_totp_step(other.id, 5).await.unwrap());
    store
        .start_totp_enrolment(other.id, &sealed(9), at(0))
        .await
        .unwrap();
    assert!(!store.accept_totp_step(other.id, 5).await.unwrap());
}

pub async fn recovery_codes_are_used_once_also_racing<
    S: UserStore + OutboxStore,
    R: ProviderRoster,
>(
    s: &Subject<S, R>,
) {
    let account = enrolled(s).await;
    let store = &s.store;
    let code = token(50).hash();
    assert!(
        store
            .use_recovery_code(account.id, &code, at(5))
            .await
            .unwrap()
    );
    assert!(
        !store
            .use_recovery_code(account.id, &code, at(6))
            .await
            .unwrap(),
        "used"
    );
    assert!(
        !store
            .use_recovery_code(account.id, &token(49).hash(), at(6))
            .await
            .unwrap()
    );
    let other = seed_active(store, "dr.roe", sample::john_roe(), 2, T0).await;
    assert!(
        !store
            .use_recovery_code(other.id, &token(51).hash(), at(6))
            .await
            .unwrap(),
        "another account's code"
    );
    let racing = token(52).hash();
    let results =
        join_all((0..16).map(|_| store.use_recovery_code(account.id, &racing, at(7)))).await;
    assert_eq!(
        results.into_iter().filter(|r| *r.as_ref().unwrap()).count(),
        1
    );
    assert_eq!(
        store
            .second_factors_of(account.id)
            .await
            .unwrap()
            .recovery_codes_left,
        8
    );
}

pub async fn removal_takes_every_factor_and_challenge<
    S: UserStore + OutboxStore,
    R: ProviderRoster,
>(
    s: &Subject<S, R>,
) {
    let account = enrolled(s).await;
    let store = &s.store;
    let challenge = MfaChallenge::new(&token(90), account.id, &account.password_hash, at(10));
    store
        .create_mfa_challenge(&challenge, &account.password_hash, at(10))
        .await
        .unwrap();
    drain(store, at(10)).await;
    let notice = email_to(
        &account.username,
        EmailKind::Notice(crate::email::SecurityNotice::FactorRemoved(
            crate::email::SecondFactor::Totp,
        )),
    );
    let audit = audit_of(AuditAction::SecondFactorRemoved, "dr.doe");
    assert!(
        store
            .remove_second_factors(account.id, false, &notice, &audit, at(11))
            .await
            .unwrap()
    );
    assert_eq!(store.totp_factor(account.id).await.unwrap(), None);
    assert_eq!(
        store.second_factors_of(account.id).await.unwrap(),
        FactorSummary::default()
    );
    assert!(
        !store
            .use_recovery_code(account.id, &token(55).hash(), at(11))
            .await
            .unwrap()
    );
    assert_eq!(
        store.find_mfa_challenge(&challenge.hash).await.unwrap(),
        None
    );
    assert!(!store.any_totp_secret().await.unwrap());
    assert!(
        !store
            .remove_second_factors(account.id, false, &notice, &audit, at(12))
            .await
            .unwrap(),
        "nothing left to remove"
    );
    assert_eq!(
        drain(store, at(12))
            .await
            .iter()
            .map(|e| e.kind.name())
            .collect::<Vec<_>>(),
        vec!["factor_removed_totp"],
        "one notice, for the removal that removed something"
    );
    let events = store.audit_events(&AuditFilter::default()).await.unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.action == AuditAction::SecondFactorRemoved)
            .count(),
        1
    );
}

pub async fn challenges_are_spent_once_and_expire<S: UserStore + OutboxStore, R: ProviderRoster>(
    s: &Subject<S, R>,
) {
    let account = enrolled(s).await;
    let store = &s.store;
    let first = MfaChallenge::new(&token(90), account.id, &account.password_hash, at(0));
    assert_eq!(
        store
            .create_mfa_challenge(&first, &account.password_hash, at(0))
            .await
            .unwrap(),
        CredentialWrite::Applied
    );
    assert_eq!(
        store.find_mfa_challenge(&first.hash).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        store.find_mfa_challenge(&token(91).hash()).await.unwrap(),
        None
    );
    // At its expiry exactly, a challenge is no longer spent.
    assert!(
        !store
            .spend_mfa_challenge(&first.hash, first.expires_at)
            .await
            .unwrap()
    );
    // A newer challenge of the account drops the expired ones.
    let second = MfaChallenge::new(&token(92), account.id, &account.password_hash, at(400));
    store
        .create_mfa_challenge(&second, &account.password_hash, at(400))
        .await
        .unwrap();
    assert_eq!(store.find_mfa_challenge(&first.hash).await.unwrap(), None);
    let results = join_all((0..16).map(|_| store.spend_mfa_challenge(&second.hash, at(401)))).await;
    assert_eq!(
        results.into_iter().filter(|r| *r.as_ref().unwrap()).count(),
        1
    );
    assert_eq!(store.find_mfa_challenge(&second.hash).await.unwrap(), None);
    assert!(
        !store
            .spend_mfa_challenge(&second.hash, at(402))
            .await
            .unwrap(),
        "spent"
    );
}

pub async fn a_challenge_is_issued_only_while_unlocked_and_current<
    S: UserStore + OutboxStore,
    R: ProviderRoster,
>(
    s: &Subject<S, R>,
) {
    let account = enrolled(s).await;
    let store = &s.store;
    let challenge = MfaChallenge::new(&token(90), account.id, &account.password_hash, at(10));
    // The password verified is no longer the account's.
    assert_eq!(
        store
            .create_mfa_challenge(&challenge, &hash("an older one"), at(10))
            .await
            .unwrap(),
        CredentialWrite::Stale
    );
    // Another attempt set a lock while this one was verified.
    let policy = lockout(3, Duration::hours(24));
    for _ in 0..3 {
        failed_login(store, account.id, at(10), policy)
            .await
            .unwrap();
    }
    assert!(matches!(
        store
            .create_mfa_challenge(&challenge, &account.password_hash, at(11))
            .await
            .unwrap(),
        CredentialWrite::Locked { .. }
    ));
    assert_eq!(
        store.find_mfa_challenge(&challenge.hash).await.unwrap(),
        None
    );
    // Once the lock has ended, it is issued.
    assert_eq!(
        store
            .create_mfa_challenge(
                &challenge,
                &account.password_hash,
                at(10) + Duration::hours(25)
            )
            .await
            .unwrap(),
        CredentialWrite::Applied
    );
}
