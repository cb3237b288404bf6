//! The contract of [`AuditLog`](crate::ports::AuditLog): the trail read oldest
//! first, page by page; each change stores its own event with it.

use super::*;

pub async fn audit_events_are_listed_oldest_first<S: UserStore, R>(s: &Subject<S, R>) {
    let event = |t: i64, action: AuditAction, user: Option<&str>| AuditEvent {
        at: at(t),
        action,
        username: user.map(str::to_owned),
        client_addr: Some(std::net::IpAddr::from([198, 51, 100, 1])),
        outcome: AuditOutcome::Success,
    };
    s.store
        .append_audit(&event(20, AuditAction::LoginFailed, Some("Dr.Doe")))
        .await
        .unwrap();
    s.store
        .append_audit(&event(10, AuditAction::RegistrationStarted, None))
        .await
        .unwrap();
    s.store
        .append_audit(&event(30, AuditAction::LoginSucceeded, Some("other")))
        .await
        .unwrap();
    let all = s.store.audit_events(&AuditFilter::default()).await.unwrap();
    assert_eq!(
        all.iter().map(|e| e.at).collect::<Vec<_>>(),
        vec![at(10), at(20), at(30)]
    );
    assert_eq!(all[1], event(20, AuditAction::LoginFailed, Some("Dr.Doe")));
    let mine = s
        .store
        .audit_events(&AuditFilter {
            username: Some("dr.doe".to_owned()),
            since: None,
        })
        .await
        .unwrap();
    assert_eq!(mine.len(), 1);
    let recent = s
        .store
        .audit_events(&AuditFilter {
            username: None,
            since: Some(at(20)),
        })
        .await
        .unwrap();
    assert_eq!(recent.len(), 2);
}

/// A listing reads the trail page by page: every matching event once, in
/// order, also when several share one instant.
pub async fn audit_pages_cover_the_trail_once_in_order<S: UserStore, R>(s: &Subject<S, R>) {
    for n in 0..25_i64 {
        let event = AuditEvent {
            // Pairs of events share an instant.
            at: at(n / 2),
            action: AuditAction::LoginFailed,
            username: Some(if n % 5 == 0 { "other" } else { "dr.doe" }.to_owned()),
            client_addr: None,
            // Texts no build names: a store keeps and returns them as they are.
            outcome: AuditOutcome::Other(format!("event-{n:02}")),
        };
        s.store.append_audit(&event).await.unwrap();
    }
    let read_all = |filter: AuditFilter| {
        let store = &s.store;
        async move {
            let mut pages = Vec::new();
            let mut after = None;
            loop {
                let page = store.audit_page(&filter, after, 10).await.unwrap();
                assert!(page.len() <= 10);
                after = page.last().map(|(cursor, _)| *cursor);
                let outcomes: Vec<String> = page
                    .into_iter()
                    .map(|(_, e)| e.outcome.to_string())
                    .collect();
                let last_page = outcomes.len() < 10;
                pages.push(outcomes);
                if last_page {
                    return pages;
                }
            }
        }
    };
    let pages = read_all(AuditFilter::default()).await;
    assert_eq!(pages.len(), 3);
    let listed: Vec<String> = pages.concat();
    let expected: Vec<String> = (0..25).map(|n| format!("event-{n:02}")).collect();
    assert_eq!(listed, expected, "every event once, oldest first");
    let mine = read_all(AuditFilter {
        username: Some("DR.DOE".to_owned()),
        since: Some(at(3)),
    })
    .await
    .concat();
    let expected: Vec<String> = (6..25)
        .filter(|n| n % 5 != 0)
        .map(|n| format!("event-{n:02}"))
        .collect();
    assert_eq!(mine, expected);
}

/// Each change stores its audit event in its own transaction: the event
/// exists exactly when the change does.
pub async fn changes_store_their_audit_events_with_them<S: UserStore, R: ProviderRoster>(
    s: &Subject<S, R>,
) {
    seed_roster(&s.roster).await;
    let account = seed_active(&s.store, "dr.doe", sample::jane_doe(), 1, T0).await;
    assert_eq!(events_of(&s.store, AuditAction::AccountCreated).await, 1);
    assert_eq!(events_of(&s.store, AuditAction::AccountActivated).await, 1);
    let policy = lockout(2, Duration::hours(1));
    for t in 1..=3 {
        failed_login(&s.store, account.id, at(t), policy)
            .await
            .unwrap();
    }
    assert_eq!(
        events_of(&s.store, AuditAction::AccountLocked).await,
        1,
        "stored by the failure that set the lock, and by no other"
    );
    reset_password(&s.store, &account, hash("reset"), 30, at(4)).await;
    assert_eq!(
        events_of(&s.store, AuditAction::PasswordResetCompleted).await,
        1
    );
    change_password_to(&s.store, account.id, hash("changed"), 31, at(5)).await;
    assert_eq!(events_of(&s.store, AuditAction::PasswordChanged).await, 1);
}
