//! Registrations and other requests over HTTP, and the record of their answers.

use super::*;

pub(super) fn email_of(username: &str) -> String {
    format!("{username}@chaos.example.org")
}

/// Registers `username` as roster provider `index` end to end (provider
/// details, agreement, account); step `k` goes to `bases[(index + k) % len]`,
/// so that with two instances each flow moves between them.
pub(super) async fn register(
    client: &reqwest::Client,
    bases: &[String],
    index: usize,
    username: &str,
    recorder: Option<&Recorder>,
) -> Result<(), String> {
    let base = |step: usize| &bases[(index + step) % bases.len()];
    let details = json!({
        "provider_type": "practitioner",
        "provider_id": provider_id(index),
        "tax_id": "111111111",
        "zip": "45202",
        "first_name": "Ann",
        "last_name": "Chaos",
    });
    let (status, body) = call(
        client,
        &format!("{}/api/v1/registrations", base(0)),
        Some(&details),
        None,
        recorder.map(|r| (r, "registration")),
    )
    .await;
    let id = match (status, body["registration_id"].as_str()) {
        (Some(201), Some(id)) => id.to_owned(),
        _ => return Err(format!("provider details: {status:?} {body}")),
    };
    let version = body["agreement_version"].as_str().unwrap_or("1");
    let agreement = json!({"accepted": true, "agreement_version": version});
    let (status, body) = call(
        client,
        &format!("{}/api/v1/registrations/{id}/agreement", base(1)),
        Some(&agreement),
        None,
        recorder.map(|r| (r, "agreement")),
    )
    .await;
    if status != Some(200) {
        return Err(format!("agreement: {status:?} {body}"));
    }
    let account = json!({
        "username": username,
        "password": PASSWORD,
        "email": email_of(username),
        "security_question_id": 1,
        "security_answer": "Fluffy",
    });
    let (status, body) = call(
        client,
        &format!("{}/api/v1/registrations/{id}/account", base(2)),
        Some(&account),
        None,
        recorder.map(|r| (r, "account")),
    )
    .await;
    if status == Some(201) {
        Ok(())
    } else {
        Err(format!("account: {status:?} {body}"))
    }
}

/// Registers `{prefix}.NNNNN` as providers `0..count` with `workers` at a
/// time (until `stop` is set, when given): each username and its outcome.
pub(super) async fn register_many(
    client: &reqwest::Client,
    bases: Vec<String>,
    prefix: &str,
    count: usize,
    workers: usize,
    stop: Option<Arc<AtomicBool>>,
) -> Vec<(String, Result<(), String>)> {
    let bases = Arc::new(bases);
    let next = Arc::new(AtomicUsize::new(0));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..workers {
        let (client, bases, next, stop, prefix) = (
            client.clone(),
            bases.clone(),
            next.clone(),
            stop.clone(),
            prefix.to_owned(),
        );
        set.spawn(async move {
            let mut done = Vec::new();
            loop {
                if stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst)) {
                    break;
                }
                let index = next.fetch_add(1, Ordering::SeqCst);
                if index >= count {
                    break;
                }
                let username = format!("{prefix}.{index:05}");
                let result = register(&client, &bases, index, &username, None).await;
                done.push((username, result));
            }
            done
        });
    }
    let mut results = Vec::new();
    while let Some(done) = set.join_next().await {
        results.extend(done.unwrap_or_default());
    }
    results.sort_by(|a, b| a.0.cmp(&b.0));
    results
}

pub(super) fn http_client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| format!("HTTP client: {e}"))
}

/// One JSON request (a `POST` with `body`, else a `GET`): the status (none
/// when no answer came) and the JSON body (`null` when not JSON).
pub(super) async fn call(
    client: &reqwest::Client,
    url: &str,
    body: Option<&Value>,
    bearer: Option<&str>,
    recorder: Option<(&Recorder, &'static str)>,
) -> (Option<u16>, Value) {
    let sent = recorder.map(|(r, _)| r.t0.elapsed());
    let mut request = match body {
        Some(body) => client.post(url).json(body),
        None => client.get(url),
    };
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let (status, value) = match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            (
                Some(status),
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
        Err(_) => (None, Value::Null),
    };
    if let (Some((recorder, route)), Some(sent)) = (recorder, sent) {
        recorder.push(Sample {
            sent,
            done: recorder.t0.elapsed(),
            route,
            status,
        });
    }
    (status, value)
}

pub(super) async fn get(
    client: &reqwest::Client,
    url: &str,
    recorder: Option<(&Recorder, &'static str)>,
) -> Option<u16> {
    call(client, url, None, None, recorder).await.0
}

/// One request as the load saw it, in time since the run began.
#[derive(Debug, Clone)]
pub(super) struct Sample {
    pub(super) sent: Duration,
    pub(super) done: Duration,
    #[allow(dead_code, reason = "shown when a sample is debugged")]
    route: &'static str,
    pub(super) status: Option<u16>,
}

#[derive(Debug, Clone)]
pub(super) struct Recorder {
    pub(super) t0: Instant,
    pub(super) samples: Arc<Mutex<Vec<Sample>>>,
}

impl Recorder {
    pub(super) fn new() -> Self {
        Self::new_at(now())
    }

    pub(super) fn new_at(t0: Instant) -> Self {
        Self {
            t0,
            samples: Arc::default(),
        }
    }

    pub(super) fn push(&self, sample: Sample) {
        lock(&self.samples).push(sample);
    }

    /// Every sample, by the time it was sent.
    pub(super) fn samples(&self) -> Vec<Sample> {
        let mut samples = lock(&self.samples).clone();
        samples.sort_by_key(|s| s.sent);
        samples
    }
}

pub(super) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
