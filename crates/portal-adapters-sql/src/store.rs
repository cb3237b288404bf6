//! The statements of the helpers every store port shares
//! (`shared/store.rs`: queueing an email, storing an audit event, the lock state,
//! redeeming a token, …), and per port those of `shared/store/<port>.rs`.

use crate::PerDatabase;

pub mod account_settings;
pub mod accounts;
pub mod audit_log;
pub mod credentials;
pub mod housekeeping;
pub mod identity_checks;
pub mod login_attempts;
pub mod passkeys;
pub mod registrations;
pub mod second_factors;
pub mod sessions;

/// Queues an email; `$5` is both when it is due and when it was queued.
pub const ENQUEUE_EMAIL: &str = "INSERT INTO email_outbox (recipient, username, kind, token, due_at, created_at, link_expires_at) \
     VALUES ($1, $2, $3, $4, $5, $5, $6)";

/// Appends an audit event.
pub const INSERT_AUDIT: &str = "INSERT INTO audit_events (at, event, username, client_addr, outcome) \
     VALUES ($1, $2, $3, $4, $5)";

/// The account's failure count and lock, read to be changed and written
/// back in the same transaction. PostgreSQL locks the row; SQLite's
/// `BEGIN IMMEDIATE` already holds the one write lock.
pub const LOCK_STATE_FOR_CHANGE: PerDatabase = PerDatabase {
    postgres: "SELECT failed_logins, locked_until FROM accounts WHERE id = $1 FOR UPDATE",
    sqlite: "SELECT failed_logins, locked_until FROM accounts WHERE id = $1",
};

/// Writes a failure count and lock.
pub const WRITE_LOCK_STATE: &str =
    "UPDATE accounts SET failed_logins = $2, locked_until = $3 WHERE id = $1";

/// The account, read inside a transaction that changes it. PostgreSQL locks
/// its row first, so that no two transactions wait on each other in the
/// opposite order; SQLite's `BEGIN IMMEDIATE` already holds the one write
/// lock.
pub const LOCK_ACCOUNT: PerDatabase = PerDatabase {
    postgres: concat!(
        "SELECT ",
        account_columns!(),
        " FROM accounts WHERE id = $1 FOR UPDATE"
    ),
    sqlite: concat!(
        "SELECT ",
        account_columns!(),
        " FROM accounts WHERE id = $1"
    ),
};

/// The compare-and-set every step goes through: replaces the flow `$19`
/// stored at version `$20` (the new version less one) with `$1`…`$18`.
pub const COMPARE_AND_SET_FLOW: &str = concat!(
    "UPDATE registration_flows SET (",
    flow_columns!(),
    ") = (",
    flow_values!(),
    ") WHERE id = $19 AND version = $20"
);

/// PostgreSQL only: the account a token belongs to, whose row the
/// redemption locks before the token's (account first, as everywhere).
/// SQLite's `BEGIN IMMEDIATE` already holds the one write lock.
pub const TOKEN_OWNER: &str = "SELECT account_id FROM link_tokens WHERE token_hash = $1";

/// Redeems a live token of purpose `$2` at `$3`, in one conditional update.
pub const REDEEM_TOKEN: &str = "UPDATE link_tokens SET used_at = $3 \
     WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND superseded_at IS NULL AND expires_at > $3 \
     RETURNING account_id";

/// Revokes every session of an account.
pub const REVOKE_SESSIONS: &str = "DELETE FROM sessions WHERE account_id = $1";
