//! Rows read into the domain's stored forms ([`portal_domain::stored`]).
//!
//! Compiled in each database adapter (see `shared/mod.rs`), not in
//! `portal-adapters-sql`: the row type, and how a time or a count is read,
//! are the adapter's `dialect.rs`.

use portal_domain::account::Account;
use portal_domain::audit::{AuditAction, AuditEvent, AuditOutcome};
use portal_domain::lockout::LockState;
use portal_domain::ports::{ProviderRead, StoreError};
use portal_domain::registration::RegistrationFlow;
use portal_domain::roster::RosterEntry;
use portal_domain::stored::{StoredAcceptance, StoredAccount, StoredFlow, StoredProvider};
use sqlx::Row;
use time::OffsetDateTime;

use crate::dialect::{DbRow, read_int, read_opt_time, read_smallint, read_time};
use crate::error::op;

/// The roster entry left-joined to an account (`joined_provider_columns!()`);
/// no `kind` means the account's provider has no entry.
pub(crate) fn joined_provider(row: &DbRow) -> Result<ProviderRead, StoreError> {
    let kind: Option<String> = row.try_get("kind").map_err(op("read provider"))?;
    let entry = kind.map(|_| provider(row)).transpose()?;
    Ok(ProviderRead::WithAccount(entry))
}

pub(crate) fn account(row: &DbRow) -> Result<Account, StoreError> {
    let read = op("read account");
    let stored = StoredAccount {
        id: row.try_get("id").map_err(&read)?,
        username: row.try_get("username").map_err(&read)?,
        email: row.try_get("email").map_err(&read)?,
        password_hash: row.try_get("password_hash").map_err(&read)?,
        provider_kind: row.try_get("provider_kind").map_err(&read)?,
        tax_id: row.try_get("tax_id").map_err(&read)?,
        provider_id: row.try_get("provider_id").map_err(&read)?,
        activated_at: opt_time(row, "activated_at")?,
        disabled: row.try_get("disabled").map_err(&read)?,
        failed_logins: read_int(row, "failed_logins").map_err(&read)?,
        locked_until: opt_time(row, "locked_until")?,
        agreement: acceptance(row)?
            .ok_or_else(|| StoreError::Unexpected("account without agreement".to_owned()))?,
        security_question: read_smallint(row, "security_question").map_err(&read)?,
        security_answer_hash: row.try_get("security_answer_hash").map_err(&read)?,
        created_at: time(row, "created_at")?,
        last_login_at: opt_time(row, "last_login_at")?,
    };
    stored.into_account()
}

/// The agreement columns, when the row has an acceptance.
pub(crate) fn acceptance(row: &DbRow) -> Result<Option<StoredAcceptance>, StoreError> {
    let read = op("read agreement");
    let version: Option<String> = row.try_get("agreement_version").map_err(&read)?;
    let Some(version) = version else {
        return Ok(None);
    };
    Ok(Some(StoredAcceptance {
        version,
        content_hash: row.try_get("agreement_hash").map_err(&read)?,
        accepted_at: time(row, "agreement_accepted_at")?,
        client_addr: row.try_get("agreement_client_addr").map_err(&read)?,
    }))
}

/// The provider columns, when the row has them (`tax_id` not null).
pub(crate) fn stored_provider(row: &DbRow) -> Result<Option<StoredProvider>, StoreError> {
    let read = op("read provider");
    let tax_id: Option<String> = row.try_get("tax_id").map_err(&read)?;
    let Some(tax_id) = tax_id else {
        return Ok(None);
    };
    Ok(Some(StoredProvider {
        tax_id,
        provider_id: row.try_get("provider_id").map_err(&read)?,
        kind: row.try_get("kind").map_err(&read)?,
        first_name: row.try_get("first_name").map_err(&read)?,
        last_name: row.try_get("last_name").map_err(&read)?,
        group_name: row.try_get("group_name").map_err(&read)?,
        payee: row.try_get("payee").map_err(&read)?,
        zips: row.try_get("zips").map_err(&read)?,
        lines_of_business: row.try_get("lines_of_business").map_err(&read)?,
        inactive_since: None,
    }))
}

/// A roster row (with `inactive_since`).
pub(crate) fn provider(row: &DbRow) -> Result<RosterEntry, StoreError> {
    let mut stored = stored_provider(row)?
        .ok_or_else(|| StoreError::Unexpected("roster row without tax_id".to_owned()))?;
    stored.inactive_since = opt_time(row, "inactive_since")?;
    stored.into_entry("roster_entries")
}

/// A `NOT NULL` time column.
pub(crate) fn time(row: &DbRow, column: &str) -> Result<OffsetDateTime, StoreError> {
    read_time(row, column).map_err(op("read time"))
}

/// A nullable time column.
pub(crate) fn opt_time(row: &DbRow, column: &str) -> Result<Option<OffsetDateTime>, StoreError> {
    read_opt_time(row, column).map_err(op("read time"))
}

pub(crate) fn flow(row: &DbRow) -> Result<RegistrationFlow, StoreError> {
    let read = op("read registration flow");
    StoredFlow {
        id: row.try_get("id").map_err(&read)?,
        version: read_int(row, "version").map_err(&read)?,
        state: row.try_get("state").map_err(&read)?,
        provider: stored_provider(row)?,
        acceptance: acceptance(row)?,
        expires_at: opt_time(row, "expires_at")?,
        finished_at: opt_time(row, "finished_at")?,
    }
    .into_flow()
}

pub(crate) fn audit_event(row: &DbRow) -> Result<AuditEvent, StoreError> {
    let read = op("read audit event");
    let name: String = row.try_get("event").map_err(&read)?;
    let client_addr: Option<String> = row.try_get("client_addr").map_err(&read)?;
    Ok(AuditEvent {
        at: time(row, "at")?,
        action: AuditAction::parse(&name)
            .ok_or_else(|| StoreError::Unexpected(format!("unknown audit event {name}")))?,
        username: row.try_get("username").map_err(&read)?,
        client_addr: client_addr.and_then(|addr| addr.parse().ok()),
        outcome: AuditOutcome::parse(row.try_get("outcome").map_err(&read)?),
    })
}

/// The `failed_logins` and `locked_until` columns of a row.
pub(crate) fn lock_state(row: &DbRow) -> Result<LockState, StoreError> {
    Ok(LockState {
        failed_count: u32::try_from(
            read_int(row, "failed_logins").map_err(op("read failed_logins"))?,
        )
        .unwrap_or(0),
        locked_until: opt_time(row, "locked_until")?,
    })
}
