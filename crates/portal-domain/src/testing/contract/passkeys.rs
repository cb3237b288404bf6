//! The contract of [`Passkeys`](crate::ports::Passkeys): passkeys added with
//! their notice and event (once per credential id, up to a limit), renamed
//! and removed only by their account, uses recorded; ceremonies capped per
//! account, taken once (also racing) and only while live.

use super::*;
use crate::passkey::{
    CeremonyKind, CeremonyState, NewPasskey, PasskeyCeremony, PasskeyId, PasskeyName,
    StoredCredential,
};
use crate::second_factor::FactorSummary;

fn new_passkey(n: u8, name: &str) -> NewPasskey {
    NewPasskey {
        name: PasskeyName::parse(name).unwrap(),
        credential_id: vec![n; 16],
        credential: StoredCredential::from_stored(vec![n; 300]),
    }
}

fn ceremony(n: u8, account: AccountId, kind: CeremonyKind, now: OffsetDateTime) -> PasskeyCeremony {
    PasskeyCeremony::new(
        &token(n),
        account,
        kind,
        CeremonyState::from_stored(vec![n; 500]),
        now,
        None,
    )
}

fn notice(account: &Account, added: bool) -> Email {
    let factor = crate::email::SecondFactor::Passkey;
    email_to(
        &account.username,
        EmailKind::Notice(if added {
            crate::email::SecurityNotice::FactorAdded(factor)
        } else {
            crate::email::SecurityNotice::FactorRemoved(factor)
        }),
    )
}

async fn two_accounts<S: UserStore + OutboxStore, R: ProviderRoster>(
    s: &Subject<S, R>,
) -> (Account, Account) {
    seed_roster(&s.roster).await;
    let doe = seed_active(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    let roe = seed_active(&s.store, "dr.roe", sample::john_roe(), 2, T0).await;
    (doe, roe)
}

async fn add<S: UserStore + OutboxStore>(
    store: &S,
    account: &Account,
    passkey: &NewPasskey,
    now: OffsetDateTime,
) -> Option<PasskeyId> {
    let audit = audit_of(AuditAction::SecondFactorAdded, account.username.as_str());
    store
        .add_passkey(account.id, passkey, 3, &notice(account, true), &audit, now)
        .await
        .unwrap()
}

pub async fn passkeys_are_added_once_renamed_and_removed_by_their_account<
    S: UserStore + OutboxStore,
    R: ProviderRoster,
>(
    s: &Subject<S, R>,
) {
    let (doe, roe) = two_accounts(s).await;
    let store = &s.store;
    assert!(store.passkeys_of(doe.id).await.unwrap().is_empty());
    let laptop = add(store, &doe, &new_passkey(1, "Laptop"), at(1))
        .await
        .unwrap();
    let phone = add(store, &doe, &new_passkey(2, "Phone"), at(2))
        .await
        .unwrap();
    assert_ne!(laptop, phone);
    // A credential id is registered once, on any account.
    assert_eq!(
        add(store, &doe, &new_passkey(1, "Again"), at(3)).await,
        None
    );
    assert_eq!(
        add(store, &roe, &new_passkey(2, "Stolen"), at(3)).await,
        None
    );
    let listed = store.passkeys_of(doe.id).await.unwrap();
    assert_eq!(
        listed
            .iter()
            .map(|p| (p.id, p.name.as_str(), p.created_at, p.last_used_at))
            .collect::<Vec<_>>(),
        vec![
            (laptop, "Laptop", at(1), None),
            (phone, "Phone", at(2), None)
        ],
        "oldest first"
    );
    assert_eq!(listed[0].credential, new_passkey(1, "x").credential);
    assert_eq!(listed[0].credential_id, vec![1; 16]);
    assert_eq!(listed[0].account_id, doe.id);
    assert_eq!(
        store.second_factors_of(doe.id).await.unwrap(),
        FactorSummary {
            passkeys: 2,
            ..FactorSummary::default()
        }
    );
    // The limit (3 here).
    add(store, &doe, &new_passkey(3, "Key"), at(4))
        .await
        .unwrap();
    assert_eq!(
        add(store, &doe, &new_passkey(4, "Fourth"), at(5)).await,
        None
    );
    // Renamed and removed only by their account.
    let name = PasskeyName::parse("Work laptop").unwrap();
    assert!(!store.rename_passkey(roe.id, laptop, &name).await.unwrap());
    assert!(store.rename_passkey(doe.id, laptop, &name).await.unwrap());
    assert!(
        !store
            .rename_passkey(doe.id, PasskeyId::new(999_999), &name)
            .await
            .unwrap()
    );
    assert_eq!(
        store.passkeys_of(doe.id).await.unwrap()[0].name.as_str(),
        "Work laptop"
    );
    drain(store, at(6)).await;
    let removal = audit_of(AuditAction::SecondFactorRemoved, "dr.doe");
    assert!(
        !store
            .remove_passkey(roe.id, laptop, &notice(&roe, false), &removal, at(6))
            .await
            .unwrap()
    );
    assert!(
        store
            .remove_passkey(doe.id, laptop, &notice(&doe, false), &removal, at(6))
            .await
            .unwrap()
    );
    assert!(
        !store
            .remove_passkey(doe.id, laptop, &notice(&doe, false), &removal, at(7))
            .await
            .unwrap(),
        "removed once"
    );
    assert_eq!(
        drain(store, at(8))
            .await
            .iter()
            .map(|e| e.kind.name())
            .collect::<Vec<_>>(),
        vec!["factor_removed_passkey"]
    );
    let events = store.audit_events(&AuditFilter::default()).await.unwrap();
    let count = |action| events.iter().filter(|e| e.action == action).count();
    assert_eq!(
        (
            count(AuditAction::SecondFactorAdded),
            count(AuditAction::SecondFactorRemoved)
        ),
        (3, 1),
        "an event per change made, none for a refused one"
    );
    assert_eq!(store.passkeys_of(doe.id).await.unwrap().len(), 2);
    assert!(store.passkeys_of(roe.id).await.unwrap().is_empty());
}

pub async fn passkey_uses_are_recorded_with_the_updated_credential<
    S: UserStore + OutboxStore,
    R: ProviderRoster,
>(
    s: &Subject<S, R>,
) {
    let (doe, roe) = two_accounts(s).await;
    let store = &s.store;
    let id = add(store, &doe, &new_passkey(1, "Laptop"), at(1))
        .await
        .unwrap();
    assert!(
        store
            .record_passkey_use(doe.id, id, None, at(5))
            .await
            .unwrap()
    );
    let read = store.passkeys_of(doe.id).await.unwrap().remove(0);
    assert_eq!(
        (read.last_used_at, read.credential.clone()),
        (Some(at(5)), new_passkey(1, "x").credential)
    );
    let counted = StoredCredential::from_stored(vec![9; 310]);
    assert!(
        store
            .record_passkey_use(doe.id, id, Some(counted.clone()), at(6))
            .await
            .unwrap()
    );
    let read = store.passkeys_of(doe.id).await.unwrap().remove(0);
    assert_eq!((read.last_used_at, read.credential), (Some(at(6)), counted));
    assert!(
        !store
            .record_passkey_use(roe.id, id, None, at(7))
            .await
            .unwrap(),
        "another account's passkey"
    );
}

pub async fn ceremonies_are_taken_once_by_kind_while_live<
    S: UserStore + OutboxStore,
    R: ProviderRoster,
>(
    s: &Subject<S, R>,
) {
    let (doe, _) = two_accounts(s).await;
    let store = &s.store;
    let registration = ceremony(10, doe.id, CeremonyKind::Registration, at(0));
    assert!(
        store
            .start_passkey_ceremony(&registration, 5, at(0))
            .await
            .unwrap()
    );
    // Another kind's take finds nothing, and leaves it.
    assert_eq!(
        store
            .take_passkey_ceremony(&registration.hash, CeremonyKind::Authentication, at(1))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .take_passkey_ceremony(&token(11).hash(), CeremonyKind::Registration, at(1))
            .await
            .unwrap(),
        None
    );
    let taken = store
        .take_passkey_ceremony(&registration.hash, CeremonyKind::Registration, at(1))
        .await
        .unwrap();
    assert_eq!(taken, Some(registration.clone()));
    assert_eq!(
        store
            .take_passkey_ceremony(&registration.hash, CeremonyKind::Registration, at(2))
            .await
            .unwrap(),
        None,
        "single use"
    );
    // At its expiry exactly, a ceremony is no longer taken.
    let expiring = ceremony(12, doe.id, CeremonyKind::Authentication, at(0));
    assert!(
        store
            .start_passkey_ceremony(&expiring, 5, at(0))
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .take_passkey_ceremony(
                &expiring.hash,
                CeremonyKind::Authentication,
                expiring.expires_at
            )
            .await
            .unwrap(),
        None
    );
    // A second start with the same id (a login's retry) replaces it.
    let login = ceremony(13, doe.id, CeremonyKind::Authentication, at(10));
    assert!(
        store
            .start_passkey_ceremony(&login, 5, at(10))
            .await
            .unwrap()
    );
    let again = PasskeyCeremony {
        state: CeremonyState::from_stored(vec![99; 40]),
        ..login.clone()
    };
    assert!(
        store
            .start_passkey_ceremony(&again, 5, at(11))
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .take_passkey_ceremony(&login.hash, CeremonyKind::Authentication, at(12))
            .await
            .unwrap()
            .map(|c| c.state),
        Some(again.state)
    );
}

pub async fn ceremonies_are_capped_per_account_and_expired_ones_dropped<
    S: UserStore + OutboxStore,
    R: ProviderRoster,
>(
    s: &Subject<S, R>,
) {
    let (doe, roe) = two_accounts(s).await;
    let store = &s.store;
    for n in 20..25 {
        let c = ceremony(n, doe.id, CeremonyKind::Registration, at(0));
        assert!(store.start_passkey_ceremony(&c, 5, at(0)).await.unwrap());
    }
    let sixth = ceremony(25, doe.id, CeremonyKind::Registration, at(1));
    assert!(
        !store
            .start_passkey_ceremony(&sixth, 5, at(1))
            .await
            .unwrap(),
        "the sixth live ceremony is refused"
    );
    assert_eq!(
        store
            .take_passkey_ceremony(&sixth.hash, CeremonyKind::Registration, at(2))
            .await
            .unwrap(),
        None,
        "and not stored"
    );
    // Another account has its own cap.
    let other = ceremony(26, roe.id, CeremonyKind::Registration, at(1));
    assert!(
        store
            .start_passkey_ceremony(&other, 5, at(1))
            .await
            .unwrap()
    );
    // Once the first five expired, they are dropped and no longer count.
    let later = at(0) + crate::passkey::CEREMONY_TTL + Duration::seconds(1);
    let fresh = ceremony(27, doe.id, CeremonyKind::Registration, later);
    assert!(
        store
            .start_passkey_ceremony(&fresh, 5, later)
            .await
            .unwrap()
    );
    for n in 20..25 {
        assert_eq!(
            store
                .take_passkey_ceremony(&token(n).hash(), CeremonyKind::Registration, at(1))
                .await
                .unwrap(),
            None,
            "dropped"
        );
    }
    // Racing starts never pass the cap.
    let racing: Vec<_> = (30..46)
        .map(|n| ceremony(n, roe.id, CeremonyKind::Registration, at(2)))
        .collect();
    let results = join_all(
        racing
            .iter()
            .map(|c| store.start_passkey_ceremony(c, 5, at(2))),
    )
    .await;
    assert_eq!(
        results.into_iter().filter(|r| *r.as_ref().unwrap()).count(),
        4,
        "one was stored already"
    );
}

pub async fn racing_finishes_take_a_ceremony_once<S: UserStore + OutboxStore, R: ProviderRoster>(
    s: &Subject<S, R>,
) {
    let (doe, _) = two_accounts(s).await;
    let store = &s.store;
    let c = ceremony(50, doe.id, CeremonyKind::Registration, at(0));
    assert!(store.start_passkey_ceremony(&c, 5, at(0)).await.unwrap());
    let results = join_all(
        (0..16).map(|_| store.take_passkey_ceremony(&c.hash, CeremonyKind::Registration, at(1))),
    )
    .await;
    assert_eq!(
        results
            .into_iter()
            .filter(|r| r.as_ref().unwrap().is_some())
            .count(),
        1
    );
}

pub async fn a_reset_removes_passkeys_and_their_ceremonies<
    S: UserStore + OutboxStore,
    R: ProviderRoster,
>(
    s: &Subject<S, R>,
) {
    let (doe, roe) = two_accounts(s).await;
    let store = &s.store;
    add(store, &doe, &new_passkey(1, "Laptop"), at(1))
        .await
        .unwrap();
    add(store, &roe, &new_passkey(2, "Phone"), at(1))
        .await
        .unwrap();
    let c = ceremony(60, doe.id, CeremonyKind::Registration, at(1));
    assert!(store.start_passkey_ceremony(&c, 5, at(1)).await.unwrap());
    drain(store, at(2)).await;
    let audit = audit_of(AuditAction::SecondFactorsReset, "dr.doe");
    // Removing the TOTP factor alone leaves passkeys (and finds nothing).
    assert!(
        !store
            .remove_second_factors(doe.id, false, &notice(&doe, false), &audit, at(2))
            .await
            .unwrap()
    );
    assert_eq!(store.passkeys_of(doe.id).await.unwrap().len(), 1);
    assert!(
        store
            .remove_second_factors(doe.id, true, &notice(&doe, false), &audit, at(3))
            .await
            .unwrap()
    );
    assert!(store.passkeys_of(doe.id).await.unwrap().is_empty());
    assert_eq!(
        store.second_factors_of(doe.id).await.unwrap(),
        FactorSummary::default()
    );
    assert_eq!(
        store
            .take_passkey_ceremony(&c.hash, CeremonyKind::Registration, at(3))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.passkeys_of(roe.id).await.unwrap().len(),
        1,
        "only its own"
    );
    assert_eq!(drain(store, at(4)).await.len(), 1);
}
