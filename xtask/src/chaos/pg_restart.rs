//! Scenario `pg-restart`: PostgreSQL stopped and started again under load.

use super::*;

/// How long the database stays down in the `pg-restart` scenario.
const PG_DOWN_FOR: Duration = Duration::from_secs(3);
/// 5xx answers allowed to requests sent in the first second after the
/// database is back (connections broken by the restart, found out once).
const FIRST_SECOND_5XX: usize = 5;

pub(super) async fn pg_restart(ctx: &Ctx) -> Result<Outcome, String> {
    let mut out = Outcome::default();
    let cluster = PgCluster::create(&ctx.work)?;
    let url = cluster.url();
    import_roster(ctx, "pg", &url, 6000)?;
    let env = vec![
        ("DATABASE_URL".to_owned(), url.clone()),
        (
            "PORTAL_MAIL_DIR".to_owned(),
            ctx.work.join("pg-mail").display().to_string(),
        ),
    ];
    let mut service = Instance::start(ctx, "pg-restart", &env).await?;
    let client = http_client()?;
    // The account that logs in throughout: provider 0, activated directly.
    register(&client, &[service.base.clone()], 0, "pg.login", None).await?;
    psql(
        &url,
        "UPDATE accounts SET activated_at = now() WHERE username = 'pg.login'",
    )?;

    let recorder = Recorder::new();
    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicUsize::new(1));
    let committed = Arc::new(Mutex::new(Vec::new()));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let (client, base, recorder, stop, next, committed) = (
            client.clone(),
            service.base.clone(),
            recorder.clone(),
            stop.clone(),
            next.clone(),
            committed.clone(),
        );
        workers.spawn(async move {
            let bases = [base.clone()];
            while !stop.load(Ordering::SeqCst) {
                let index = next.fetch_add(1, Ordering::SeqCst);
                let username = format!("pg.{index:05}");
                if register(&client, &bases, index, &username, Some(&recorder))
                    .await
                    .is_ok()
                {
                    lock(&committed).push(username);
                }
                let login = json!({"username": "pg.login", "password": PASSWORD});
                let (status, body) = call(
                    &client,
                    &format!("{base}/api/v1/sessions"),
                    Some(&login),
                    None,
                    Some((&recorder, "login")),
                )
                .await;
                if status == Some(201)
                    && let Some(token) = body["token"].as_str()
                {
                    call(
                        &client,
                        &format!("{base}/api/v1/me"),
                        None,
                        Some(token),
                        Some((&recorder, "me")),
                    )
                    .await;
                }
            }
        });
    }
    let ready = Recorder::new_at(recorder.t0);
    {
        let (client, base, ready, stop) = (
            client.clone(),
            service.base.clone(),
            ready.clone(),
            stop.clone(),
        );
        workers.spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let _ = get(&client, &format!("{base}/readyz"), Some((&ready, "readyz"))).await;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
    }

    tokio::time::sleep(Duration::from_secs(3)).await;
    let down_at = recorder.t0.elapsed();
    let stopping = cluster.clone_handle();
    tokio::task::spawn_blocking(move || stopping.stop_fast())
        .await
        .map_err(|e| e.to_string())??;
    let stopped_at = recorder.t0.elapsed();
    tokio::time::sleep(PG_DOWN_FOR).await;
    let starting = cluster.clone_handle();
    tokio::task::spawn_blocking(move || starting.start())
        .await
        .map_err(|e| e.to_string())??;
    let back_at = recorder.t0.elapsed();
    tokio::time::sleep(Duration::from_secs(8)).await;
    stop.store(true, Ordering::SeqCst);
    while workers.join_next().await.is_some() {}
    let end = recorder.t0.elapsed();

    let samples = recorder.samples();
    let readyz = ready.samples();
    out.figure(format!(
        "PostgreSQL stopped at {:.1} s (fast shutdown took {:.1} s), started at {:.1} s, run ended at {:.1} s",
        down_at.as_secs_f64(),
        (stopped_at - down_at).as_secs_f64(),
        back_at.as_secs_f64(),
        end.as_secs_f64()
    ));
    out.figure(format!(
        "requests: {} ({} registrations committed)",
        samples.len(),
        lock(&committed).len()
    ));
    let by_status = |from: Duration, to: Duration| {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for sample in samples.iter().filter(|s| s.sent >= from && s.sent < to) {
            let key = sample
                .status
                .map_or_else(|| "no answer".to_owned(), |s| s.to_string());
            *counts.entry(key).or_default() += 1;
        }
        counts
    };
    out.figure(format!(
        "answers to requests sent before the stop: {:?}",
        by_status(Duration::ZERO, down_at)
    ));
    out.figure(format!(
        "answers to requests sent during the outage: {:?}",
        by_status(down_at, back_at)
    ));
    out.figure(format!(
        "answers to requests sent after the start: {:?}",
        by_status(back_at, end)
    ));

    // /readyz: 200 before, 503 during, 200 after.
    let first_503 = readyz
        .iter()
        .find(|s| s.sent >= down_at && s.status == Some(503));
    let ready_again = first_503.and_then(|down| {
        readyz
            .iter()
            .find(|s| s.sent > down.sent && s.status == Some(200))
    });
    out.check(
        readyz
            .iter()
            .filter(|s| s.done < down_at)
            .all(|s| s.status == Some(200)),
        "/readyz answered 200 before the stop",
    );
    match (first_503, ready_again) {
        (Some(down), Some(up)) => out.check(
            true,
            format!(
                "/readyz showed the outage: 503 from {:.1} s, 200 again from {:.1} s ({:.1} s after the start)",
                down.sent.as_secs_f64(),
                up.done.as_secs_f64(),
                up.done.as_secs_f64() - back_at.as_secs_f64()
            ),
        ),
        (None, _) => out.check(false, "/readyz never answered 503 during the outage"),
        (Some(_), None) => out.check(false, "/readyz did not answer 200 again"),
    }
    out.check(
        readyz.last().is_some_and(|s| s.status == Some(200)),
        "/readyz answers 200 at the end",
    );

    let server_errors = samples.iter().filter(|s| s.status == Some(500)).count();
    out.check(
        server_errors == 0,
        format!("500 answers, at any time: {server_errors}"),
    );
    let unanswered = samples.iter().filter(|s| s.status.is_none()).count();
    out.check(
        unanswered == 0,
        format!("requests without an answer: {unanswered}"),
    );
    let is_5xx = |s: &&Sample| s.status.is_some_and(|code| code >= 500);
    let first_second = samples
        .iter()
        .filter(|s| s.sent >= back_at && s.sent < back_at + Duration::from_secs(1))
        .filter(is_5xx)
        .count();
    let second_second = samples
        .iter()
        .filter(|s| {
            s.sent >= back_at + Duration::from_secs(1) && s.sent < back_at + Duration::from_secs(2)
        })
        .filter(is_5xx)
        .count();
    let later = samples
        .iter()
        .filter(|s| s.sent >= back_at + Duration::from_secs(2))
        .filter(is_5xx)
        .count();
    out.check(
        first_second <= FIRST_SECOND_5XX,
        format!(
            "5xx to requests sent in the first second after the start: {first_second} (at most {FIRST_SECOND_5XX})"
        ),
    );
    out.figure(format!(
        "5xx to requests sent in the second second: {second_second}"
    ));
    out.check(
        later == 0,
        format!("5xx to requests sent 2 s or more after the start: {later}"),
    );
    let recovered = samples
        .iter()
        .filter(|s| s.sent >= back_at && s.status.is_some_and(|c| (200..300).contains(&c)))
        .min_by_key(|s| s.done);
    match recovered {
        Some(first) => out.check(
            true,
            format!(
                "the service recovered without a restart: first 2xx {:.2} s after the start",
                first.done.as_secs_f64() - back_at.as_secs_f64()
            ),
        ),
        None => out.check(false, "no 2xx answer after the database came back"),
    }
    out.check(service.running(), "the service process kept running");

    let committed = lock(&committed).clone();
    let stored: BTreeSet<String> = psql(&url, "SELECT username FROM accounts")?
        .lines()
        .map(str::to_owned)
        .collect();
    let lost: Vec<_> = committed.iter().filter(|u| !stored.contains(*u)).collect();
    out.check(
        lost.is_empty(),
        format!(
            "registrations answered 201 and missing from the database: {} of {} {lost:?}",
            lost.len(),
            committed.len()
        ),
    );
    drop(service);
    drop(cluster);
    Ok(out)
}
