//! The statements of `Credentials` (`shared/store/credentials.rs`).

use crate::PerDatabase;

/// The links of an account that count toward the email cap, issued after `$2`.
pub const COUNT_RECENT_TOKENS: &str = "SELECT count(*) FROM link_tokens WHERE account_id = $1 AND counts_toward_cap AND issued_at > $2";

/// Supersedes the account's open links of purpose `$2` at `$3`.
pub const SUPERSEDE_TOKENS: &str = "UPDATE link_tokens SET superseded_at = $3 \
     WHERE account_id = $1 AND purpose = $2 AND superseded_at IS NULL AND used_at IS NULL";

/// A new link that counts toward the email cap.
pub const INSERT_TOKEN: &str = "INSERT INTO link_tokens (token_hash, account_id, purpose, issued_at, expires_at, counts_toward_cap) \
     VALUES ($1, $2, $3, $4, $5, true)";

/// The account of a live token of purpose `$2` at `$3`.
pub const LIVE_TOKEN_ACCOUNT: &str = concat!(
    "SELECT ",
    account_columns!(),
    " FROM accounts WHERE id = (SELECT account_id FROM link_tokens \
     WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND superseded_at IS NULL AND expires_at > $3)"
);

/// The account of a token of purpose `$2`, live or not.
pub const ISSUED_TOKEN_ACCOUNT: &str = concat!(
    "SELECT ",
    account_columns!(),
    " FROM accounts WHERE id = (SELECT account_id FROM link_tokens \
     WHERE token_hash = $1 AND purpose = $2)"
);

/// Activates an account at `$2` (once: a later activation keeps the first time).
pub const ACTIVATE: &str =
    "UPDATE accounts SET activated_at = coalesce(activated_at, $2) WHERE id = $1";

/// Sets an account's password hash.
pub const SET_PASSWORD: &str = "UPDATE accounts SET password_hash = $2 WHERE id = $1";

/// A live reset link's refusals, read to be counted. PostgreSQL locks the
/// token's row (only the token: no account lock is waited for while holding
/// it); SQLite's `BEGIN IMMEDIATE` already holds the one write lock.
pub const RESET_REFUSALS_FOR_CHANGE: PerDatabase = PerDatabase {
    postgres: "SELECT refusals FROM link_tokens WHERE token_hash = $1 AND purpose = 'password_reset' \
         AND used_at IS NULL AND superseded_at IS NULL AND expires_at > $2 FOR UPDATE",
    sqlite: "SELECT refusals FROM link_tokens WHERE token_hash = $1 AND purpose = 'password_reset' \
         AND used_at IS NULL AND superseded_at IS NULL AND expires_at > $2",
};

/// Writes a reset link's refusals, and `used_at` when the last spent it.
pub const WRITE_RESET_REFUSALS: &str =
    "UPDATE link_tokens SET refusals = $2, used_at = $3 WHERE token_hash = $1";

/// Whether the session `$1` of account `$2` still exists.
pub const SESSION_KEPT: &str = "SELECT 1 FROM sessions WHERE token_hash = $1 AND account_id = $2";

/// Revokes every session of account `$1` but `$2`.
pub const REVOKE_OTHER_SESSIONS: &str =
    "DELETE FROM sessions WHERE account_id = $1 AND token_hash <> $2";
