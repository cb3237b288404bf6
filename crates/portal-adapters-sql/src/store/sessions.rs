//! The statements of `Sessions` (`shared/store/sessions.rs`).

use crate::PerDatabase;

/// A session with its account and the account's roster entry. PostgreSQL
/// reaches the account through `LATERAL`; SQLite, which has none, joins it.
pub const FIND: PerDatabase = PerDatabase {
    postgres: concat!(
        "SELECT s.created_at AS session_created_at, s.last_seen_at, a.*, ",
        joined_provider_columns!(),
        " FROM sessions s CROSS JOIN LATERAL (SELECT ",
        account_columns!(),
        " FROM accounts WHERE id = s.account_id) a \
         LEFT JOIN roster_entries r ON r.tax_id = a.tax_id AND r.provider_id = a.provider_id \
         WHERE s.token_hash = $1"
    ),
    sqlite: concat!(
        "SELECT s.created_at AS session_created_at, s.last_seen_at, a.*, ",
        joined_provider_columns!(),
        " FROM sessions s JOIN (SELECT ",
        account_columns!(),
        " FROM accounts) a ON a.id = s.account_id \
         LEFT JOIN roster_entries r ON r.tax_id = a.tax_id AND r.provider_id = a.provider_id \
         WHERE s.token_hash = $1"
    ),
};

/// Moves a session's `last_seen_at` to `$2`, never back. The larger of two
/// values is `greatest` on PostgreSQL and the two-argument `max` on SQLite.
pub const TOUCH: PerDatabase = PerDatabase {
    postgres: "UPDATE sessions SET last_seen_at = greatest(last_seen_at, $2) WHERE token_hash = $1",
    sqlite: "UPDATE sessions SET last_seen_at = max(last_seen_at, $2) WHERE token_hash = $1",
};

/// Revokes one session.
pub const REVOKE: &str = "DELETE FROM sessions WHERE token_hash = $1";
