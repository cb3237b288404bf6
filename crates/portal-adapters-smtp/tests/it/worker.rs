//! The outbox delivery worker: it drains the outbox, shares a store with
//! other workers without sending twice, stops between two emails, and backs
//! off when the store fails.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use portal_adapters_smtp::{DeliveryWorker, WorkerReport, WorkerSettings, run_delivery_worker};
use portal_domain::delivery::{DeliveryPolicy, DropReason};
use portal_domain::testing::TestPortal;
use time::Duration as TimeDuration;
use tokio::sync::{Notify, oneshot};

use crate::flaky::FlakyOutbox;
use crate::support::{self, CountingMailer, queued_tokens};
use portal_adapters_smtp::testing::SmtpSink;

fn fast() -> WorkerSettings {
    WorkerSettings {
        poll: Duration::from_millis(10),
        error_backoff: Duration::from_millis(10),
        max_error_backoff: Duration::from_millis(40),
    }
}

fn policy(batch_size: u32) -> DeliveryPolicy {
    DeliveryPolicy {
        batch_size,
        lease: TimeDuration::minutes(1),
        ..DeliveryPolicy::default()
    }
}

/// Stops a worker when dropped or sent to.
fn stop_signal() -> (oneshot::Sender<()>, impl Future<Output = ()>) {
    let (tx, rx) = oneshot::channel::<()>();
    (tx, async move {
        let _ = rx.await;
    })
}

async fn wait_until_drained(portal: &TestPortal) {
    tokio::time::timeout(Duration::from_secs(5), async {
        while support::pending(portal).await > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the outbox drains");
}

fn assert_each_once(sent: &[String], expected: &[String]) {
    let unique: BTreeSet<&String> = sent.iter().collect();
    assert_eq!(unique.len(), sent.len(), "an email was sent twice");
    let expected: BTreeSet<&String> = expected.iter().collect();
    assert_eq!(unique, expected, "every queued email was sent");
}

#[tokio::test]
async fn the_worker_drains_the_outbox_over_smtp_and_stops_when_asked() {
    let portal = support::queued(12).await;
    let sink = SmtpSink::start().await;
    let mailer = support::smtp_mailer(&sink.url(), support::mail_settings());
    let (stop, shutdown) = stop_signal();
    let worker = tokio::spawn(run_delivery_worker(
        portal.store.clone(),
        portal.store.clone(),
        Arc::new(mailer),
        portal.clock.clone(),
        policy(5),
        fast(),
        shutdown,
    ));
    let received = sink.wait_for(12).await;
    wait_until_drained(&portal).await;
    stop.send(()).unwrap();
    let report = worker.await.unwrap();
    assert_eq!(report.sent, 12);
    assert!(!report.left_claimed);
    assert!(report.batches >= 3, "two full batches, then the rest");
    assert_eq!(received.len(), 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_on_one_store_send_every_email_exactly_once() {
    let portal = support::queued(40).await;
    let mailer = Arc::new(CountingMailer::with_delay(Duration::from_millis(1)));
    let mut stops = Vec::new();
    let mut workers = Vec::new();
    for _ in 0..2 {
        let (stop, shutdown) = stop_signal();
        stops.push(stop);
        workers.push(tokio::spawn(
            DeliveryWorker::new(
                portal.store.clone(),
                portal.store.clone(),
                mailer.clone(),
                portal.clock.clone(),
                policy(5),
                fast(),
            )
            .run(shutdown),
        ));
    }
    wait_until_drained(&portal).await;
    drop(stops);
    let mut total = WorkerReport::default();
    for worker in workers {
        let report = worker.await.unwrap();
        total.sent += report.sent;
    }
    assert_eq!(total.sent, 40);
    assert_each_once(&mailer.sent(), &queued_tokens(&portal));
}

#[tokio::test]
async fn a_worker_stopped_mid_batch_finishes_its_email_and_loses_nothing() {
    let portal = support::queued(10).await;
    let tokens = queued_tokens(&portal);
    let entered = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    let first = Arc::new(CountingMailer::holding(2, entered.clone(), release.clone()));
    let (stop, shutdown) = stop_signal();
    let worker = tokio::spawn(run_delivery_worker(
        portal.store.clone(),
        portal.store.clone(),
        first.clone(),
        portal.clock.clone(),
        policy(10),
        fast(),
        shutdown,
    ));

    // The third email of the batch is being sent when the stop comes.
    entered.notified().await;
    stop.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    release.notify_one();
    let report = worker.await.unwrap();
    assert!(report.left_claimed);
    assert_eq!(report.sent, 3);
    assert_eq!(first.sent().len(), 3, "the email in flight was finished");
    assert_eq!(support::pending(&portal).await, 7, "the rest stays queued");

    // Emails are claimed one at a time: only the one claimed as the stop
    // came is leased, and a new worker sees it when the lease is over; the
    // rest go out at once.
    let second = Arc::new(CountingMailer::default());
    let (stop, shutdown) = stop_signal();
    let worker = tokio::spawn(run_delivery_worker(
        portal.store.clone(),
        portal.store.clone(),
        second.clone(),
        portal.clock.clone(),
        policy(10),
        fast(),
        shutdown,
    ));
    tokio::time::timeout(Duration::from_secs(5), async {
        while support::pending(&portal).await > 1 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the unclaimed emails go out");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        second.sent().len(),
        6,
        "the leased one not before the lease runs out"
    );
    portal
        .clock
        .advance(policy(10).lease + TimeDuration::seconds(1));
    wait_until_drained(&portal).await;
    stop.send(()).unwrap();
    let report = worker.await.unwrap();
    assert_eq!(report.sent, 7);
    assert!(!report.left_claimed);

    let mut all = first.sent();
    all.extend(second.sent());
    assert_each_once(&all, &tokens);
}

#[tokio::test]
async fn a_worker_stopped_while_idle_returns_at_once() {
    let portal = support::queued(1).await;
    let mailer = Arc::new(CountingMailer::default());
    let (stop, shutdown) = stop_signal();
    let worker = tokio::spawn(run_delivery_worker(
        portal.store.clone(),
        portal.store.clone(),
        mailer.clone(),
        portal.clock.clone(),
        policy(10),
        WorkerSettings {
            poll: Duration::from_secs(3600),
            ..fast()
        },
        shutdown,
    ));
    wait_until_drained(&portal).await;
    stop.send(()).unwrap();
    let report = tokio::time::timeout(Duration::from_secs(1), worker)
        .await
        .expect("no waiting for the poll")
        .unwrap();
    assert_eq!(report.sent, 1);
}

#[tokio::test]
async fn a_worker_backs_off_on_store_failures_and_then_delivers() {
    let portal = support::queued(3).await;
    let store = Arc::new(FlakyOutbox::new(portal.store.clone(), 3));
    let mailer = Arc::new(CountingMailer::default());
    let (stop, shutdown) = stop_signal();
    let worker = tokio::spawn(run_delivery_worker(
        store.clone(),
        portal.store.clone(),
        mailer.clone(),
        portal.clock.clone(),
        policy(10),
        fast(),
        shutdown,
    ));
    wait_until_drained(&portal).await;
    stop.send(()).unwrap();
    let report = worker.await.unwrap();
    assert_eq!(report.store_errors, 3);
    assert_eq!(report.sent, 3);
    assert_each_once(&mailer.sent(), &queued_tokens(&portal));
    assert!(store.claims.load(Ordering::SeqCst) >= 4);
}

#[tokio::test]
async fn a_worker_drops_emails_whose_links_expired_and_reports_each() {
    let portal = support::queued(3).await;
    // The activation links live 24 h; the relay was down all that time.
    portal.clock.advance(TimeDuration::hours(25));
    let mailer = Arc::new(CountingMailer::default());
    let dropped = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = dropped.clone();
    let (stop, shutdown) = stop_signal();
    let worker = tokio::spawn(
        DeliveryWorker::new(
            portal.store.clone(),
            portal.store.clone(),
            mailer.clone(),
            portal.clock.clone(),
            policy(10),
            fast(),
        )
        .on_drop(move |reason| seen.lock().unwrap().push(reason))
        .run(shutdown),
    );
    wait_until_drained(&portal).await;
    stop.send(()).unwrap();
    let report = worker.await.unwrap();
    assert_eq!((report.dropped, report.sent, report.failed), (3, 0, 0));
    assert!(mailer.sent().is_empty(), "nothing sent with a dead link");
    assert_eq!(*dropped.lock().unwrap(), vec![DropReason::LinkExpired; 3]);
}
