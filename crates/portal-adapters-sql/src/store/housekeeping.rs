//! The statements of `Housekeeping` (`shared/store/housekeeping.rs`).

use crate::PerDatabase;

/// The condition of a stale pending account `a`: its activation link
/// expired before `$1`.
macro_rules! stale_pending {
    () => {
        "a.activated_at IS NULL AND \
         (SELECT max(t.expires_at) FROM link_tokens t WHERE t.account_id = a.id AND t.purpose = 'activation') < $1"
    };
}

/// PostgreSQL only: locks the stale pending accounts first (a resend in
/// flight holds its account; this waits for it), so that
/// [`PURGE_STALE_PENDING`] decides again on what that resend committed.
/// SQLite's one statement runs under its one write lock.
pub const LOCK_STALE_PENDING: &str = concat!(
    "SELECT a.id FROM accounts a WHERE ",
    stale_pending!(),
    " ORDER BY a.id FOR UPDATE"
);

/// Deletes the stale pending accounts (tokens, sessions and support checks
/// go with them, ON DELETE CASCADE), answering their usernames. PostgreSQL
/// deletes only among those it locked (`$2`), deciding again.
pub const PURGE_STALE_PENDING: PerDatabase = PerDatabase {
    postgres: concat!(
        "DELETE FROM accounts AS a WHERE a.id = ANY($2) AND ",
        stale_pending!(),
        " RETURNING username"
    ),
    sqlite: concat!(
        "DELETE FROM accounts AS a WHERE ",
        stale_pending!(),
        " RETURNING username"
    ),
};

/// Flows that expired or finished before `$1`.
pub const PURGE_FLOWS: &str =
    "DELETE FROM registration_flows WHERE coalesce(expires_at, finished_at) < $1";

/// Dead tokens (used, superseded or expired at `$1`), except activation
/// tokens of pending accounts (the stale-pending purge reads their expiry)
/// and anything issued after `$2` (the email cap counts it).
pub const PURGE_TOKENS: &str = "DELETE FROM link_tokens AS t WHERE (t.used_at IS NOT NULL OR t.superseded_at IS NOT NULL OR t.expires_at <= $1) \
     AND t.issued_at <= $2 \
     AND NOT (t.purpose = 'activation' AND EXISTS \
         (SELECT 1 FROM accounts a WHERE a.id = t.account_id AND a.activated_at IS NULL))";

/// PostgreSQL only: sessions idle since `$1` or created before `$2`, in one
/// statement. SQLite's planner reads the whole table for one `OR` of the
/// two, so it deletes the idle ones ([`PURGE_IDLE_SESSIONS`]) and then those
/// past their absolute age ([`PURGE_AGED_SESSIONS`]), each a range over its
/// own index.
pub const PURGE_SESSIONS: &str =
    "DELETE FROM sessions WHERE last_seen_at <= $1 OR created_at <= $2";

/// SQLite only: sessions idle since `$1` (see [`PURGE_SESSIONS`]).
pub const PURGE_IDLE_SESSIONS: &str = "DELETE FROM sessions WHERE last_seen_at <= $1";

/// SQLite only: sessions created before `$1` (see [`PURGE_SESSIONS`]).
pub const PURGE_AGED_SESSIONS: &str = "DELETE FROM sessions WHERE created_at <= $1";

/// Emails sent before `$1`.
pub const PURGE_SENT_EMAILS: &str =
    "DELETE FROM email_outbox WHERE status = 'sent' AND finished_at < $1";
