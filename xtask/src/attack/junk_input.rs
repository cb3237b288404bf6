//! Made-up methods and paths, and what they cost in memory.

use super::*;

/// A small deterministic generator (xorshift64*), for junk that is the
/// same from run to run.
pub(super) struct Junk(pub(super) u64);

impl Junk {
    pub(super) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// `len` letters from `alphabet`.
    pub(super) fn letters(&mut self, alphabet: &[u8], len: usize) -> String {
        (0..len)
            .map(|_| {
                let index = usize::try_from(self.next() % alphabet.len() as u64).unwrap_or(0);
                char::from(alphabet[index])
            })
            .collect()
    }
}

pub(super) const JUNK_REQUESTS: usize = 3_000;
pub(super) const JUNK_TASKS: usize = 8;

/// The length of the longest run of ASCII letters and digits in `text`:
/// a made-up method or a random path kept as a label would be 200 or more.
pub(super) fn longest_alphanumeric_run(text: &str) -> usize {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .map(str::len)
        .max()
        .unwrap_or(0)
}

/// The resident memory of process `pid`, in KiB.
pub(super) fn rss_kib(pid: u32) -> Result<u64, String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| format!("no VmRSS in /proc/{pid}/status"))
}

// 4. Junk methods and paths.
pub(super) async fn junk(out: &mut Outcome) -> Result<(), String> {
    let service = Service::start(
        "attack-junk",
        &[("PORTAL_RATE_LIMIT_PER_MINUTE", DEFAULT_RATE_LIMIT)],
    )?;
    let base = service.base_url();
    let client = client(JUNK_TASKS)?;
    let metrics = |client: reqwest::Client| {
        let url = format!("{base}/metrics");
        async move {
            let answer = client
                .get(&url)
                .send()
                .await
                .map_err(|e| format!("/metrics: {e}"))?;
            answer.text().await.map_err(|e| format!("/metrics: {e}"))
        }
    };
    let metrics_before = metrics(client.clone()).await?;
    let rss_before = rss_kib(service.pid())?;
    let started = now();
    let mut tasks = Vec::new();
    for task in 0..JUNK_TASKS {
        let client = client.clone();
        let base = base.clone();
        tasks.push(tokio::spawn(async move {
            let mut junk = Junk(0x9E37_79B9_7F4A_7C15 ^ (task as u64 + 1));
            let mut answers = Vec::new();
            for i in (task..JUNK_REQUESTS).step_by(JUNK_TASKS) {
                let path = format!(
                    "/{}",
                    junk.letters(b"abcdefghijklmnopqrstuvwxyz0123456789", 200)
                );
                // Two in three a made-up method (on a random path, or on a
                // real route); one in three GET of a random path.
                let (method, path, want) = match i % 3 {
                    0 => (
                        junk.letters(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", 2_000),
                        path,
                        405,
                    ),
                    1 => (
                        junk.letters(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", 2_000),
                        "/api/v1/sessions".to_owned(),
                        405,
                    ),
                    _ => ("GET".to_owned(), path, 404),
                };
                let status = match reqwest::Method::from_bytes(method.as_bytes()) {
                    Ok(method) => {
                        match client.request(method, format!("{base}{path}")).send().await {
                            Ok(answer) => {
                                let status = answer.status().as_u16();
                                let _ = answer.bytes().await;
                                Some(status)
                            }
                            Err(_) => None,
                        }
                    }
                    Err(_) => None,
                };
                answers.push((want, status));
            }
            answers
        }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.extend(task.await.map_err(|e| format!("a junk task: {e}"))?);
    }
    let took = started.elapsed().as_secs_f64();
    let metrics_after = metrics(client.clone()).await?;
    let rss_after = rss_kib(service.pid())?;
    let statuses: Vec<_> = answers.iter().map(|(_, status)| *status).collect();
    out.figure(format!(
        "{} requests in {took:.1} s: {}",
        answers.len(),
        show(&tally(&statuses))
    ));
    let wrong = answers
        .iter()
        .filter(|(want, status)| *status != Some(*want))
        .count();
    let server_errors = statuses.iter().filter(|s| matches!(s, Some(500..))).count();
    out.check(
        wrong == 0 && server_errors == 0 && answers.len() == JUNK_REQUESTS,
        format!(
            "made-up methods answer 405 and unknown paths 404: {wrong} otherwise, {server_errors} 5xx"
        ),
    );
    let growth = metrics_after.len().saturating_sub(metrics_before.len());
    out.check(
        growth < 8 * 1024,
        format!(
            "/metrics {} → {} bytes (+{growth}, under 8 KiB)",
            metrics_before.len(),
            metrics_after.len()
        ),
    );
    let run = longest_alphanumeric_run(&metrics_after);
    out.check(
        run < 40,
        format!(
            "no method or path became a metric label (longest run of letters \
             and digits in /metrics: {run})"
        ),
    );
    let rss_growth = rss_after.saturating_sub(rss_before);
    out.check(
        rss_growth < 5 * 1024,
        format!("VmRSS {rss_before} → {rss_after} KiB (+{rss_growth}, under 5 MiB)"),
    );
    Ok(())
}
