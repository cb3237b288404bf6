//! Connections that send half a request head and wait.

use super::*;

pub(super) const HALF_OPEN: usize = 800;
/// The header timeout is 10 s; allow for 800 closes on a busy machine.
pub(super) const HALF_OPEN_WITHIN: Duration = Duration::from_secs(15);

// 3. Connections that each send half a request head and wait.
pub(super) async fn half_open(out: &mut Outcome) -> Result<(), String> {
    let service = Service::start(
        "attack-half-open",
        &[("PORTAL_RATE_LIMIT_PER_MINUTE", DEFAULT_RATE_LIMIT)],
    )?;
    let addr = service.addr;
    let started = now();
    let mut holders = Vec::with_capacity(HALF_OPEN);
    for _ in 0..HALF_OPEN {
        holders.push(tokio::spawn(async move {
            let mut stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
            stream
                .write_all(b"POST /api/v1/sessions HTTP/1.1\r\nHost: x\r\n")
                .await
                .map_err(|e| e.to_string())?;
            // Read until the server closes (EOF or reset), within the bound.
            let mut buf = [0u8; 1024];
            let closed = tokio::time::timeout(HALF_OPEN_WITHIN, async {
                loop {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                }
            })
            .await;
            match closed {
                Ok(()) => Ok(started.elapsed()),
                Err(_) => Err("still open".to_owned()),
            }
        }));
    }
    // A normal request while they are held.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let normal_started = now();
    let normal = client(1)?
        .get(format!("{}/api/v1/security-questions", service.base_url()))
        .send()
        .await
        .map(|answer| answer.status().as_u16());
    let normal_ms = normal_started.elapsed().as_secs_f64() * 1000.0;
    let mut closes = Vec::new();
    let mut problems: BTreeMap<String, usize> = BTreeMap::new();
    for holder in holders {
        match holder.await {
            Ok(Ok(at)) => closes.push(at.as_secs_f64()),
            Ok(Err(why)) => *problems.entry(why).or_insert(0) += 1,
            Err(e) => *problems.entry(e.to_string()).or_insert(0) += 1,
        }
    }
    closes.sort_by(f64::total_cmp);
    out.check(
        matches!(normal, Ok(200)),
        format!(
            "GET /api/v1/security-questions while they are held: {} in {normal_ms:.0} ms",
            code(normal.as_ref().ok().copied())
        ),
    );
    if let (Some(first), Some(last)) = (closes.first(), closes.last()) {
        out.figure(format!(
            "closed by the server: {} of {HALF_OPEN}, between {first:.1} s and {last:.1} s after the first connect",
            closes.len()
        ));
    }
    out.check(
        closes.len() == HALF_OPEN,
        format!(
            "{} of {HALF_OPEN} closed within {HALF_OPEN_WITHIN:?}{}",
            closes.len(),
            if problems.is_empty() {
                String::new()
            } else {
                format!(" (others: {problems:?})")
            }
        ),
    );
    let after = client(1)?
        .get(format!("{}/healthz", service.base_url()))
        .send()
        .await
        .map(|answer| answer.status().as_u16());
    out.check(
        matches!(after, Ok(200)),
        format!("/healthz afterwards: {}", code(after.ok())),
    );
    Ok(())
}
