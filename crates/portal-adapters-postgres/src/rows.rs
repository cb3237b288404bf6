//! Rows read into the domain's stored forms ([`portal_domain::stored`]).

use portal_domain::account::Account;
use portal_domain::audit::{AuditAction, AuditEvent, AuditOutcome};
use portal_domain::lockout::LockState;
use portal_domain::ports::{ProviderRead, StoreError};
use portal_domain::registration::RegistrationFlow;
use portal_domain::roster::RosterEntry;
use portal_domain::stored::{StoredAcceptance, StoredAccount, StoredFlow, StoredProvider};
use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::error::op;

/// The roster entry left-joined to an account (`joined_provider_columns!()`);
/// no `kind` means the account's provider has no entry.
pub(crate) fn joined_provider(row: &PgRow) -> Result<ProviderRead, StoreError> {
    let kind: Option<String> = row.try_get("kind").map_err(op("read provider"))?;
    let entry = kind.map(|_| provider(row)).transpose()?;
    Ok(ProviderRead::WithAccount(entry))
}

pub(crate) fn account(row: &PgRow) -> Result<Account, StoreError> {
    let read = op("read account");
    let stored = StoredAccount {
        id: row.try_get("id").map_err(&read)?,
        username: row.try_get("username").map_err(&read)?,
        email: row.try_get("email").map_err(&read)?,
        password_hash: row.try_get("password_hash").map_err(&read)?,
        provider_kind: row.try_get("provider_kind").map_err(&read)?,
        tax_id: row.try_get("tax_id").map_err(&read)?,
        provider_id: row.try_get("provider_id").map_err(&read)?,
        activated_at: row.try_get("activated_at").map_err(&read)?,
        disabled: row.try_get("disabled").map_err(&read)?,
        failed_logins: i64::from(row.try_get::<i32, _>("failed_logins").map_err(&read)?),
        locked_until: row.try_get("locked_until").map_err(&read)?,
        agreement: acceptance(row)?
            .ok_or_else(|| StoreError::Unexpected("account without agreement".to_owned()))?,
        security_question: i64::from(row.try_get::<i16, _>("security_question").map_err(&read)?),
        security_answer_hash: row.try_get("security_answer_hash").map_err(&read)?,
        created_at: row.try_get("created_at").map_err(&read)?,
        last_login_at: row.try_get("last_login_at").map_err(&read)?,
    };
    stored.into_account()
}

/// The agreement columns, when the row has an acceptance.
pub(crate) fn acceptance(row: &PgRow) -> Result<Option<StoredAcceptance>, StoreError> {
    let read = op("read agreement");
    let version: Option<String> = row.try_get("agreement_version").map_err(&read)?;
    let Some(version) = version else {
        return Ok(None);
    };
    Ok(Some(StoredAcceptance {
        version,
        content_hash: row.try_get("agreement_hash").map_err(&read)?,
        accepted_at: row.try_get("agreement_accepted_at").map_err(&read)?,
        client_addr: row.try_get("agreement_client_addr").map_err(&read)?,
    }))
}

/// The provider columns, when the row has them (`tax_id` not null).
pub(crate) fn stored_provider(row: &PgRow) -> Result<Option<StoredProvider>, StoreError> {
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
pub(crate) fn provider(row: &PgRow) -> Result<RosterEntry, StoreError> {
    let mut stored = stored_provider(row)?
        .ok_or_else(|| StoreError::Unexpected("roster row without tax_id".to_owned()))?;
    stored.inactive_since = row
        .try_get("inactive_since")
        .map_err(op("read roster entry"))?;
    stored.into_entry("roster_entries")
}

pub(crate) fn flow(row: &PgRow) -> Result<RegistrationFlow, StoreError> {
    let read = op("read registration flow");
    StoredFlow {
        id: row.try_get("id").map_err(&read)?,
        version: i64::from(row.try_get::<i32, _>("version").map_err(&read)?),
        state: row.try_get("state").map_err(&read)?,
        provider: stored_provider(row)?,
        acceptance: acceptance(row)?,
        expires_at: row.try_get("expires_at").map_err(&read)?,
        finished_at: row.try_get("finished_at").map_err(&read)?,
    }
    .into_flow()
}

pub(crate) fn audit_event(row: &PgRow) -> Result<AuditEvent, StoreError> {
    let read = op("read audit event");
    let name: String = row.try_get("event").map_err(&read)?;
    let client_addr: Option<String> = row.try_get("client_addr").map_err(&read)?;
    Ok(AuditEvent {
        at: row.try_get("at").map_err(&read)?,
        action: AuditAction::parse(&name)
            .ok_or_else(|| StoreError::Unexpected(format!("unknown audit event {name}")))?,
        username: row.try_get("username").map_err(&read)?,
        client_addr: client_addr.and_then(|addr| addr.parse().ok()),
        outcome: AuditOutcome::parse(row.try_get("outcome").map_err(&read)?),
    })
}

/// The `failed_logins` and `locked_until` columns of a row.
pub(crate) fn lock_state(row: &PgRow) -> Result<LockState, StoreError> {
    Ok(LockState {
        failed_count: u32::try_from(
            row.try_get::<i32, _>("failed_logins")
                .map_err(op("read failed_logins"))?,
        )
        .unwrap_or(0),
        locked_until: row
            .try_get("locked_until")
            .map_err(op("read locked_until"))?,
    })
}
