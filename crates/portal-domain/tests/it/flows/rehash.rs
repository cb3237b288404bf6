//! Rehashing a password stored with older Argon2 parameters at login.

use super::*;
use portal_domain::hashing::{Argon2Hasher, Argon2Settings};
use portal_domain::testing::SequentialTokens;
use std::sync::Arc;

#[tokio::test]
async fn a_hash_with_older_parameters_is_replaced_at_the_next_login() {
    let p = portal();
    let account = active_account(&p).await;
    assert!(account.password_hash.as_phc().contains("m=8,t=1,p=1"));
    // The operator raises the Argon2 parameters.
    let stronger = Argon2Settings {
        memory_kib: 64,
        iterations: 2,
        parallelism: 1,
    };
    let upgraded = Portal::new(
        p.store.clone(),
        p.roster.clone(),
        Arc::new(Argon2Hasher::new(stronger, None).unwrap()),
        p.clock.clone(),
        Arc::new(SequentialTokens::starting_at(1 << 40)),
        p.settings().clone(),
    );
    upgraded
        .login("dr.doe", sample::PASSWORD, CTX)
        .await
        .unwrap();
    let stored = p.store.account_by_id(account.id).await.unwrap().unwrap();
    assert!(
        stored.password_hash.as_phc().contains("m=64,t=2,p=1"),
        "{:?}",
        stored.password_hash.as_phc().get(..30)
    );
    // The new hash still verifies, on either portal.
    upgraded
        .login("dr.doe", sample::PASSWORD, CTX)
        .await
        .unwrap();
}
