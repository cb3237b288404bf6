//! Logins, resets and resends naming 5,000-character strings.

use super::*;

pub(super) const LONG: usize = 5_000;
pub(super) const LONG_EACH: usize = 200;

// 5. Usernames of 5,000 characters at login, reset and resend.
pub(super) async fn long_usernames(out: &mut Outcome) -> Result<(), String> {
    out.setting(
        "PORTAL_RATE_LIMIT_PER_MINUTE=0 (default 30): 600 requests from one \
         address would otherwise mostly answer 429 and never reach the audit trail",
    );
    let service = Service::start("attack-long-usernames", &[])?;
    let base = service.base_url();
    let client = client(8)?;
    let mut tasks = Vec::new();
    for (route, want) in [
        ("/api/v1/sessions", 401),
        ("/api/v1/password-resets", 202),
        ("/api/v1/activations/resend", 202),
    ] {
        for worker in 0..4 {
            let client = client.clone();
            let url = format!("{base}{route}");
            tasks.push(tokio::spawn(async move {
                let mut answers = Vec::new();
                for i in (worker..LONG_EACH).step_by(4) {
                    // A different string each time, so that each would be
                    // a new name in the trail if it were kept whole.
                    let username = format!("{i:05}{}", "n".repeat(LONG - 5));
                    let body = if route == "/api/v1/sessions" {
                        login_body(&username, WRONG_PASSWORD)
                    } else {
                        json!({"username": username})
                    };
                    answers.push((route, want, post(&client, &url, &body, &[]).await));
                }
                answers
            }));
        }
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.extend(task.await.map_err(|e| format!("a request task: {e}"))?);
    }
    for route in [
        "/api/v1/sessions",
        "/api/v1/password-resets",
        "/api/v1/activations/resend",
    ] {
        let statuses: Vec<_> = answers
            .iter()
            .filter(|(r, _, _)| *r == route)
            .map(|(_, _, status)| *status)
            .collect();
        out.figure(format!("POST {route}: {}", show(&tally(&statuses))));
    }
    let wrong = answers
        .iter()
        .filter(|(_, want, status)| *status != Some(*want))
        .count();
    out.check(
        wrong == 0 && answers.len() == 3 * LONG_EACH,
        format!(
            "{} requests: logins 401, resets and resends 202 ({wrong} otherwise)",
            answers.len()
        ),
    );
    // Reset and resend record their event after the answer: wait for them.
    let mut events = Vec::new();
    let mut named = 0;
    for _ in 0..50 {
        events = audit(&service, &[])?;
        named = events
            .iter()
            .filter(|e| {
                e["username"]
                    .as_str()
                    .is_some_and(|u| u.chars().count() == 64)
            })
            .count();
        if named >= 3 * LONG_EACH {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let longest = events
        .iter()
        .filter_map(|e| e["username"].as_str())
        .map(|u| u.chars().count())
        .max()
        .unwrap_or(0);
    out.figure(format!(
        "audit list: {} events, {named} naming a 64-character prefix",
        events.len()
    ));
    out.check(
        longest <= 64,
        format!("the longest username in the audit trail has {longest} characters (at most 64)"),
    );
    out.check(
        named >= 3 * LONG_EACH,
        format!(
            "{named} of {} attempts are in the trail, cut to 64 characters",
            3 * LONG_EACH
        ),
    );
    Ok(())
}
