//! Racing the right password against wrong ones.

use super::*;

// 1. The right password racing wrong ones (SPEC §4: "it cannot be raced").
pub(super) async fn racing(out: &mut Outcome) -> Result<(), String> {
    out.setting(
        "PORTAL_HASH_WORKERS=1 (default: the number of cores), so that the ten \
         wrong passwords wait in one hashing queue and the right one is verified \
         after the lock is set",
    );
    let service = Service::start(
        "attack-racing",
        &[
            ("PORTAL_HASH_WORKERS", "1"),
            ("PORTAL_RATE_LIMIT_PER_MINUTE", DEFAULT_RATE_LIMIT),
        ],
    )?;
    let username = "race.victim";
    service.register_account(PROVIDERS[0], username, PASSWORD)?;
    let client = client(16)?;
    let url = format!("{}/api/v1/sessions", service.base_url());
    let wrong_body = login_body(username, WRONG_PASSWORD);
    let right_body = login_body(username, PASSWORD);
    let wrong = futures_join_all((0..10).map(|_| post(&client, &url, &wrong_body, &[])));
    let right = async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        post(&client, &url, &right_body, &[]).await
    };
    let (wrong, right) = tokio::join!(wrong, right);
    let counts = tally(&wrong);
    out.figure(format!("ten wrong passwords: {}", show(&counts)));
    out.check(
        right == Some(423),
        format!(
            "the right password 20 ms later answers {} (want 423)",
            code(right)
        ),
    );
    let unauthorized = counts.get(&401).copied().unwrap_or(0);
    out.check(
        unauthorized <= 4,
        format!("{unauthorized} wrong passwords answered 401 (at most 4)"),
    );
    out.check(
        wrong.iter().all(|s| matches!(s, Some(401 | 423))),
        "every wrong password answered 401 or 423",
    );
    let again = post(&client, &url, &right_body, &[]).await;
    out.check(
        again == Some(423),
        format!(
            "the right password again answers {} (want 423: still locked)",
            code(again)
        ),
    );
    let events = audit(&service, &["--username", username])?;
    let locks = events
        .iter()
        .filter(|e| e["event"] == "account_locked")
        .count();
    out.check(
        locks == 1,
        format!(
            "`audit list --username {username}` shows {locks} account_locked event(s) (want 1)"
        ),
    );
    Ok(())
}

/// All of `futures`, polled together on this task (they may borrow), in
/// order: `join_all` without the futures crate.
pub(super) async fn futures_join_all<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future,
{
    let mut pinned: Vec<_> = futures.map(Box::pin).collect();
    let mut results: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, result) in pinned.iter_mut().zip(results.iter_mut()) {
            if result.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *result = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    results.into_iter().flatten().collect()
}
