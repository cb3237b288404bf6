//! Scenario `two-instances`: two services on one PostgreSQL database.

use super::*;

/// The lockout limit of the `two-instances` scenario: as many failures as
/// the burst, so that a single lost count leaves the account unlocked.
const LOCK_AFTER: usize = 50;

pub(super) async fn two_instances(ctx: &Ctx) -> Result<Outcome, String> {
    const REGISTRATIONS: usize = 40;
    let mut out = Outcome::default();
    let db = SharedDb::create(ctx, "two")?;
    import_roster(ctx, "two", &db.url, REGISTRATIONS + 2)?;
    let sink = SmtpSink::start().await;
    let env = vec![
        ("DATABASE_URL".to_owned(), db.url.clone()),
        ("PORTAL_SMTP_URL".to_owned(), sink.url()),
        (
            "PORTAL_LOCKOUT_MAX_FAILED".to_owned(),
            LOCK_AFTER.to_string(),
        ),
    ];
    let first = Instance::start(ctx, "two-a", &env).await?;
    let second = Instance::start(ctx, "two-b", &env).await?;
    let bases = vec![first.base.clone(), second.base.clone()];
    let client = http_client()?;

    // Lockout: `exact` gets exactly LOCK_AFTER wrong logins at once, `burst`
    // twice as many; both must end with LOCK_AFTER failures and one lock.
    let exact = "two.exact";
    let burst = "two.burst";
    register(&client, &bases, REGISTRATIONS, exact, None).await?;
    register(&client, &bases, REGISTRATIONS + 1, burst, None).await?;
    psql(
        &db.url,
        "UPDATE accounts SET activated_at = now() WHERE username IN ('two.exact', 'two.burst')",
    )?;
    for (username, attempts) in [(exact, LOCK_AFTER), (burst, 2 * LOCK_AFTER)] {
        let answers = wrong_logins(&client, &bases, username, attempts).await;
        let count = |code: u16| answers.iter().filter(|(s, _)| *s == Some(code)).count();
        let lock_ends: BTreeSet<&String> = answers.iter().filter_map(|(_, l)| l.as_ref()).collect();
        let (failed, locked) = account_lock(&db.url, username)?;
        let lock_events = psql_count(
            &db.url,
            &format!(
                "SELECT count(*) FROM audit_events WHERE event = 'account_locked' AND username = '{username}'"
            ),
        )?;
        out.figure(format!(
            "{username}: {attempts} parallel wrong logins over both instances: {} × 401, {} × 423, other {}",
            count(401),
            count(423),
            attempts - count(401) - count(423)
        ));
        out.check(
            count(401) == LOCK_AFTER - 1 && count(423) == attempts - (LOCK_AFTER - 1),
            format!(
                "{username}: {} answers 401 and the rest 423",
                LOCK_AFTER - 1
            ),
        );
        out.check(
            failed == LOCK_AFTER as i64 && locked,
            format!("{username}: failed_logins = {failed}, locked = {locked} (want {LOCK_AFTER}, locked)"),
        );
        out.check(
            lock_ends.len() == 1,
            format!(
                "{username}: distinct lock ends in the 423 answers: {}",
                lock_ends.len()
            ),
        );
        out.check(
            lock_events == 1,
            format!("{username}: account_locked audit events: {lock_events}"),
        );
    }
    let before = psql(
        &db.url,
        "SELECT locked_until FROM accounts WHERE username = 'two.exact'",
    )?;
    let again = wrong_logins(&client, &bases, exact, 10).await;
    let after = psql(
        &db.url,
        "SELECT locked_until FROM accounts WHERE username = 'two.exact'",
    )?;
    let (failed, _) = account_lock(&db.url, exact)?;
    out.check(
        again.iter().all(|(s, _)| *s == Some(423))
            && before == after
            && failed == LOCK_AFTER as i64,
        "10 more wrong logins during the lock: all 423, the lock and the count unchanged",
    );
    let shown = Command::new(&ctx.binary)
        .args(["account", "show", "--username", exact])
        .env_clear_portal()
        .envs(base_env(&db.url))
        .output()
        .map_err(|e| format!("account show: {e}"))?;
    let shown = String::from_utf8_lossy(&shown.stdout).into_owned();
    out.check(
        shown
            .lines()
            .any(|l| l.starts_with("state:") && l.trim_end().ends_with("locked")),
        "portal-http account show says locked",
    );

    // Emails: registrations spread over both instances (each step of a flow
    // on the other instance), delivered by both workers to one sink.
    let results = register_many(&client, bases.clone(), "two", REGISTRATIONS, 8, None).await;
    let answered = results.iter().filter(|(_, r)| r.is_ok()).count();
    out.check(
        answered == REGISTRATIONS,
        format!("registrations over both instances answered 201: {answered}/{REGISTRATIONS}"),
    );
    let mut expected: BTreeSet<String> = results.iter().map(|(u, _)| email_of(u)).collect();
    expected.insert(email_of(exact));
    expected.insert(email_of(burst));
    let (took, counts) = await_emails(&sink, &expected, Duration::from_secs(60)).await;
    report_deliveries(&mut out, &expected, &counts, 0, took, "from both workers");
    let sent = [first.sent_by_worker(), second.sent_by_worker()];
    out.figure(format!(
        "emails sent by instance a: {}, by instance b: {}",
        sent[0], sent[1]
    ));
    out.check(
        sent[0] + sent[1] == expected.len() as u64,
        format!(
            "the workers' sent counts add up to the emails: {} = {}",
            sent[0] + sent[1],
            expected.len()
        ),
    );
    drop((first, second));
    Ok(out)
}

/// `attempts` wrong logins for `username` at once, alternating instances:
/// each answer's status and, on 423, its `locked_until`.
async fn wrong_logins(
    client: &reqwest::Client,
    bases: &[String],
    username: &str,
    attempts: usize,
) -> Vec<(Option<u16>, Option<String>)> {
    let mut set = tokio::task::JoinSet::new();
    for attempt in 0..attempts {
        let client = client.clone();
        let url = format!("{}/api/v1/sessions", bases[attempt % bases.len()]);
        let body = json!({"username": username, "password": WRONG_PASSWORD});
        set.spawn(async move {
            let (status, body) = call(&client, &url, Some(&body), None, None).await;
            (status, body["locked_until"].as_str().map(str::to_owned))
        });
    }
    let mut answers = Vec::with_capacity(attempts);
    while let Some(answer) = set.join_next().await {
        answers.push(answer.unwrap_or((None, None)));
    }
    answers
}

/// `(failed_logins, locked_until is set)` of an account.
fn account_lock(url: &str, username: &str) -> Result<(i64, bool), String> {
    let row = psql(
        url,
        &format!(
            "SELECT failed_logins, locked_until IS NOT NULL FROM accounts WHERE username = '{username}'"
        ),
    )?;
    let (failed, locked) = row
        .split_once('|')
        .ok_or_else(|| format!("no account {username}: {row:?}"))?;
    Ok((failed.parse().unwrap_or(-1), locked == "t"))
}
