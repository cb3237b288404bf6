//! Failure paths of the access scope and the background purge.

use super::*;

// ---------------------------------------------------------------------------
// visible_providers
// ---------------------------------------------------------------------------

#[tokio::test]
async fn scope_roster_error_for_a_practitioner_is_a_fault() {
    let mut fx = Fx::new();
    fx.roster.expect_find().return_const(Err(down()));
    let result = fx.build().visible_providers(&active_account()).await;
    assert_eq!(result, Err(Fault::Store(down())));
}

#[tokio::test]
async fn scope_roster_error_for_a_group_is_a_fault() {
    let mut fx = Fx::new();
    fx.roster
        .expect_active_under_tax_id()
        .withf(|tax_id| tax_id.as_str() == "123456789")
        .times(1)
        .return_const(Err(down()));
    fx.roster.expect_find().never();
    let result = fx.build().visible_providers(&group_account()).await;
    assert_eq!(result, Err(Fault::Store(down())));
}

#[tokio::test]
async fn scope_practitioner_whose_entry_is_inactive_or_gone_sees_nothing() {
    for entry in [Some(inactive(sample::jane_doe())), None] {
        let mut fx = Fx::new();
        fx.roster.expect_find().return_const(Ok(entry));
        let result = fx.build().visible_providers(&active_account()).await;
        assert_eq!(result, Ok(Vec::<ProviderItem>::new()));
    }
}

#[tokio::test]
async fn scope_of_a_request_reuses_the_practitioners_authenticated_entry() {
    let mut fx = Fx::new();
    fx.roster.expect_find().never();
    fx.roster.expect_active_under_tax_id().never();
    let mut auth = authenticated(active_account());
    auth.agreement_required = false;
    let result = fx.build().visible_providers_of(&auth).await.unwrap();
    assert_eq!(result, vec![ProviderItem::from(sample::jane_doe())]);
}

#[tokio::test]
async fn scope_of_a_request_reads_a_groups_providers() {
    let mut fx = Fx::new();
    fx.roster
        .expect_active_under_tax_id()
        .times(1)
        .return_const(Ok(vec![sample::jane_doe()]));
    let result = fx
        .build()
        .visible_providers_of(&authenticated(group_account()))
        .await
        .unwrap();
    assert_eq!(result, vec![ProviderItem::from(sample::jane_doe())]);
}

// ---------------------------------------------------------------------------
// purge
// ---------------------------------------------------------------------------

#[tokio::test]
async fn purge_store_error_purging_stale_pending_accounts_is_a_fault() {
    let mut fx = Fx::new();
    fx.store
        .expect_purge_stale_pending()
        .withf(|cutoff| *cutoff == NOW - Duration::days(7))
        .times(1)
        .return_const(Err(down()));
    fx.store.expect_purge_expired().never();
    assert_eq!(fx.build().purge().await, Err(Fault::Store(down())));
}

#[tokio::test]
async fn purge_store_error_purging_expired_rows_is_a_fault() {
    let mut fx = Fx::new();
    fx.store
        .expect_purge_stale_pending()
        .return_const(Ok(Vec::new()));
    fx.store.expect_purge_expired().return_const(Err(down()));
    assert_eq!(fx.build().purge().await, Err(Fault::Store(down())));
}

#[tokio::test]
async fn purge_audit_failure_does_not_fail_a_purge() {
    let mut fx = Fx::new();
    fx.audit_fails = true;
    let audit = fx.audit.clone();
    let freed = vec!["dr.typo".to_owned(), "dr.other".to_owned()];
    fx.store
        .expect_purge_stale_pending()
        .return_const(Ok(freed.clone()));
    let counts = PurgeCounts {
        flows: 1,
        tokens: 2,
        sessions: 3,
        sent_emails: 4,
    };
    let sessions = PortalSettings::default().sessions;
    fx.store
        .expect_purge_expired()
        .withf(
            move |now, flows_before, sent_before, capped_since, idle, absolute| {
                *now == NOW
                    && *flows_before == NOW - Duration::hours(24)
                    && *sent_before == NOW - Duration::days(7)
                    && *capped_since == NOW - Duration::hours(1)
                    && *idle == sessions.idle
                    && *absolute == sessions.absolute
            },
        )
        .times(1)
        .return_const(Ok(counts));
    let report = fx.build().purge().await.unwrap();
    assert_eq!(report.stale_pending, freed);
    assert_eq!(report.expired, counts);
    let purged: Vec<_> = audit
        .events()
        .into_iter()
        .filter(|e| e.action == AuditAction::PendingAccountPurged)
        .filter_map(|e| e.username)
        .collect();
    assert_eq!(purged, freed);
}
