//! Rotating IPv6 addresses within one /64 against the rate limit.

use super::*;

// 6. IPv6 addresses rotating within one /64 behind a trusted proxy.
pub(super) async fn ipv6_rotation(out: &mut Outcome) -> Result<(), String> {
    out.setting(
        "PORTAL_TRUSTED_PROXIES=127.0.0.1 (default unset), so that the \
         X-Forwarded-For address this client sends is the client address; \
         PORTAL_RATE_LIMIT_PER_MINUTE at its default, 30",
    );
    let service = Service::start(
        "attack-ipv6",
        &[
            ("PORTAL_TRUSTED_PROXIES", "127.0.0.1"),
            ("PORTAL_RATE_LIMIT_PER_MINUTE", DEFAULT_RATE_LIMIT),
        ],
    )?;
    let client = client(1)?;
    // A rate-limited route (SPEC §8) whose answer costs nothing: an
    // activation with an unknown token is `400 invalid_token`.
    let url = format!("{}/api/v1/activations", service.base_url());
    let body = json!({"token": "x".repeat(43)});
    let mut statuses = Vec::new();
    for n in 1..=31u32 {
        let from = format!("2001:db8:1:2::{n:x}");
        statuses.push(post(&client, &url, &body, &[("x-forwarded-for", &from)]).await);
    }
    out.figure(format!(
        "POST /api/v1/activations from 2001:db8:1:2::1 … ::1f: {}",
        show(&tally(&statuses))
    ));
    out.check(
        statuses[..30].iter().all(|s| *s == Some(400)),
        "the first 30 addresses of the /64 are served (400 invalid_token)",
    );
    out.check(
        statuses[30] == Some(429),
        format!(
            "the 31st address of the /64 answers {} (want 429)",
            code(statuses[30])
        ),
    );
    let far = post(
        &client,
        &url,
        &body,
        &[("x-forwarded-for", "2001:db8:1:2:ffff:ffff:ffff:fffe")],
    )
    .await;
    out.check(
        far == Some(429),
        format!(
            "the far end of the same /64 answers {} (want 429)",
            code(far)
        ),
    );
    let other = post(
        &client,
        &url,
        &body,
        &[("x-forwarded-for", "2001:db8:1:3::1")],
    )
    .await;
    out.check(
        other == Some(400),
        format!(
            "another /64 (2001:db8:1:3::1) answers {} (want 400: not limited)",
            code(other)
        ),
    );
    Ok(())
}
