//! The command line (SPEC §7, §9): `serve` (the default), `migrate`,
//! `roster import`, `support verify-answer`, `account …`, `audit list`.
//! Results go to standard output, logs to standard error.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use portal_domain::audit::AuditFilter;
use portal_domain::ports::{Clock, ImportMode};
use portal_domain::roster_csv::{self, RosterImportError};
use portal_domain::service::{
    OperatorAction, OperatorError, RequestContext, SupportCheck, SupportError,
};
use portal_domain::system::SystemClock;
use portal_domain::values::SecurityAnswer;
use serde_json::json;

use crate::config::parse_duration;
use crate::problem::rfc3339;
use crate::schema::Start;
use crate::state::AppState;

/// Provider Portal Accounts.
#[derive(Debug, Parser)]
#[command(name = "portal-http", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the portal (the default).
    Serve {
        /// Load a small sample roster and print providers to register as.
        #[arg(long)]
        demo: bool,
    },
    /// Apply the database migrations and exit.
    Migrate,
    /// Manage the provider roster.
    Roster {
        #[command(subcommand)]
        command: RosterCommand,
    },
    /// Support desk checks.
    Support {
        #[command(subcommand)]
        command: SupportCommand,
    },
    /// Operator actions on one account.
    Account {
        #[command(subcommand)]
        command: AccountCommand,
    },
    /// The audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum RosterCommand {
    /// Import a roster CSV file, all or nothing.
    Import {
        file: PathBuf,
        /// Validate and report without writing.
        #[arg(long)]
        dry_run: bool,
        /// Make the file the whole roster: entries missing from it become inactive.
        #[arg(long)]
        replace: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SupportCommand {
    /// Check a caller's security answer, read from standard input. Exit 0
    /// match, 1 no match, 2 refused or error.
    VerifyAnswer {
        #[arg(long)]
        username: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Print the account's state, lock, provider, last login and pending emails.
    Show {
        #[arg(long)]
        username: String,
    },
    /// Clear the lock and the failure count.
    Unlock {
        #[arg(long)]
        username: String,
    },
    /// Refuse logins and revoke the account's sessions.
    Disable {
        #[arg(long)]
        username: String,
    },
    /// Allow logins again.
    Enable {
        #[arg(long)]
        username: String,
    },
    /// Remove the account's second factors (authenticator app, recovery
    /// codes and passkeys), after the support check; the account's address
    /// is notified.
    ResetMfa {
        #[arg(long)]
        username: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Print stored audit events as JSON lines, oldest first.
    List {
        #[arg(long)]
        username: Option<String>,
        /// Only events of the last DURATION (90s, 30m, 24h, 7d).
        #[arg(long)]
        since: Option<String>,
    },
}

/// `support verify-answer`'s exit code for a refusal or an error: 1
/// means "no match" there (SPEC §7), so no failure may exit 1.
const VERIFY_ANSWER_REFUSED: u8 = 2;

impl Command {
    /// What the command does with the database before it runs.
    pub fn start(&self) -> Start {
        match self {
            Self::Serve { demo } => Start::Serve { demo: *demo },
            Self::Migrate => Start::Migrate,
            Self::Roster { .. }
            | Self::Support { .. }
            | Self::Account { .. }
            | Self::Audit { .. } => Start::Command,
        }
    }

    /// The exit code of a failure before the command ran (the database
    /// cannot be opened or its schema read): 1, but 2 for `support
    /// verify-answer`, whose 1 means "no match".
    pub fn failure_code(&self) -> ExitCode {
        match self {
            Self::Support {
                command: SupportCommand::VerifyAnswer { .. },
            } => ExitCode::from(VERIFY_ANSWER_REFUSED),
            Self::Serve { .. }
            | Self::Migrate
            | Self::Roster { .. }
            | Self::Account { .. }
            | Self::Audit { .. } => ExitCode::FAILURE,
        }
    }
}

/// Operator commands act from the machine itself.
fn operator() -> RequestContext {
    RequestContext {
        client_addr: Some(std::net::IpAddr::from([127, 0, 0, 1])),
    }
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("portal-http: {message}");
    ExitCode::FAILURE
}

/// Runs a command other than `serve`, writing results to `out`.
pub async fn run(
    state: &AppState,
    command: Command,
    out: &mut impl Write,
    input: &mut impl BufRead,
) -> ExitCode {
    match command {
        Command::Serve { .. } => fail("serve is run by main"),
        Command::Migrate => match state.database.migrate().await {
            Ok(()) => {
                let version = match state.database.schema().await {
                    Ok(check) => check
                        .database_version
                        .map(|v| format!(" (schema version {v})")),
                    Err(_) => None,
                };
                let _ = writeln!(out, "migrations applied{}", version.unwrap_or_default());
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        },
        Command::Roster {
            command:
                RosterCommand::Import {
                    file,
                    dry_run,
                    replace,
                },
        } => import_roster(state, &file, dry_run, replace, out).await,
        Command::Support {
            command: SupportCommand::VerifyAnswer { username },
        } => verify_answer(state, &username, out, input).await,
        Command::Account { command } => account(state, command, out).await,
        Command::Audit {
            command: AuditCommand::List { username, since },
        } => audit_list(state, username, since, out).await,
    }
}

async fn import_roster(
    state: &AppState,
    file: &std::path::Path,
    dry_run: bool,
    replace: bool,
    out: &mut impl Write,
) -> ExitCode {
    // Read as the store takes it: a roster of a million rows is never held
    // whole (SPEC §2; docs/roster.md).
    let reader = match std::fs::File::open(file) {
        Ok(opened) => std::io::BufReader::with_capacity(64 * 1024, opened),
        Err(e) => return fail(format!("cannot read {}: {e}", file.display())),
    };
    let name = file.file_name().map_or_else(
        || file.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let mode = if replace {
        ImportMode::Replace
    } else {
        ImportMode::Upsert
    };
    match roster_csv::import(
        state.storage.as_ref(),
        &name,
        reader,
        mode,
        dry_run,
        SystemClock.now(),
    )
    .await
    {
        Ok(summary) => {
            let verb = if dry_run { "would be" } else { "were" };
            let _ = writeln!(
                out,
                "{name}: {} added, {} changed, {} unchanged, {} reactivated, {} deactivated ({verb} applied{})",
                summary.added,
                summary.changed,
                summary.unchanged,
                summary.reactivated,
                summary.deactivated,
                if dry_run { "; nothing was written" } else { "" }
            );
            ExitCode::SUCCESS
        }
        Err(RosterImportError::Invalid(errors)) => {
            eprintln!("{errors}");
            fail(format!("{name}: not imported; nothing was changed"))
        }
        Err(RosterImportError::Store(e)) => fail(e),
    }
}

async fn verify_answer(
    state: &AppState,
    username: &str,
    out: &mut impl Write,
    input: &mut impl BufRead,
) -> ExitCode {
    const REFUSED: u8 = VERIFY_ANSWER_REFUSED;
    let mut line = String::new();
    if input.read_line(&mut line).is_err() {
        eprintln!("portal-http: could not read the answer from standard input");
        return ExitCode::from(REFUSED);
    }
    let Ok(answer) = SecurityAnswer::parse(line.trim_end_matches(['\r', '\n'])) else {
        eprintln!("portal-http: the answer must be at least 3 characters");
        return ExitCode::from(REFUSED);
    };
    match state
        .portal
        .verify_security_answer(username, &answer, operator())
        .await
    {
        Ok(SupportCheck::Match) => {
            let _ = writeln!(out, "match");
            ExitCode::SUCCESS
        }
        Ok(SupportCheck::NoMatch) => {
            let _ = writeln!(out, "no match");
            ExitCode::from(1)
        }
        Err(SupportError::UnknownUsername) => {
            eprintln!("portal-http: no account has the username {username:?}");
            ExitCode::from(REFUSED)
        }
        Err(SupportError::TooManyAttempts) => {
            eprintln!(
                "portal-http: refused: 3 wrong answers for this account in the last 24 hours"
            );
            ExitCode::from(REFUSED)
        }
        Err(SupportError::Fault(e)) => {
            eprintln!("portal-http: {e}");
            ExitCode::from(REFUSED)
        }
    }
}

async fn account(state: &AppState, command: AccountCommand, out: &mut impl Write) -> ExitCode {
    let (username, action) = match command {
        AccountCommand::Show { username } => return show_account(state, &username, out).await,
        AccountCommand::ResetMfa { username } => return reset_mfa(state, &username, out).await,
        AccountCommand::Unlock { username } => (username, OperatorAction::Unlock),
        AccountCommand::Disable { username } => (username, OperatorAction::Disable),
        AccountCommand::Enable { username } => (username, OperatorAction::Enable),
    };
    match state
        .portal
        .operate_account(&username, action, operator())
        .await
    {
        Ok(()) => {
            let done = match action {
                OperatorAction::Unlock => "unlocked",
                OperatorAction::Disable => "disabled; its sessions were revoked",
                OperatorAction::Enable => "enabled",
            };
            let _ = writeln!(out, "{username}: {done}");
            ExitCode::SUCCESS
        }
        Err(OperatorError::UnknownUsername) => {
            fail(format!("no account has the username {username:?}"))
        }
        Err(OperatorError::Fault(e)) => fail(e),
    }
}

async fn reset_mfa(state: &AppState, username: &str, out: &mut impl Write) -> ExitCode {
    match state
        .portal
        .reset_second_factors(username, operator())
        .await
    {
        Ok(true) => {
            let _ = writeln!(
                out,
                "{username}: second factors removed; the account's address was notified"
            );
            ExitCode::SUCCESS
        }
        Ok(false) => {
            let _ = writeln!(out, "{username}: had no second factor; nothing changed");
            ExitCode::SUCCESS
        }
        Err(OperatorError::UnknownUsername) => {
            fail(format!("no account has the username {username:?}"))
        }
        Err(OperatorError::Fault(e)) => fail(e),
    }
}

async fn show_account(state: &AppState, username: &str, out: &mut impl Write) -> ExitCode {
    match state.portal.show_account(username, operator()).await {
        Ok(report) => {
            let lock = match report.status {
                portal_domain::account::AccountStatus::Locked { until } => {
                    format!("locked until {}", rfc3339(until))
                }
                _ => "not locked".to_owned(),
            };
            let _ = writeln!(out, "username:        {}", report.username);
            let _ = writeln!(out, "state:           {}", report.status.as_str());
            let _ = writeln!(
                out,
                "lock:            {lock} ({} failed logins)",
                report.failed_logins
            );
            let _ = writeln!(
                out,
                "provider:        {} {} (Tax ID {})",
                report.provider.kind.as_str(),
                report.provider.provider_id,
                report.provider.tax_id
            );
            let _ = writeln!(out, "email:           {}", report.email);
            let _ = writeln!(out, "created:         {}", rfc3339(report.created_at));
            let _ = writeln!(
                out,
                "last login:      {}",
                report
                    .last_login_at
                    .map_or_else(|| "never".to_owned(), rfc3339)
            );
            let factors = &report.second_factors;
            let mut second = Vec::new();
            if factors.totp {
                second.push(format!(
                    "authenticator app, {} unused recovery codes",
                    factors.recovery_codes_left
                ));
            }
            if !report.passkeys.is_empty() {
                let names: Vec<String> = report.passkeys.iter().map(|n| format!("{n:?}")).collect();
                second.push(format!("passkeys: {}", names.join(", ")));
            }
            let second = if second.is_empty() {
                "none".to_owned()
            } else {
                second.join("; ")
            };
            let _ = writeln!(out, "second factors:  {second}");
            let _ = writeln!(out, "pending emails:  {}", report.pending_emails);
            if let Some(error) = &report.last_delivery_error {
                let _ = writeln!(out, "last delivery error: {error}");
            }
            ExitCode::SUCCESS
        }
        Err(OperatorError::UnknownUsername) => {
            fail(format!("no account has the username {username:?}"))
        }
        Err(OperatorError::Fault(e)) => fail(e),
    }
}

async fn audit_list(
    state: &AppState,
    username: Option<String>,
    since: Option<String>,
    out: &mut impl Write,
) -> ExitCode {
    let since = match since.as_deref().map(parse_duration).transpose() {
        Ok(since) => since.map(|d| SystemClock.now() - d),
        Err(e) => return fail(format!("--since: {e}")),
    };
    // Page by page, each printed as it comes: memory stays flat however
    // long the trail (SPEC §7a).
    let filter = AuditFilter { username, since };
    let mut after = None;
    loop {
        let page = match state.storage.audit_page(&filter, after, AUDIT_PAGE).await {
            Ok(page) => page,
            Err(e) => return fail(e),
        };
        for (_, event) in &page {
            let line = json!({
                "time": rfc3339(event.at),
                "event": event.action.as_str(),
                "username": event.username,
                "client_addr": event.client_addr.map(|a| a.to_string()),
                "outcome": event.outcome.as_str(),
            });
            let _ = writeln!(out, "{line}");
        }
        if page.len() < AUDIT_PAGE as usize {
            return ExitCode::SUCCESS;
        }
        after = page.last().map(|(cursor, _)| *cursor);
    }
}

/// Events read per page by `audit list`.
const AUDIT_PAGE: u32 = 500;
