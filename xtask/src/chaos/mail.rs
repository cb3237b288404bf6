//! The emails the SMTP sink received.

use super::*;

/// Waits until every address of `expected` has an activation email at the
/// sink, or `bound` passes; then 2 s more for late duplicates. Returns how
/// long the wait took and the activation emails per recipient.
pub(super) async fn await_emails(
    sink: &SmtpSink,
    expected: &BTreeSet<String>,
    bound: Duration,
) -> (Duration, BTreeMap<String, usize>) {
    let started = now();
    while started.elapsed() < bound {
        let counts = activation_counts(sink);
        if expected.iter().all(|address| counts.contains_key(address)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let took = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    (took, activation_counts(sink))
}

fn activation_counts(sink: &SmtpSink) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for message in sink.received() {
        let text = String::from_utf8_lossy(&message.data);
        if !text.contains(ACTIVATION_SUBJECT) {
            continue;
        }
        for recipient in message.rcpt_to {
            *counts.entry(recipient).or_insert(0) += 1;
        }
    }
    counts
}

pub(super) fn report_deliveries(
    out: &mut Outcome,
    expected: &BTreeSet<String>,
    counts: &BTreeMap<String, usize>,
    duplicates_allowed: usize,
    took: Duration,
    when: &str,
) {
    let missing: Vec<_> = expected
        .iter()
        .filter(|a| !counts.contains_key(*a))
        .collect();
    let duplicates: usize = counts.values().map(|n| n.saturating_sub(1)).sum();
    let twice: Vec<_> = counts
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(a, _)| a)
        .collect();
    let strangers = counts.keys().filter(|a| !expected.contains(*a)).count();
    out.check(
        missing.is_empty(),
        format!(
            "activation emails arrived {when}: {} of {} in {:.1} s; missing {missing:?}",
            expected.len() - missing.len(),
            expected.len(),
            took.as_secs_f64()
        ),
    );
    out.check(
        duplicates <= duplicates_allowed && strangers == 0,
        format!(
            "emails delivered twice: {duplicates} (at most {duplicates_allowed}) {twice:?}; to unexpected recipients: {strangers}"
        ),
    );
}
