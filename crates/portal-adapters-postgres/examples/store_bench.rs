//! Storage figures on PostgreSQL, run by `cargo xtask bench`:
//!
//! - importing 100,000 roster rows (parse + one transaction), target < 10 s;
//! - the login store path (load the account by username with its roster
//!   entry, then record the outcome), p50 / p99 over 2,000 logins, target p99 < 2 ms.
//!
//! It creates a throwaway database on the server `DATABASE_URL` names and
//! drops it afterwards.

use std::error::Error;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use portal_adapters_postgres::PgStore;
use portal_domain::audit::{AuditAction, AuditEvent};
use portal_domain::hashing::{Argon2Hasher, Argon2Settings};
use portal_domain::lockout::LockoutPolicy;
use portal_domain::ports::ImportMode;
use portal_domain::prelude::*;
use portal_domain::session::Session;
use portal_domain::system::{OsTokenSource, SystemClock};
use portal_domain::testing::sample;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Executor};

const ROWS: u32 = 100_000;
const LOGINS: usize = 2_000;

#[allow(clippy::print_stdout, clippy::disallowed_methods)] // a benchmark prints and reads the clock
#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let admin: PgConnectOptions = url.parse()?;
    let name = format!("portal_bench_{}", std::process::id());
    let mut conn = admin.connect().await?;
    conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await?;
    let result = run(admin.clone().database(&name)).await;
    conn.execute(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .await?;
    let (import, p50, p99) = result?;
    println!("| storage (PostgreSQL) | figure | target |");
    println!("| --- | --- | --- |");
    println!(
        "| import {ROWS} roster rows | {:.2} s | < 10 s |",
        import.as_secs_f64()
    );
    println!(
        "| login store path p50 | {:.3} ms | |",
        p50.as_secs_f64() * 1e3
    );
    println!(
        "| login store path p99 | {:.3} ms | < 2 ms |",
        p99.as_secs_f64() * 1e3
    );
    Ok(())
}

#[allow(clippy::disallowed_methods)] // timing is this program's purpose
async fn run(options: PgConnectOptions) -> Result<(Duration, Duration, Duration), Box<dyn Error>> {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await?;
    let store = PgStore::from_pool(pool);
    store.migrate().await?;

    let mut file = String::from(
        "provider_id,tax_id,kind,first_name,last_name,group_name,zips,payee,lines_of_business\n",
    );
    for i in 0..ROWS {
        writeln!(
            file,
            "B{i},{:09},practitioner,First{i},Last{i},,45202;45011,individual,medicaid",
            100_000_000 + i % 5000
        )?;
    }
    let started = Instant::now();
    let summary = portal_domain::roster_csv::import(
        &store,
        "bench.csv",
        std::io::Cursor::new(file),
        ImportMode::Upsert,
        false,
        SystemClock.now(),
    )
    .await?;
    let import = started.elapsed();
    assert_eq!(summary.added, u64::from(ROWS));
    store
        .import(
            &mut portal_domain::ports::EntryBatches::new(sample::entries()),
            ImportMode::Upsert,
            false,
            SystemClock.now(),
        )
        .await?;

    // One active account, made through the use cases.
    let hasher = Argon2Hasher::new(Argon2Settings::minimal(), None)?;
    let shared = std::sync::Arc::new(store.clone());
    let portal = Portal::new(
        shared.clone(),
        shared,
        std::sync::Arc::new(hasher),
        std::sync::Arc::new(SystemClock),
        std::sync::Arc::new(OsTokenSource),
        PortalSettings::default(),
    );
    let ctx = RequestContext::default();
    let started_flow = portal
        .start_registration(sample::practitioner_request(), ctx)
        .await?;
    let agreement = AgreementInput {
        accepted: true,
        version: started_flow.agreement_version.clone(),
    };
    portal
        .accept_agreement(started_flow.id.as_str(), Ok(agreement), ctx)
        .await?;
    let account = portal
        .create_account(started_flow.id.as_str(), Ok(sample::account_input()), ctx)
        .await?;
    sqlx::query("UPDATE accounts SET activated_at = now() WHERE id = $1")
        .bind(account.id.get())
        .execute(store.pool())
        .await?;

    let username = Username::parse("dr.doe")?;
    let mut samples = Vec::with_capacity(LOGINS);
    for i in 0..LOGINS {
        let started = Instant::now();
        // A read only, as every figure of this bench before it was.
        let found = store
            .account_for_login(&username, None)
            .await?
            .ok_or("account missing")?
            .account;
        let now = SystemClock.now();
        if i % 2 == 0 {
            let session = Session {
                token_hash: OsTokenSource.token()?.hash(),
                account_id: found.id,
                created_at: now,
                last_seen_at: now,
            };
            let audit = AuditEvent {
                at: now,
                action: AuditAction::LoginSucceeded,
                username: Some(found.username.as_str().to_owned()),
                client_addr: None,
                outcome: portal_domain::audit::AuditOutcome::Success,
            };
            store
                .record_login_success(found.id, &session, &found.password_hash, None, &audit)
                .await?;
        } else {
            let lock_audit = AuditEvent {
                at: now,
                action: AuditAction::AccountLocked,
                username: Some(found.username.as_str().to_owned()),
                client_addr: None,
                outcome: portal_domain::audit::AuditOutcome::Locked,
            };
            store
                .record_login_failure(
                    found.id,
                    now,
                    LockoutPolicy {
                        max_failed: u32::MAX,
                        ..LockoutPolicy::default()
                    },
                    &lock_audit,
                )
                .await?;
        }
        samples.push(started.elapsed());
    }
    samples.sort_unstable();
    Ok((import, samples[LOGINS / 2], samples[LOGINS * 99 / 100]))
}
