//! The statements of `LoginAttempts` (`shared/store/login_attempts.rs`).

use crate::PerDatabase;

/// The account of a username key with its roster entry.
///
/// PostgreSQL answers in one statement, and while the account has no
/// failures and no lock and `$2` is true, also writes the login's first
/// place (`$3`, `$4`): one round trip less on nearly every login. The guard
/// is evaluated on the row as it is when the update reaches it, so a place
/// another attempt took meanwhile is never overwritten; `placed_with_read`
/// tells. SQLite only reads: beside its one writer a place is a write
/// transaction of its own, and reads of unknown usernames stay off the
/// write lock.
pub const ACCOUNT_FOR_LOGIN: PerDatabase = PerDatabase {
    postgres: concat!(
        "WITH a AS (SELECT ",
        account_columns!(),
        " FROM accounts WHERE lower(username) = $1), \
         placed AS (UPDATE accounts SET failed_logins = $3, locked_until = $4 \
             WHERE $2 AND id = (SELECT id FROM a) \
             AND failed_logins = 0 AND locked_until IS NULL RETURNING id) \
         SELECT a.*, ",
        joined_provider_columns!(),
        ", EXISTS (SELECT 1 FROM placed) AS placed_with_read \
         FROM a LEFT JOIN roster_entries r \
         ON r.tax_id = a.tax_id AND r.provider_id = a.provider_id"
    ),
    sqlite: concat!(
        "SELECT a.*, ",
        joined_provider_columns!(),
        " FROM (SELECT ",
        account_columns!(),
        " FROM accounts WHERE lower(username) = $1) a \
         LEFT JOIN roster_entries r ON r.tax_id = a.tax_id AND r.provider_id = a.provider_id"
    ),
};

/// Writes a login's place (`$2`, `$3`) only while the state is still the
/// one the login read (`$4`, `$5`).
pub const RESERVE_IF_UNCHANGED: &str = "UPDATE accounts SET failed_logins = $2, locked_until = $3 \
     WHERE id = $1 AND failed_logins = $4 AND locked_until IS NOT DISTINCT FROM $5";

/// PostgreSQL only: a login's success in one statement, so one round trip
/// and one commit on the hot path of every login. It applies only while the
/// password hash is the one verified (`$11`) and the account holds no lock
/// at all: the lock state cleared (`$12`, `$13`), the login time and any
/// rehash written, the session (`$1`, `$3`, `$4`) and the audit event
/// (`$6`…`$10`) stored. Anything else is judged under the row lock, the
/// way SQLite always does it, in its one write transaction
/// ([`RECORD_LOGIN`]).
pub const LOGIN_SUCCESS: &str = "WITH account AS ( \
         UPDATE accounts SET failed_logins = $12, locked_until = $13, last_login_at = $3, \
         password_hash = coalesce($5, password_hash) WHERE id = $2 AND password_hash = $11 \
         AND locked_until IS NULL RETURNING id), \
     session AS ( \
         INSERT INTO sessions (token_hash, account_id, created_at, last_seen_at) \
         SELECT $1, id, $3, $4 FROM account RETURNING account_id) \
     INSERT INTO audit_events (at, event, username, client_addr, outcome) \
     SELECT $6, $7, $8, $9, $10 FROM session";

/// A login's time, and its rehash when there is one.
pub const RECORD_LOGIN: &str = "UPDATE accounts SET last_login_at = $2, password_hash = coalesce($3, password_hash) \
     WHERE id = $1";

/// A new session.
pub const INSERT_SESSION: &str = "INSERT INTO sessions (token_hash, account_id, created_at, last_seen_at) \
     VALUES ($1, $2, $3, $4)";
