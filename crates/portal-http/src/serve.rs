//! Running the service: the listener, the background tasks (outbox
//! delivery, housekeeping) and a graceful shutdown on SIGTERM/SIGINT that
//! drains requests in flight and stops the tasks cleanly.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tower::ServiceExt as _;

use crate::app::{Edge, metrics_router, router};
use crate::config::ConnectionLimits;
use crate::head_deadline::HeadDeadline;
use crate::state::AppState;

/// How often the housekeeping purge runs (SPEC §3: at least once a minute).
const PURGE_EVERY: Duration = Duration::from_secs(30);

/// A stop signal shared by the background tasks.
#[derive(Debug, Clone)]
pub struct Stop(watch::Receiver<bool>);

impl Stop {
    /// Resolves when the service is asked to stop.
    pub async fn requested(&mut self) {
        // An error means the sender is gone: stop as well.
        let _ = self.0.wait_for(|stop| *stop).await;
    }
}

/// Background work started with the server and stopped with it.
pub type Task = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

/// Where the service listens: the public address, and, with
/// `PORTAL_METRICS_LISTEN`, a private one for `/metrics` alone.
#[derive(Debug)]
pub struct Listeners {
    pub public: TcpListener,
    pub metrics: Option<TcpListener>,
}

impl From<TcpListener> for Listeners {
    fn from(public: TcpListener) -> Self {
        Self {
            public,
            metrics: None,
        }
    }
}

/// Connections open at once on the metrics listener: a scraper needs one.
const METRICS_CONNECTIONS: usize = 16;

/// Serves `state` on `listeners` until `shutdown` resolves, with `tasks`
/// (made from the stop signal) running beside it. On shutdown the listener
/// stops accepting, requests in flight finish, then the tasks are asked to
/// stop and awaited.
pub async fn serve(
    state: AppState,
    listeners: impl Into<Listeners>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    tasks: Vec<Box<dyn FnOnce(Stop) -> Task + Send>>,
) -> std::io::Result<()> {
    let app = router(state.clone());
    serve_app(state, app, listeners, shutdown, tasks).await
}

/// [`serve`] with the public service given (routes behind
/// [`crate::app::with_layers`]): the connection handling is the same
/// whatever the routes.
pub async fn serve_app(
    state: AppState,
    app: impl Edge,
    listeners: impl Into<Listeners>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    tasks: Vec<Box<dyn FnOnce(Stop) -> Task + Send>>,
) -> std::io::Result<()> {
    let listeners = listeners.into();
    let limits = state.config.limits;
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut running = JoinSet::new();
    running.spawn(purge_loop(state.clone(), Stop(stop_rx.clone())));
    for task in tasks {
        running.spawn(task(Stop(stop_rx.clone())));
    }
    let (closing_tx, closing_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = closing_tx.send(true);
    });
    let graceful = GracefulShutdown::new();
    let public = accept_loop(
        listeners.public,
        app,
        limits,
        limits.max_connections,
        &graceful,
        Stop(closing_rx.clone()),
    );
    let metrics = async {
        match listeners.metrics {
            Some(listener) => {
                accept_loop(
                    listener,
                    metrics_router(state.clone()),
                    limits,
                    METRICS_CONNECTIONS,
                    &graceful,
                    Stop(closing_rx),
                )
                .await
            }
            None => Ok(()),
        }
    };
    let (public, metrics) = tokio::join!(public, metrics);
    graceful.shutdown().await;
    tracing::info!("requests drained; stopping background tasks");
    let _ = stop_tx.send(true);
    while running.join_next().await.is_some() {}
    tracing::info!("stopped");
    public.and(metrics)
}

/// Accepts connections on `listener` until `stop`, each served by `app`
/// under `limits`: at most `max_connections` at once (the rest wait in the
/// listen backlog), the head within the header timeout of its first byte
/// ([`HeadDeadline`]), the body within the body timeout (a layer of the
/// router), and keep-alive connections closed after the idle timeout
/// (hyper's header timer, which runs from the moment a connection waits for
/// its next request).
async fn accept_loop(
    listener: TcpListener,
    app: impl Edge,
    limits: ConnectionLimits,
    max_connections: usize,
    graceful: &GracefulShutdown,
    mut stop: Stop,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(max_connections));
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.idle_timeout.max(limits.header_timeout))
        .keep_alive(true);
    loop {
        // A slot first: past the cap, connections are not even accepted.
        let slot = tokio::select! {
            () = stop.requested() => return Ok(()),
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => return Ok(()),
            },
        };
        let (stream, peer) = tokio::select! {
            () = stop.requested() => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) if is_connection_error(&error) => continue,
                Err(error) => {
                    // Out of descriptors, most likely: wait rather than spin.
                    tracing::warn!(%error, "accept failed; retrying in a second");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            },
        };
        let service =
            app.clone()
                .map_request(move |request: hyper::Request<hyper::body::Incoming>| {
                    let mut request = request.map(Body::new);
                    request.extensions_mut().insert(ConnectInfo(peer));
                    request
                });
        let stream = HeadDeadline::new(stream, limits.header_timeout);
        let connection =
            http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // Timeouts and resets end connections as a matter of course.
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended");
            }
            drop(slot);
        });
    }
}

/// Errors of one connection, not of the listener.
fn is_connection_error(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested");
}

/// Purges stale pending accounts and expired flows, tokens, sessions and
/// sent emails, until asked to stop.
async fn purge_loop(state: AppState, mut stop: Stop) {
    loop {
        match state.portal.purge().await {
            Ok(report)
                if !report.stale_pending.is_empty() || report.expired != Default::default() =>
            {
                tracing::info!(
                    stale_pending = report.stale_pending.len(),
                    flows = report.expired.flows,
                    tokens = report.expired.tokens,
                    sessions = report.expired.sessions,
                    sent_emails = report.expired.sent_emails,
                    "purged"
                );
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "purge failed; retrying later"),
        }
        tokio::select! {
            () = stop.requested() => return,
            () = tokio::time::sleep(PURGE_EVERY) => {}
        }
    }
}

/// The sample roster `serve --demo` loads (`docs/roster-example.csv`).
const DEMO_ROSTER: &[u8] = include_bytes!("../../../docs/roster-example.csv");

/// Refuses to serve without `PORTAL_DATA_KEY` once an account has a TOTP
/// secret stored: its second step could never be checked. The message
/// names the variable.
pub async fn data_key_check(state: &AppState) -> Result<(), String> {
    if state.config.portal.mfa.data_key.is_some() {
        return Ok(());
    }
    match state.storage.any_totp_secret().await {
        Ok(false) => Ok(()),
        Ok(true) => Err(
            "configuration error: PORTAL_DATA_KEY is required: accounts have second-factor secrets \
             sealed with it (32 bytes in base64)"
                .to_owned(),
        ),
        Err(error) => Err(format!("DATABASE_URL: {error}")),
    }
}

/// `serve`: binds `PORTAL_LISTEN`, optionally loads the demo roster, and
/// serves until SIGTERM/SIGINT.
pub async fn run(state: AppState, demo: bool) -> std::process::ExitCode {
    use portal_domain::ports::{Clock, ImportMode};
    if let Err(e) = state.config.check_serve() {
        eprintln!("portal-http: configuration error: {e}");
        return std::process::ExitCode::from(2);
    }
    if let Err(refusal) = data_key_check(&state).await {
        eprintln!("portal-http: {refusal}");
        return std::process::ExitCode::from(2);
    }
    if demo {
        let now = portal_domain::system::SystemClock.now();
        match portal_domain::roster_csv::import(
            state.storage.as_ref(),
            "demo roster",
            DEMO_ROSTER,
            ImportMode::Upsert,
            false,
            now,
        )
        .await
        {
            Ok(summary) => {
                tracing::info!(added = summary.added, "demo roster loaded");
                print_demo_providers(state.config.public_url.as_str());
            }
            Err(e) => {
                eprintln!("portal-http: demo roster: {e}");
                return std::process::ExitCode::FAILURE;
            }
        }
    }
    let listener = match TcpListener::bind(state.config.listen).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!(
                "portal-http: PORTAL_LISTEN: cannot listen on {}: {e}",
                state.config.listen
            );
            return std::process::ExitCode::FAILURE;
        }
    };
    let metrics_listener = match state.config.metrics_listen {
        None => None,
        Some(address) => match TcpListener::bind(address).await {
            Ok(listener) => Some(listener),
            Err(e) => {
                eprintln!("portal-http: PORTAL_METRICS_LISTEN: cannot listen on {address}: {e}");
                return std::process::ExitCode::FAILURE;
            }
        },
    };
    let mailer = match crate::mail::build_mailer(&state.config) {
        Ok(mailer) => mailer,
        Err(e) => {
            eprintln!("portal-http: configuration error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    tracing::info!(address = %state.config.listen, public_url = %state.config.public_url, "serving");
    if let Some(address) = state.config.metrics_listen {
        tracing::info!(address = %address, "serving /metrics on its own address only");
    }
    let tasks = crate::mail::background_tasks(&state, mailer);
    let listeners = Listeners {
        public: listener,
        metrics: metrics_listener,
    };
    match serve(state, listeners, shutdown_signal(), tasks).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("portal-http: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The demo provider the README's `curl` example registers, listed apart
/// so that the web walk and the API example never take the same one.
pub const README_PROVIDER: &str = "P4001";

#[allow(clippy::print_stderr)] // the demo's instructions are for the person who started it
fn print_demo_providers(public_url: &str) {
    let roster = portal_domain::roster_csv::parse("demo roster", DEMO_ROSTER).unwrap_or_default();
    eprint!("{}", demo_banner(public_url, &roster));
}

/// What `serve --demo` prints: each provider of the demo roster as it
/// registers (the kind to choose, then the fields as the form and the API
/// name them, with one of its ZIPs), in three groups: those to try, the
/// README's own, and those that show a refusal on purpose. Fields are
/// separated by two spaces, so a value may hold one ("María José").
pub fn demo_banner(public_url: &str, roster: &[portal_domain::roster::RosterEntry]) -> String {
    use portal_domain::roster::RosterIdentity;
    use portal_domain::values::Payee;
    use std::fmt::Write as _;

    let line = |entry: &portal_domain::roster::RosterEntry| {
        let zip = entry
            .zips
            .first()
            .map(|z| z.as_str().to_owned())
            .unwrap_or_default();
        let name = match &entry.identity {
            RosterIdentity::Practitioner {
                first_name,
                last_name,
                ..
            } => format!(
                "first_name={}  last_name={}",
                first_name.as_str(),
                last_name.as_str()
            ),
            RosterIdentity::Group { group_name } => format!("group_name={}", group_name.as_str()),
        };
        format!(
            "  {:<12}  provider_id={}  tax_id={}  {name}  zip={zip}",
            entry.kind().as_str(),
            entry.provider_id,
            entry.tax_id,
        )
    };
    let paid_under_group = |entry: &&portal_domain::roster::RosterEntry| {
        matches!(
            entry.identity,
            RosterIdentity::Practitioner {
                payee: Payee::Group,
                ..
            }
        )
    };
    let is_readme =
        |entry: &&portal_domain::roster::RosterEntry| entry.provider_id.as_str() == README_PROVIDER;

    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nDemo roster loaded. Each provider below registers exactly as printed:\n\
         on the web at {public_url}register (choose the kind, then type the fields),\n\
         or with POST /api/v1/registrations (the fields are its JSON members).\n\
         One account per provider: once one has an account, it answers 409 already_registered.\n"
    );
    for entry in roster
        .iter()
        .filter(|e| !paid_under_group(e) && !is_readme(e))
    {
        let _ = writeln!(out, "{}", line(entry));
    }
    let _ = writeln!(out, "\nKept for the README's curl example (the API):");
    for entry in roster.iter().filter(is_readme) {
        let _ = writeln!(out, "{}", line(entry));
    }
    let _ = writeln!(out, "\nRefused on purpose, to see the answer:");
    for entry in roster.iter().filter(paid_under_group) {
        let _ = writeln!(
            out,
            "{}  -> wrong_provider_type: paid under a Group Payee ID, so the group registers instead",
            line(entry)
        );
    }
    out.push('\n');
    out
}
