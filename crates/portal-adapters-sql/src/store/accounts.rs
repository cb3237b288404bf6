//! The statements of `Accounts` (`shared/store/accounts.rs`).

use crate::PerDatabase;

/// The account of a username key (`lower(username)`).
pub const BY_USERNAME: &str = concat!(
    "SELECT ",
    account_columns!(),
    " FROM accounts WHERE lower(username) = $1"
);

/// The account of an id.
pub const BY_ID: &str = concat!(
    "SELECT ",
    account_columns!(),
    " FROM accounts WHERE id = $1"
);

/// The account of a registrant key.
pub const BY_REGISTRANT: &str = concat!(
    "SELECT ",
    account_columns!(),
    " FROM accounts WHERE registrant_key = $1"
);

/// SQLite only: the id the new account will take, counted past the highest
/// id ever given (`account_ids`), since SQLite gives a deleted highest rowid
/// out again: a pending account replaced here or purged as stale keeps its
/// id to itself, so an operation still holding it (a resend in flight) finds
/// it gone rather than its successor. The `max(id)` read covers rows written
/// around the store (the bulk loads of `cargo xtask bench scale`). Taken in
/// the creating transaction: a refused creation rolls it back.
/// PostgreSQL's sequence never gives an id out twice.
pub const NEXT_ID: &str = "UPDATE account_ids \
     SET last_id = max(last_id, (SELECT coalesce(max(id), 0) FROM accounts)) + 1 \
     RETURNING last_id";

/// Deletes the registrant's pending account (with its tokens, sessions and
/// support checks, ON DELETE CASCADE), answering its username. The row is
/// found through the registrant's unique index in a subquery of its own:
/// for `registrant_key = $1 AND activated_at IS NULL`, the generic plan a
/// PostgreSQL connection caches after five executions, when made while the
/// table was young (no statistics yet), read every pending account through
/// `accounts_pending` at each registration until the next ANALYZE. On
/// SQLite it is the same unique-index lookup either way.
pub const REPLACE_PENDING: &str = "DELETE FROM accounts WHERE id = (SELECT id FROM accounts WHERE registrant_key = $1) \
     AND activated_at IS NULL AND NOT disabled RETURNING username";

/// Whether a username key is taken.
pub const USERNAME_TAKEN: &str = "SELECT 1 FROM accounts WHERE lower(username) = $1";

/// The columns a new account is inserted with, less the id.
macro_rules! new_account_columns {
    () => {
        "INSERT INTO accounts (username, email, password_hash, provider_kind, tax_id, provider_id, registrant_key, \
         agreement_version, agreement_hash, agreement_accepted_at, agreement_client_addr, security_question, \
         security_answer_hash, created_at"
    };
}

/// A new account, answering its row. PostgreSQL's sequence gives the id;
/// SQLite takes the one [`NEXT_ID`] read, as `$15`.
pub const INSERT: PerDatabase = PerDatabase {
    postgres: concat!(
        new_account_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING ",
        account_columns!()
    ),
    sqlite: concat!(
        new_account_columns!(),
        ", id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING ",
        account_columns!()
    ),
};

/// The new account's activation link (it does not count toward the cap).
pub const INSERT_ACTIVATION_TOKEN: &str = "INSERT INTO link_tokens (token_hash, account_id, purpose, issued_at, expires_at, counts_toward_cap) \
     VALUES ($1, $2, 'activation', $3, $4, false)";

/// Records the agreement an account accepted.
pub const RECORD_AGREEMENT: &str = "UPDATE accounts SET agreement_version = $2, agreement_hash = $3, agreement_accepted_at = $4, \
     agreement_client_addr = $5 WHERE id = $1";

/// Disables or enables an account.
pub const SET_DISABLED: &str = "UPDATE accounts SET disabled = $2 WHERE id = $1";
