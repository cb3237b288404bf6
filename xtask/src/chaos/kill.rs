//! Scenario `kill`: `kill -9` of the service in the middle of registrations.

use super::*;

pub(super) async fn kill_mid_load(ctx: &Ctx) -> Result<Outcome, String> {
    let mut out = Outcome::default();
    let db = SharedDb::create(ctx, "kill")?;
    import_roster(ctx, "kill", &db.url, 3000)?;
    let sink = SmtpSink::start().await;
    let env = vec![
        ("DATABASE_URL".to_owned(), db.url.clone()),
        ("PORTAL_SMTP_URL".to_owned(), sink.url()),
    ];
    let mut service = Instance::start(ctx, "kill-first", &env).await?;
    let client = http_client()?;
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let client = client.clone();
        let bases = vec![service.base.clone()];
        let stop = stop.clone();
        tokio::spawn(
            async move { register_many(&client, bases, "kill", 3000, 6, Some(stop)).await },
        )
    };
    tokio::time::sleep(Duration::from_secs(4)).await;
    service.kill9()?;
    // The registrations in flight fail; no new one starts.
    stop.store(true, Ordering::SeqCst);
    let results = load.await.map_err(|e| e.to_string())?;
    let committed: Vec<&String> = results
        .iter()
        .filter(|(_, r)| r.is_ok())
        .map(|(u, _)| u)
        .collect();
    let refused = results.len() - committed.len();
    let delivered_before = sink.received().len();
    out.figure(format!(
        "killed after 4 s: {} registrations answered 201, {refused} failed (in flight at the kill, or refused before the clients stopped); {delivered_before} emails delivered before the kill",
        committed.len()
    ));

    for (check, sql) in HALF_CREATED {
        let count = psql_count(&db.url, sql)?;
        out.check(count == 0, format!("{check}: {count}"));
    }
    let accounts = psql_count(&db.url, "SELECT count(*) FROM accounts")?;
    let queued = psql_count(
        &db.url,
        "SELECT count(*) FROM email_outbox WHERE status = 'queued'",
    )?;
    out.figure(format!(
        "after the kill: {accounts} accounts, {queued} activation emails still queued"
    ));
    let with_email: BTreeSet<String> = psql(
        &db.url,
        "SELECT a.username FROM accounts a JOIN email_outbox o \
         ON lower(o.username) = lower(a.username) AND o.kind = 'activation' \
         AND o.status IN ('queued', 'sent')",
    )?
    .lines()
    .map(str::to_owned)
    .collect();
    let lost: Vec<_> = committed
        .iter()
        .filter(|u| !with_email.contains(**u))
        .collect();
    out.check(
        lost.is_empty(),
        format!(
            "registrations answered 201 without an account and a queued or sent email: {} {lost:?}",
            lost.len()
        ),
    );

    let restarted = now();
    let second = Instance::start(ctx, "kill-second", &env).await?;
    out.figure(format!(
        "restarted in {:.1} s",
        restarted.elapsed().as_secs_f64()
    ));
    let expected: BTreeSet<String> = psql(&db.url, "SELECT email FROM accounts")?
        .lines()
        .map(str::to_owned)
        .collect();
    // A claim by the killed worker hides its emails for the lease (2 min).
    let (took, counts) = await_emails(&sink, &expected, Duration::from_secs(200)).await;
    // The worker sends one email at a time: at most the one in flight at the
    // kill can have been sent and not marked, and so be sent again.
    report_deliveries(&mut out, &expected, &counts, 1, took, "after the restart");
    let unsent = psql_count(
        &db.url,
        "SELECT count(*) FROM email_outbox WHERE status <> 'sent'",
    )?;
    out.check(unsent == 0, format!("outbox rows not sent: {unsent}"));
    drop(second);
    Ok(out)
}

/// Checks that an account was created whole: each query counts violations.
const HALF_CREATED: [(&str, &str); 4] = [
    (
        "accounts without exactly one activation link",
        "SELECT count(*) FROM accounts a WHERE (SELECT count(*) FROM link_tokens t \
         WHERE t.account_id = a.id AND t.purpose = 'activation') <> 1",
    ),
    (
        "accounts without exactly one activation email",
        "SELECT count(*) FROM accounts a WHERE (SELECT count(*) FROM email_outbox o \
         WHERE lower(o.username) = lower(a.username) AND o.kind = 'activation') <> 1",
    ),
    (
        "finished registration flows minus accounts",
        "SELECT abs((SELECT count(*) FROM registration_flows WHERE state = 'finished') \
         - (SELECT count(*) FROM accounts))",
    ),
    (
        "emails of no account",
        "SELECT count(*) FROM email_outbox o WHERE NOT EXISTS \
         (SELECT 1 FROM accounts a WHERE lower(a.username) = lower(o.username))",
    ),
];
