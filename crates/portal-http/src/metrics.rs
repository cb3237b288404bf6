//! Prometheus metrics (`GET /metrics`): requests by route and status with
//! latency histograms, logins by outcome, lockouts, emails (and those dropped
//! unsent), and the hash pool. One registry per service instance, so tests can run several.

use std::sync::Arc;

use portal_domain::delivery::DropReason;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    /// The route pattern (`/api/v1/registrations/{id}/agreement`), never the URI.
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: String,
}

#[derive(Clone)]
struct LatencyBuckets;

impl MetricConstructor<Histogram> for LatencyBuckets {
    fn new_metric(&self) -> Histogram {
        // 0.5 ms … ~16 s.
        Histogram::new(exponential_buckets(0.0005, 2.0, 16))
    }
}

struct Inner {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, LatencyBuckets>,
    logins: Family<OutcomeLabels, Counter>,
    lockouts: Counter,
    emails: Family<OutcomeLabels, Counter>,
    emails_dropped: Family<ReasonLabels, Counter>,
    hash_queue: Gauge,
    hash_waiting: Gauge,
    hash_rejected: Counter,
}

/// The service's metrics; cheap to clone.
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("portal");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency =
            Family::<RouteLabels, Histogram, LatencyBuckets>::new_with_constructor(LatencyBuckets);
        let logins = Family::<OutcomeLabels, Counter>::default();
        let lockouts = Counter::default();
        let emails = Family::<OutcomeLabels, Counter>::default();
        let emails_dropped = Family::<ReasonLabels, Counter>::default();
        // Every reason is exported from the start, at 0, so that an alert on
        // its rate sees the first drop.
        for reason in [DropReason::LinkExpired, DropReason::AccountGone] {
            drop(emails_dropped.get_or_create(&ReasonLabels {
                reason: reason.name().to_owned(),
            }));
        }
        let hash_queue = Gauge::default();
        let hash_waiting = Gauge::default();
        let hash_rejected = Counter::default();
        registry.register(
            "http_requests",
            "HTTP requests by route pattern and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route pattern",
            latency.clone(),
        );
        registry.register("logins", "Login attempts by outcome", logins.clone());
        registry.register(
            "lockouts",
            "Accounts locked by failed logins",
            lockouts.clone(),
        );
        registry.register(
            "emails",
            "Outbox email deliveries by outcome (sent, transient_failure, rejected)",
            emails.clone(),
        );
        registry.register(
            "emails_dropped",
            "Queued emails dropped unsent because they lost their use, by reason (link_expired, account_gone)",
            emails_dropped.clone(),
        );
        registry.register(
            "hash_pool_queue_depth",
            "Password-hashing jobs waiting for a worker",
            hash_queue.clone(),
        );
        registry.register(
            "hash_pool_waiting",
            "Requests waiting for room in the full hash pool (at most PORTAL_HASH_WAIT each)",
            hash_waiting.clone(),
        );
        registry.register(
            "hash_pool_rejected",
            "Password-hashing jobs refused because the queue was full and no room came within PORTAL_HASH_WAIT",
            hash_rejected.clone(),
        );
        Self(Arc::new(Inner {
            registry,
            requests,
            latency,
            logins,
            lockouts,
            emails,
            emails_dropped,
            hash_queue,
            hash_waiting,
            hash_rejected,
        }))
    }

    pub fn request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.0
            .requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .inc();
        self.0
            .latency
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
            })
            .observe(seconds);
    }

    pub fn login(&self, outcome: &str) {
        self.0
            .logins
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    pub fn lockout(&self) {
        self.0.lockouts.inc();
    }

    pub fn emails(&self, outcome: &str, count: u32) {
        self.0
            .emails
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_owned(),
            })
            .inc_by(u64::from(count));
    }

    pub fn email_dropped(&self, reason: &str) {
        self.0
            .emails_dropped
            .get_or_create(&ReasonLabels {
                reason: reason.to_owned(),
            })
            .inc();
    }

    pub fn hash_queue_changed(&self, by: i64) {
        self.0.hash_queue.inc_by(by);
    }

    pub fn hash_waiting_changed(&self, by: i64) {
        self.0.hash_waiting.inc_by(by);
    }

    pub fn hash_rejected(&self) {
        self.0.hash_rejected.inc();
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.0.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_emails_are_counted_by_reason() {
        let metrics = Metrics::new();
        assert!(
            metrics
                .render()
                .contains("portal_emails_dropped_total{reason=\"account_gone\"} 0"),
            "exported before the first drop"
        );
        metrics.email_dropped("link_expired");
        metrics.email_dropped("link_expired");
        metrics.email_dropped("account_gone");
        let text = metrics.render();
        assert!(
            text.contains("portal_emails_dropped_total{reason=\"link_expired\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("portal_emails_dropped_total{reason=\"account_gone\"} 1"),
            "{text}"
        );
    }
}
