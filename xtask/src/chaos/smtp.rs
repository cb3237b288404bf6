//! Scenario `smtp`: registrations while SMTP is down, delivery once it is up.

use super::*;

/// Registrations while nothing listens on the SMTP port; then a sink
/// listens there and every activation email must arrive exactly once.
pub(super) async fn smtp_down(ctx: &Ctx) -> Result<Outcome, String> {
    const REGISTRATIONS: usize = 30;
    let mut out = Outcome::default();
    let db = SharedDb::create(ctx, "smtp")?;
    import_roster(ctx, "smtp", &db.url, REGISTRATIONS)?;
    let mut sink = SmtpSink::start().await;
    // Nothing listens on the sink's port until `restart`.
    sink.stop().await;
    let env = vec![
        ("DATABASE_URL".to_owned(), db.url.clone()),
        ("PORTAL_SMTP_URL".to_owned(), sink.url()),
    ];
    let service = Instance::start(ctx, "smtp", &env).await?;
    let client = http_client()?;

    let results = register_many(
        &client,
        vec![service.base.clone()],
        "smtp",
        REGISTRATIONS,
        4,
        None,
    )
    .await;
    let answered = results.iter().filter(|(_, r)| r.is_ok()).count();
    for (username, result) in &results {
        if let Err(why) = result {
            out.figure(format!("{username}: {why}"));
        }
    }
    out.check(
        answered == REGISTRATIONS,
        format!("registrations answered 201 with SMTP down: {answered}/{REGISTRATIONS}"),
    );

    // Let the worker try (and fail) before the server comes up.
    let deadline = now() + Duration::from_secs(20);
    let mut tried = 0;
    while now() < deadline {
        tried = psql_count(
            &db.url,
            "SELECT count(*) FROM email_outbox WHERE status = 'queued' AND attempts > 0",
        )?;
        if tried >= REGISTRATIONS as i64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let attempts = psql_count(
        &db.url,
        "SELECT coalesce(sum(attempts), 0) FROM email_outbox",
    )?;
    out.check(
        tried == REGISTRATIONS as i64,
        format!(
            "emails queued and retried while SMTP was down: {tried} ({attempts} failed attempts)"
        ),
    );
    out.check(
        sink.received().is_empty(),
        "nothing delivered while SMTP was down",
    );

    sink.restart().await;
    let expected: BTreeSet<String> = results.iter().map(|(u, _)| email_of(u)).collect();
    let (took, counts) = await_emails(&sink, &expected, Duration::from_secs(150)).await;
    report_deliveries(
        &mut out,
        &expected,
        &counts,
        0,
        took,
        "after SMTP came back",
    );
    let unsent = psql_count(
        &db.url,
        "SELECT count(*) FROM email_outbox WHERE status <> 'sent'",
    )?;
    out.check(unsent == 0, format!("outbox rows not sent: {unsent}"));
    drop(service);
    Ok(out)
}
