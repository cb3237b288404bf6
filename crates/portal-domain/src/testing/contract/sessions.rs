//! The contract of [`Sessions`](crate::ports::Sessions): sessions found,
//! touched forward, revoked.

use super::*;

pub async fn sessions_touch_forward_and_revoke<S: UserStore, R: ProviderRoster>(s: &Subject<S, R>) {
    seed_roster(&s.roster).await;
    let account = seed_active(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    let session = session_for(&account, 9, at(0));
    s.store
        .record_login_success(
            account.id,
            &session,
            &account.password_hash,
            None,
            &login_audit(),
        )
        .await
        .unwrap();
    s.store
        .touch_session(&session.token_hash, at(100))
        .await
        .unwrap();
    s.store
        .touch_session(&session.token_hash, at(50))
        .await
        .unwrap();
    let (touched, owner, _) = s
        .store
        .find_session(&session.token_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(owner.id, account.id);
    assert_eq!(touched.last_seen_at, at(100), "never moves back");
    assert_eq!(touched.created_at, at(0));
    s.store.revoke_session(&session.token_hash).await.unwrap();
    assert_eq!(stored_session(&s.store, &session.token_hash).await, None);
    s.store.revoke_session(&session.token_hash).await.unwrap();
    assert_eq!(stored_session(&s.store, &token(77).hash()).await, None);
}
